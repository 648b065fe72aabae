package netguard

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
)

func mustNew(t testing.TB, ac *configv1.AccessControl) *Guard {
	t.Helper()
	g, err := New(ac)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// fakeClock makes the guard's table run on a clock the test moves.
func fakeClock(g *Guard) *int64 {
	var now int64
	g.tab.now = func() int64 { return now }
	return &now
}

func TestNil(t *testing.T) {
	g := mustNew(t, nil)
	rel, reason, ok := g.Admit(netip.MustParseAddr("192.0.2.1"))
	if !ok || reason != "" || rel == nil {
		t.Fatalf("nil access: ok=%v reason=%q", ok, reason)
	}
	rel()
	rel()
}

func TestCIDRRules(t *testing.T) {
	g := mustNew(t, &configv1.AccessControl{
		AllowCidrs: []string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"},
		DenyCidrs:  []string{"10.1.0.0/16", "::ffff:10.2.0.0/112"},
	})
	for _, tc := range []struct {
		name, ip, reason string
	}{
		{"allowed v4", "10.9.9.9", ""},
		{"allowed v6", "2001:db8::1", ""},
		{"allowed host", "192.0.2.7", ""},
		{"host neighbour", "192.0.2.8", ReasonNotAllowed},
		{"mapped allowed", "::ffff:10.9.9.9", ""},
		{"zone ignored", "2001:db8::1%eth0", ""},
		{"deny wins over allow", "10.1.2.3", ReasonDenied},
		{"mapped deny prefix", "10.2.0.9", ReasonDenied},
		{"mapped client denied", "::ffff:10.1.2.3", ReasonDenied},
		{"outside allow", "198.51.100.1", ReasonNotAllowed},
		{"outside allow v6", "2001:db9::1", ReasonNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel, reason, ok := g.Admit(netip.MustParseAddr(tc.ip))
			if reason != tc.reason || ok != (tc.reason == "") || (rel != nil) != ok {
				t.Fatalf("%s: ok=%v reason=%q, want reason %q", tc.ip, ok, reason, tc.reason)
			}
		})
	}
}

func TestDenyOnly(t *testing.T) {
	g := mustNew(t, &configv1.AccessControl{DenyCidrs: []string{"0.0.0.0/0"}})
	if _, r, ok := g.Admit(netip.MustParseAddr("1.2.3.4")); ok || r != ReasonDenied {
		t.Fatalf("v4 should be denied, got %v %q", ok, r)
	}
	if _, _, ok := g.Admit(netip.MustParseAddr("2001:db8::1")); !ok {
		t.Fatal("v6 is not in 0.0.0.0/0")
	}
}

func TestBadCIDR(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ac    *configv1.AccessControl
		field string
	}{
		{"allow garbage", &configv1.AccessControl{AllowCidrs: []string{"10.0.0.0/8", "nope"}}, "access.allow_cidrs[1]"},
		{"deny bad bits", &configv1.AccessControl{DenyCidrs: []string{"10.0.0.0/33"}}, "access.deny_cidrs[0]"},
		{"deny zone", &configv1.AccessControl{DenyCidrs: []string{"fe80::1%eth0"}}, "access.deny_cidrs[0]"},
		{"too many", &configv1.AccessControl{DenyCidrs: make([]string, MaxCIDRs+1)}, "access.deny_cidrs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.ac)
			vs := apierr.Violations(err)
			if len(vs) == 0 || vs[0].Field != tc.field {
				t.Fatalf("err %v, want a violation of %s", err, tc.field)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("message %q does not name %s", err, tc.field)
			}
		})
	}
}

func TestRate(t *testing.T) {
	g := mustNew(t, &configv1.AccessControl{ConnectionsPerSecond: 2, Burst: 3})
	now := fakeClock(g)
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	for i := range 3 {
		if _, r, ok := g.Admit(a); !ok {
			t.Fatalf("burst admit %d refused: %s", i, r)
		}
	}
	if _, r, ok := g.Admit(a); ok || r != ReasonRate {
		t.Fatalf("4th admit: ok=%v reason=%q, want rate", ok, r)
	}
	if _, _, ok := g.Admit(b); !ok {
		t.Fatal("another IP has its own bucket")
	}
	*now += 500_000_000 // half a second: one token at 2/s
	if _, _, ok := g.Admit(a); !ok {
		t.Fatal("refilled token refused")
	}
	if _, _, ok := g.Admit(a); ok {
		t.Fatal("only one token refilled")
	}
	*now += 100e9 // a long pause refills to the burst, not beyond
	for range 3 {
		if _, _, ok := g.Admit(a); !ok {
			t.Fatal("refilled burst refused")
		}
	}
	if _, _, ok := g.Admit(a); ok {
		t.Fatal("bucket exceeded its burst")
	}
}

func TestRateBurstDefaultsToRate(t *testing.T) {
	g := mustNew(t, &configv1.AccessControl{ConnectionsPerSecond: 5})
	fakeClock(g)
	a := netip.MustParseAddr("2001:db8::5")
	n := 0
	for range 20 {
		if _, _, ok := g.Admit(a); ok {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("admitted %d, want the burst 5", n)
	}
}

func TestMaxOpen(t *testing.T) {
	g := mustNew(t, &configv1.AccessControl{MaxConnectionsPerIp: 2})
	a := netip.MustParseAddr("192.0.2.1")
	r1, _, ok1 := g.Admit(a)
	r2, _, ok2 := g.Admit(netip.MustParseAddr("::ffff:192.0.2.1")) // same client
	if !ok1 || !ok2 {
		t.Fatal("first two refused")
	}
	if _, r, ok := g.Admit(a); ok || r != ReasonTooMany {
		t.Fatalf("third: ok=%v reason=%q, want too_many", ok, r)
	}
	if _, _, ok := g.Admit(netip.MustParseAddr("192.0.2.2")); !ok {
		t.Fatal("another IP refused")
	}
	r1()
	r1() // idempotent: must not free a second slot
	if got := g.Open(a); got != 1 {
		t.Fatalf("open after release = %d, want 1", got)
	}
	r3, _, ok := g.Admit(a)
	if !ok {
		t.Fatal("admit after release refused")
	}
	if _, _, ok := g.Admit(a); ok {
		t.Fatal("double release freed two slots")
	}
	r2()
	r3()
	if got := g.Open(a); got != 0 {
		t.Fatalf("open = %d, want 0", got)
	}
}

func TestTableBound(t *testing.T) {
	const bound = 640
	g, err := NewSized(&configv1.AccessControl{ConnectionsPerSecond: 1}, bound)
	if err != nil {
		t.Fatal(err)
	}
	// A flood of distinct sources: the table never grows past its bound.
	for i := range 50_000 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		g.Admit(ip)
	}
	if n := g.Tracked(); n > bound || n < bound/2 {
		t.Fatalf("tracked %d addresses, bound %d", n, bound)
	}
}

func TestTableFullOfOpenConnections(t *testing.T) {
	g, err := NewSized(&configv1.AccessControl{MaxConnectionsPerIp: 1}, nShards) // one address per shard
	if err != nil {
		t.Fatal(err)
	}
	var releases []func()
	full := 0
	for i := range 2000 {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		rel, reason, ok := g.Admit(ip)
		switch {
		case ok:
			releases = append(releases, rel)
		case reason == ReasonTableFull:
			full++
		default:
			t.Fatalf("unexpected refusal %q", reason)
		}
	}
	if full == 0 || len(releases) > nShards {
		t.Fatalf("admitted %d, table_full %d", len(releases), full)
	}
	for _, r := range releases {
		r()
	}
	// Released addresses can be evicted again.
	for i := range 2000 {
		ip := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		rel, reason, ok := g.Admit(ip)
		if !ok {
			t.Fatalf("after release: %q", reason)
		}
		rel()
	}
}

func TestCarry(t *testing.T) {
	old := mustNew(t, &configv1.AccessControl{MaxConnectionsPerIp: 3})
	a := netip.MustParseAddr("192.0.2.1")
	r1, _, _ := old.Admit(a)
	r2, _, _ := old.Admit(a)

	// The new config lowers the limit to 2: the two open connections count.
	next := mustNew(t, &configv1.AccessControl{MaxConnectionsPerIp: 2})
	next.Carry(old)
	if _, r, ok := next.Admit(a); ok || r != ReasonTooMany {
		t.Fatalf("carried counts ignored: ok=%v %q", ok, r)
	}
	r1() // a release from the old guard frees a slot of the new one
	r3, _, ok := next.Admit(a)
	if !ok {
		t.Fatal("slot freed by old release not seen")
	}

	// A guard without limits in between still carries the table on.
	open := mustNew(t, nil)
	open.Carry(next)
	last := mustNew(t, &configv1.AccessControl{MaxConnectionsPerIp: 2})
	last.Carry(open)
	if got := last.Open(a); got != 2 {
		t.Fatalf("open after two carries = %d, want 2", got)
	}
	r2()
	r3()
	if got := last.Open(a); got != 0 {
		t.Fatalf("open = %d, want 0", got)
	}
	last.Carry(nil)
	last.Carry(last)
}

func TestConcurrent(t *testing.T) {
	g, err := NewSized(&configv1.AccessControl{
		ConnectionsPerSecond: 1_000_000, MaxConnectionsPerIp: 4, DenyCidrs: []string{"10.255.0.0/16"},
	}, 256)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var held []func()
			for i := range 5000 {
				ip := netip.AddrFrom4([4]byte{10, byte(w), 0, byte(i % 300)})
				if rel, _, ok := g.Admit(ip); ok {
					held = append(held, rel)
				}
				if len(held) > 16 {
					held[0]()
					held[0]() // double release from racing callers is harmless
					held = held[1:]
				}
			}
			for _, r := range held {
				r()
			}
		}()
	}
	wg.Wait()
	for w := range 8 {
		for i := range 300 {
			ip := netip.AddrFrom4([4]byte{10, byte(w), 0, byte(i)})
			if n := g.Open(ip); n != 0 {
				t.Fatalf("%s still has %d open", ip, n)
			}
		}
	}
	if n := g.Tracked(); n > 256+nShards {
		t.Fatalf("tracked %d", n)
	}
}

func TestAllocs(t *testing.T) {
	g := mustNew(t, &configv1.AccessControl{
		AllowCidrs: []string{"192.0.2.0/24"}, ConnectionsPerSecond: 1e6, Burst: 1e6,
	})
	a := netip.MustParseAddr("192.0.2.1")
	g.Admit(a)
	if n := testing.AllocsPerRun(100, func() {
		rel, _, ok := g.Admit(a)
		if !ok {
			t.Fatal("refused")
		}
		rel()
	}); n != 0 {
		t.Fatalf("%v allocations per admit of a known IP", n)
	}
}

func BenchmarkAdmit(b *testing.B) {
	var many []string // 1000 deny entries of 4 lengths, the config service's bound
	for i := range 1000 {
		many = append(many, fmt.Sprintf("172.%d.%d.0/%d", 16+i%16, i/16, 24+i%4*2))
	}
	for _, bc := range []struct {
		name string
		ac   *configv1.AccessControl
	}{
		{"cidr", &configv1.AccessControl{AllowCidrs: []string{"10.0.0.0/8"}, DenyCidrs: []string{"10.1.0.0/16"}}},
		{"cidr1000", &configv1.AccessControl{DenyCidrs: many}},
		{"rate", &configv1.AccessControl{ConnectionsPerSecond: 1e9, Burst: 1e9}},
		{"rate+max", &configv1.AccessControl{ConnectionsPerSecond: 1e9, Burst: 1e9, MaxConnectionsPerIp: 100}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := mustNew(b, bc.ac)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					ip := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
					i = (i + 1) & 1023
					if rel, _, ok := g.Admit(ip); ok {
						rel()
					}
				}
			})
		})
	}
}
