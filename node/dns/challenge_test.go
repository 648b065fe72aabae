package dns

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/nats-io/nats.go/jetstream"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/acme"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// TestChallengeTXTFollowsTheBucket: DNS-01 values written to the hub's
// bucket are answered over UDP and TCP while they exist, inside served
// zones only, and vanish when deleted; the fast path never serves a stale
// answer for them.
func TestChallengeTXTFollowsTheBucket(t *testing.T) {
	ns := natstest.RunServer(t)
	js, err := jetstream.New(natstest.Connect(t, ns))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsutil.ACMEDNS01Bucket, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	txt := acme.NewTXT(js, nil)
	if err := txt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = txt.Stop(context.Background()) })

	s, err := New(Options{UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", Challenges: txt})
	if err != nil {
		t.Fatal(err)
	}
	// A simple zone (no wildcard, no delegation): the fast path would
	// answer NXDOMAIN for any name it has no reply for.
	zone := &dnsv1.Zone{Id: "z1", Name: "example.com", Release: 1, Nameservers: []string{"ns1.example.com."},
		Records: []*dnsv1.Record{rec("@", tA, "192.0.2.1"), rec("ns1", tA, "192.0.2.53"), rec("www", tA, "192.0.2.80")}}
	if err := s.Update(&syncv1.Snapshot{Version: 1, Zones: []*dnsv1.Zone{zone}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })

	const owner = "_acme-challenge.example.com."
	// expect polls until both transports give rcode and exactly the TXT
	// values want (any order) for name.
	expect := func(name string, rcode int, want ...string) {
		t.Helper()
		natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
			for _, netw := range []string{"udp", "tcp"} {
				for _, edns := range []bool{false, true} {
					r := ask(t, s, netw, q(name, mdns.TypeTXT, edns))
					var got []string
					for _, rr := range r.Answer {
						tx, ok := rr.(*mdns.TXT)
						if !ok || tx.Hdr.Ttl != challengeTTL || tx.Hdr.Name != name {
							return fmt.Errorf("%s: unexpected answer %v", netw, rr)
						}
						got = append(got, tx.Txt...)
					}
					slices.Sort(got)
					if r.Rcode != rcode || !slices.Equal(got, want) {
						return fmt.Errorf("%s edns=%v %s: rcode %s answers %q, want %s %q", netw, edns, name,
							mdns.RcodeToString[r.Rcode], got, mdns.RcodeToString[rcode], want)
					}
					if rcode == mdns.RcodeSuccess && !r.Authoritative {
						return fmt.Errorf("%s: not authoritative", netw)
					}
				}
			}
			return nil
		})
	}

	expect(owner, mdns.RcodeNameError) // nothing pending: the zone's NXDOMAIN

	// A wildcard and its apex in one order: two values on one name.
	put := time.Now()
	for k, v := range map[string]string{"tok1": "value-one", "tok2": "value-two"} {
		if _, err := kv.Put(ctx, "_acme-challenge.example.com."+k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	expect(owner, mdns.RcodeSuccess, "value-one", "value-two")
	t.Logf("values answered over UDP and TCP %v after the put (polled every 10 ms)", time.Since(put).Round(time.Millisecond))
	expect("_ACME-Challenge.Example.COM.", mdns.RcodeSuccess, "value-one", "value-two")

	// Other types at that name: NODATA with the SOA, not NXDOMAIN.
	r := ask(t, s, "udp", q(owner, mdns.TypeA, false))
	if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != mdns.TypeSOA {
		t.Fatalf("A at the challenge name: %v", r)
	}

	// A value for a zone this node does not serve is refused, as before.
	if _, err := kv.Put(ctx, "_acme-challenge.example.org.tok3", []byte("elsewhere")); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if len(txt.ChallengeTXT("_acme-challenge.example.org.")) == 0 {
			return fmt.Errorf("value not seen yet")
		}
		return nil
	})
	expect("_acme-challenge.example.org.", mdns.RcodeRefused)

	// Cleanup: one value gone, then the other.
	if err := kv.Delete(ctx, "_acme-challenge.example.com.tok1"); err != nil {
		t.Fatal(err)
	}
	expect(owner, mdns.RcodeSuccess, "value-two")
	if err := kv.Delete(ctx, "_acme-challenge.example.com.tok2"); err != nil {
		t.Fatal(err)
	}
	expect(owner, mdns.RcodeNameError)
}

// TestChallengeQueriesSkipTheFastPath: every _acme-challenge name leaves
// the fast path, other names keep it.
func TestChallengeQueriesSkipTheFastPath(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"_acme-challenge.example.com.", true},
		{"_ACME-CHALLENGE.www.example.com.", true},
		{"_acme-challengex.example.com.", false},
		{"acme-challenge1.example.com.", false},
		{"www._acme-challenge.example.com.", false},
		{"example.com.", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire, err := q(tt.name, mdns.TypeTXT, false).Pack()
			if err != nil {
				t.Fatal(err)
			}
			if got := isChallengeQuery(wire); got != tt.want {
				t.Fatalf("isChallengeQuery = %v, want %v", got, tt.want)
			}
		})
	}
	if isChallengeQuery([]byte{0, 1, 2}) {
		t.Fatal("short packet matched")
	}
}
