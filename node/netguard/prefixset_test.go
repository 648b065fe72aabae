package netguard

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

func linear(ps []netip.Prefix, ip netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func randPrefixes(r *rand.Rand, n int) []netip.Prefix {
	var ps []netip.Prefix
	for range n {
		var p netip.Prefix
		if r.IntN(2) == 0 {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], r.Uint32()&0x0f0f0fff) // dense enough to hit
			p = netip.PrefixFrom(netip.AddrFrom4(b), 4+r.IntN(29))
		} else {
			var b [16]byte
			binary.BigEndian.PutUint64(b[:], 0x20010db800000000|r.Uint64()&0xff)
			p = netip.PrefixFrom(netip.AddrFrom16(b), 32+r.IntN(97))
		}
		ps = append(ps, p.Masked())
	}
	return ps
}

func TestPrefixSetMatchesLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 3, linearPrefixes + 1, 200} {
		ps := randPrefixes(r, n)
		s := newPrefixSet(ps)
		for range 20_000 {
			var ip netip.Addr
			if r.IntN(2) == 0 {
				var b [4]byte
				binary.BigEndian.PutUint32(b[:], r.Uint32()&0x0f0f0fff)
				ip = netip.AddrFrom4(b)
			} else {
				var b [16]byte
				binary.BigEndian.PutUint64(b[:], 0x20010db800000000)
				binary.BigEndian.PutUint64(b[8:], r.Uint64()&0xff)
				ip = netip.AddrFrom16(b)
			}
			if got, want := s.contains(ip), linear(ps, ip); got != want {
				t.Fatalf("%d prefixes, %s: set %v, linear %v", n, ip, got, want)
			}
		}
	}
}

func TestMappedPrefixes(t *testing.T) {
	g := mustNew(t, &configv1.AccessControl{DenyCidrs: []string{"::ffff:10.0.0.0/104", "::ffff:0:0/90"}})
	if _, _, ok := g.Admit(netip.MustParseAddr("10.1.2.3")); ok {
		t.Fatal("mapped /104 should cover 10.0.0.0/8")
	}
	if _, _, ok := g.Admit(netip.MustParseAddr("11.1.2.3")); !ok {
		t.Fatal("11.1.2.3 is outside")
	}
}

func TestLRUKeepsBusyAddress(t *testing.T) {
	g, err := NewSized(&configv1.AccessControl{ConnectionsPerSecond: 1, Burst: 1}, nShards*4)
	if err != nil {
		t.Fatal(err)
	}
	fakeClock(g)
	hot := netip.MustParseAddr("198.51.100.1")
	g.Admit(hot) // spends its one token
	// A flood of new sources while the hot client keeps trying: it stays the
	// most recently used of its shard, so its empty bucket is not forgotten.
	for i := range 20_000 {
		g.Admit(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		if _, r, ok := g.Admit(hot); ok || r != ReasonRate {
			t.Fatalf("after %d flood sources the hot client was admitted (%q)", i, r)
		}
	}
}

// FuzzParseCIDRs: any list either compiles or names a field; compiled sets
// agree with a linear scan.
func FuzzParseCIDRs(f *testing.F) {
	f.Add("10.0.0.0/8", "2001:db8::1", "198.51.100.7")
	f.Add("::ffff:10.0.0.0/104", "0.0.0.0/0", "::/0")
	f.Add("bad", "10.0.0.0/33", "fe80::1%eth0")
	f.Fuzz(func(t *testing.T, a, b, ip string) {
		list := []string{a, b}
		for i := range linearPrefixes {
			list = append(list, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}).String())
		}
		g, err := New(&configv1.AccessControl{DenyCidrs: list})
		addr, aerr := netip.ParseAddr(ip)
		if err != nil || aerr != nil {
			return
		}
		var ps []netip.Prefix
		for _, s := range list {
			p, _ := parsePrefix(s)
			ps = append(ps, p)
		}
		_, _, ok := g.Admit(addr)
		if want := !linear(ps, addr.Unmap().WithZone("")); ok != want {
			t.Fatalf("%q in %q: admitted %v", ip, list[:2], ok)
		}
	})
}
