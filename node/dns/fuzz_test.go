package dns

import (
	"net"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
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
	} {
		wire, _ := m.Pack()
		f.Add(wire)
	}
	s, err := New(Options{UDPAddr: "127.0.0.1:0"})
	if err != nil {
		f.Fatal(err)
	}
	if err := s.Update(&syncv1.Snapshot{Version: 1, Zones: []*dnsv1.Zone{testZone()}}); err != nil {
		f.Fatal(err)
	}
	s.udp = &net.UDPConn{} // LocalAddr of a zero conn is nil; the slow path only reads it
	from := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 200), Port: 5353}
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
		if got, exp := canonical(fast), canonical(want); got != exp {
			t.Fatalf("fast and slow replies differ:\nfast:\n%s\nslow:\n%s", got, exp)
		}
	})
}

// canonical prints a reply case-folded, without the header id.
func canonical(m *mdns.Msg) string {
	m.Id = 0
	return strings.ToLower(m.String())
}
