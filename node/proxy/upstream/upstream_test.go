package upstream

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// req is a fixed request for the balancers.
type req struct {
	path, uri string
	header    map[string]string
	ip        netip.Addr
}

func (r req) Path() string       { return r.path }
func (r req) RequestURI() string { return r.uri }
func (r req) Header(n string) (string, bool) {
	v, ok := r.header[n]
	return v, ok
}
func (r req) Cookie(string) (string, bool) { return "", false }
func (r req) Query(string) (string, bool)  { return "", false }
func (r req) ClientIP() netip.Addr         { return r.ip }

var anyReq = req{path: "/", uri: "/", ip: netip.MustParseAddr("192.0.2.1")}

func build(t *testing.T, cfg *configv1.Upstream) *Upstream {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "up"
	}
	u, err := New("app", cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(u.Close)
	return u
}

func weighted(ws ...uint32) []*configv1.Server {
	var out []*configv1.Server
	for i, w := range ws {
		out = append(out, &configv1.Server{Address: fmt.Sprintf("10.0.0.%d:80", i+1), Weight: w})
	}
	return out
}

func seq(t *testing.T, u *Upstream, n int) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < n; i++ {
		s, err := u.Pick(anyReq, Tried{})
		if err != nil {
			t.Fatalf("Pick: %v", err)
		}
		b.WriteByte("abcdefgh"[s.index])
	}
	return b.String()
}

func TestSmoothWeightedRoundRobin(t *testing.T) {
	tests := []struct {
		name    string
		policy  configv1.BalancePolicy
		weights []uint32
		want    string
	}{
		{"nginx example 5 1 1", configv1.BalancePolicy_BALANCE_POLICY_WEIGHTED, []uint32{5, 1, 1}, "aabacaa" + "aabacaa"},
		{"equal weights rotate", configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN, []uint32{1, 1, 1}, "abcabc"},
		{"unspecified is round robin", configv1.BalancePolicy_BALANCE_POLICY_UNSPECIFIED, []uint32{2, 1}, "abaaba"},
		{"weight 0 takes nothing", configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN, []uint32{1, 0, 1}, "acacac"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := build(t, &configv1.Upstream{Policy: tt.policy, Servers: weighted(tt.weights...)})
			if got := seq(t, u, len(tt.want)); got != tt.want {
				t.Fatalf("sequence %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBackupOnlyWhenPrimariesDown(t *testing.T) {
	cfg := &configv1.Upstream{Servers: weighted(1, 1, 1)}
	cfg.Servers[2].Backup = true
	u := build(t, cfg)
	if got := seq(t, u, 4); got != "abab" {
		t.Fatalf("with primaries up: %q, want abab", got)
	}
	u.servers[0].down.Store(true)
	if got := seq(t, u, 2); got != "bb" {
		t.Fatalf("with a down: %q, want bb", got)
	}
	u.servers[1].down.Store(true)
	if got := seq(t, u, 2); got != "cc" {
		t.Fatalf("with every primary down: %q, want cc", got)
	}
	u.servers[2].down.Store(true)
	if _, err := u.Pick(anyReq, Tried{}); err != ErrNoServer {
		t.Fatalf("everything down: err %v, want ErrNoServer", err)
	}
}

func TestTriedServersAreSkipped(t *testing.T) {
	u := build(t, &configv1.Upstream{Servers: weighted(1, 1)})
	var tried Tried
	s1, _ := u.Pick(anyReq, tried)
	tried.Add(s1)
	s2, err := u.Pick(anyReq, tried)
	if err != nil || s2 == s1 {
		t.Fatalf("second pick %v %v, want the other server", s2, err)
	}
	tried.Add(s2)
	if _, err := u.Pick(anyReq, tried); err != ErrNoServer {
		t.Fatalf("all tried: err %v", err)
	}
}

func TestPassiveHealthEjectsAndReadmits(t *testing.T) {
	u := build(t, &configv1.Upstream{Servers: weighted(1, 1),
		HealthCheck: &configv1.HealthCheck{MaxFails: 2, FailTimeoutMs: 50}})
	a := u.servers[0]
	a.ReportFailure()
	if !a.Available() {
		t.Fatal("ejected after 1 of 2 failures")
	}
	a.ReportFailure()
	if a.Available() {
		t.Fatal("not ejected after max_fails failures")
	}
	if got := seq(t, u, 3); got != "bbb" {
		t.Fatalf("with a ejected: %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !a.Available() {
		if time.Now().After(deadline) {
			t.Fatal("not readmitted after fail_timeout")
		}
		time.Sleep(5 * time.Millisecond)
	}
	a.ReportFailure() // still at max_fails: one more failure ejects again
	if a.Available() {
		t.Fatal("a failure right after readmission did not eject again")
	}
	a.ejectedUntil.Store(1) // long past
	a.ReportSuccess()
	a.ReportFailure()
	if !a.Available() {
		t.Fatal("a success did not reset the failure count")
	}
}

func TestLeastConnections(t *testing.T) {
	u := build(t, &configv1.Upstream{Policy: configv1.BalancePolicy_BALANCE_POLICY_LEAST_CONNECTIONS, Servers: weighted(1, 1, 2)})
	a, b, c := u.servers[0], u.servers[1], u.servers[2]
	a.Begin()
	a.Begin()
	b.Begin()
	c.Begin()
	c.Begin()
	// Load per weight: a 2, b 1, c 1 (2/2): b and c tie, a never.
	got := map[*Server]int{}
	for i := 0; i < 10; i++ {
		s, _ := u.Pick(anyReq, Tried{})
		got[s]++
	}
	if got[a] != 0 || got[b] == 0 || got[c] == 0 {
		t.Fatalf("picks a=%d b=%d c=%d, want ties between b and c only", got[a], got[b], got[c])
	}
	b.End()
	for i := 0; i < 5; i++ {
		if s, _ := u.Pick(anyReq, Tried{}); s != b {
			t.Fatalf("picked %s, want the least loaded b", s.Addr)
		}
	}
}

func TestConsistentHashStableUnderRemoval(t *testing.T) {
	mk := func(addrs ...string) *Upstream {
		var ss []*configv1.Server
		for _, a := range addrs {
			ss = append(ss, &configv1.Server{Address: a, Weight: 1})
		}
		return build(t, &configv1.Upstream{Policy: configv1.BalancePolicy_BALANCE_POLICY_CONSISTENT_HASH, HashKey: "header:X-User", Servers: ss})
	}
	full := mk("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80")
	less := mk("10.0.0.1:80", "10.0.0.2:80", "10.0.0.4:80")
	const n = 4000
	moved, onRemoved := 0, 0
	spread := map[string]int{}
	for i := 0; i < n; i++ {
		r := req{header: map[string]string{"X-User": fmt.Sprintf("user-%d", i)}}
		s1, _ := full.Pick(r, Tried{})
		s2, _ := less.Pick(r, Tried{})
		again, _ := full.Pick(r, Tried{})
		if again != s1 {
			t.Fatalf("key %d moved between two picks", i)
		}
		spread[s1.Addr]++
		if s1.Addr == "10.0.0.3:80" {
			onRemoved++
			continue
		}
		if s1.Addr != s2.Addr {
			moved++
		}
	}
	if moved != 0 {
		t.Fatalf("%d keys not on the removed server moved", moved)
	}
	for addr, c := range spread {
		if c < n/4-n/10 || c > n/4+n/10 {
			t.Errorf("server %s got %d of %d keys, want about a quarter", addr, c, n)
		}
	}
	// When the key's server is down, the key moves to the next one, and
	// every other key stays.
	full.servers[2].down.Store(true)
	for i := 0; i < 200; i++ {
		r := req{header: map[string]string{"X-User": fmt.Sprintf("user-%d", i)}}
		s, _ := full.Pick(r, Tried{})
		want, _ := less.Pick(r, Tried{})
		if s.Addr != want.Addr {
			t.Fatalf("with 10.0.0.3 down key %d went to %s, the ring without it says %s", i, s.Addr, want.Addr)
		}
	}
}

func TestConsistentHashMissingKeyFallsBackToClientIP(t *testing.T) {
	u := build(t, &configv1.Upstream{Policy: configv1.BalancePolicy_BALANCE_POLICY_CONSISTENT_HASH, HashKey: "cookie:sid", Servers: weighted(1, 1, 1, 1)})
	seen := map[*Server]bool{}
	for i := 0; i < 64; i++ {
		r := req{ip: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})}
		s, _ := u.Pick(r, Tried{})
		seen[s] = true
	}
	if len(seen) < 3 {
		t.Fatalf("64 client IPs without the cookie landed on %d servers, want them spread", len(seen))
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  *configv1.Upstream
		want string
	}{
		{"no servers", &configv1.Upstream{Name: "u"}, "servers: at least one"},
		{"no port", &configv1.Upstream{Name: "u", Servers: []*configv1.Server{{Address: "10.0.0.1"}}}, `servers[0].address "10.0.0.1"`},
		{"bad port", &configv1.Upstream{Name: "u", Servers: []*configv1.Server{{Address: "10.0.0.1:99999"}}}, "port \"99999\""},
		{"bad hash key", &configv1.Upstream{Name: "u", Servers: weighted(1), Policy: configv1.BalancePolicy_BALANCE_POLICY_CONSISTENT_HASH, HashKey: "body"}, "hash_key"},
		{"hash key without hash policy", &configv1.Upstream{Name: "u", Servers: weighted(1), HashKey: "uri"}, "only used with"},
		// The control plane's grammar (validate.ParseHashKey): cookie and
		// query names are tokens too.
		{"hash key query name", &configv1.Upstream{Name: "u", Servers: weighted(1), Policy: configv1.BalancePolicy_BALANCE_POLICY_CONSISTENT_HASH, HashKey: "query:a b"}, `"a b" is not a valid query name`},
		{"hash key cookie name", &configv1.Upstream{Name: "u", Servers: weighted(1), Policy: configv1.BalancePolicy_BALANCE_POLICY_CONSISTENT_HASH, HashKey: "cookie:a;b"}, `"a;b" is not a valid cookie name`},
		{"health path", &configv1.Upstream{Name: "u", Servers: weighted(1), HealthCheck: &configv1.HealthCheck{Path: "health"}}, "health_check.path"},
		{"expected status", &configv1.Upstream{Name: "u", Servers: weighted(1), HealthCheck: &configv1.HealthCheck{ExpectedStatuses: []uint32{42}}}, "expected_statuses"},
		{"no name", &configv1.Upstream{Servers: weighted(1)}, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New("app", tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestKeyChangesWithContent(t *testing.T) {
	a := &configv1.Upstream{Id: "u1", Name: "u", Servers: weighted(1)}
	b := &configv1.Upstream{Id: "u1", Name: "u", Servers: weighted(2)}
	if Key("app", a) == Key("app", b) {
		t.Fatal("different weights, same key")
	}
	if Key("app", a) != Key("app", &configv1.Upstream{Id: "u1", Name: "u", Servers: weighted(1)}) {
		t.Fatal("equal content, different keys")
	}
	if Key("app", a) == Key("other", a) {
		t.Fatal("different apps, same key")
	}
}

func BenchmarkPick(b *testing.B) {
	for _, tc := range []struct {
		name   string
		policy configv1.BalancePolicy
		key    string
		n      int
	}{
		{"rr-1", configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN, "", 1},
		{"rr-4", configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN, "", 4},
		{"leastconn-4", configv1.BalancePolicy_BALANCE_POLICY_LEAST_CONNECTIONS, "", 4},
		{"chash-4-ip", configv1.BalancePolicy_BALANCE_POLICY_CONSISTENT_HASH, "client_ip", 4},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ws := make([]uint32, tc.n)
			for i := range ws {
				ws[i] = 1
			}
			u, err := New("app", &configv1.Upstream{Name: "u", Policy: tc.policy, HashKey: tc.key, Servers: weighted(ws...)})
			if err != nil {
				b.Fatal(err)
			}
			defer u.Close()
			var r Request = anyReq
			b.ReportAllocs()
			for b.Loop() {
				if _, err := u.Pick(r, Tried{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
