package dns

import (
	"net/netip"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
)

// FuzzRequest feeds arbitrary datagrams to the UDP request path: nothing may
// panic, and whenever the fast path answers, its reply must say what the slow
// path (the handler chain) says.
func FuzzRequest(f *testing.F) {
	for _, m := range []*mdns.Msg{
		q("www.example.com.", mdns.TypeA, false), q("WWW.example.com.", mdns.TypeAAAA, true),
		q("nope.example.com.", mdns.TypeA, true), q("alias.example.com.", mdns.TypeA, false),
		q("x.img.example.com.", mdns.TypeA, false), q("example.org.", mdns.TypeA, true),
		q("big.example.com.", mdns.TypeTXT, false), q("example.com.", mdns.TypeANY, false),
		q("NoPe.example.test.", mdns.TypeA, true), q("cdn.example.test.", mdns.TypeA, false),
	} {
		wire, _ := m.Pack()
		f.Add(wire)
	}
	for _, ev := range ednsVariants {
		m := q("www.example.test.", mdns.TypeA, false)
		if ev.set != nil {
			ev.set(m)
		}
		wire, _ := m.Pack()
		f.Add(wire)
	}
	s := fastSlowServer(f)
	from := netip.MustParseAddrPort("192.0.2.200:5353")
	f.Fuzz(func(t *testing.T, in []byte) {
		out, key := make([]byte, 4096), make([]byte, 260)
		n := s.table.Load().fastReply(out, in, key)
		slow := s.slowUDP(make([]byte, 4096), in, from)
		if n == 0 {
			return
		}
		fast := new(mdns.Msg)
		if err := fast.Unpack(out[:n]); err != nil {
			t.Fatalf("fast reply does not parse: %v", err)
		}
		if slow == nil {
			t.Fatalf("fast path answered a query the slow path drops")
		}
		want := new(mdns.Msg)
		if err := want.Unpack(slow); err != nil {
			t.Fatalf("slow reply does not parse: %v", err)
		}
		if !sameReply(out[:n], slow, false) {
			t.Fatalf("fast and slow replies differ:\nfast:\n%s\nslow:\n%s", canonical(fast), canonical(want))
		}
	})
}

// canonical prints a reply case-folded, without the header id.
func canonical(m *mdns.Msg) string {
	m.Id = 0
	return strings.ToLower(m.String())
}

// A zone whose name the control plane would refuse is refused here too, in
// the same words (domainname.CheckDNSName).
func TestCompileZoneChecksNames(t *testing.T) {
	_, err := compileZone(&dnsv1.Zone{Id: "z1", Name: "bad..zone."}, nil)
	if err == nil || !strings.Contains(err.Error(), "has an empty label (two dots in a row)") {
		t.Fatalf("compileZone(bad..zone) = %v", err)
	}
}
