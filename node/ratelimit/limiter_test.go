package ratelimit

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// req is a request as a rule's key sees it.
type req struct {
	ip                    string
	path                  string
	header, cookie, query map[string]string
}

func (r req) Method() string { return "GET" }
func (r req) Host() string   { return "example.com" }
func (r req) Path() string   { return r.path }
func (r req) Header(n string) (string, bool) {
	for k, v := range r.header {
		if strings.EqualFold(k, n) {
			return v, true
		}
	}
	return "", false
}
func (r req) Cookie(n string) (string, bool) { v, ok := r.cookie[n]; return v, ok }
func (r req) Query(n string) (string, bool)  { v, ok := r.query[n]; return v, ok }
func (r req) ClientIP() netip.Addr {
	if r.ip == "" {
		return netip.MustParseAddr("192.0.2.1")
	}
	return netip.MustParseAddr(r.ip)
}
func (r req) Scheme() string { return "http" }
func (r req) Port() uint32   { return 80 }

func mustRule(t testing.TB, a *configv1.RateLimitAction) *Rule {
	t.Helper()
	if a.Name == "" {
		a.Name = "lim"
	}
	r, err := Compile("app", a)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var t0 = time.Unix(1_800_000_000, 0)

// run sends n requests of one key, one every gap from t0, and counts
// each outcome.
func run(l *Limiter, r *Rule, n int, gap time.Duration) (counts [3]int, last []Decision) {
	for i := range n {
		d := l.Check(r, req{}, t0.Add(time.Duration(i)*gap))
		counts[d.Outcome]++
		last = append(last, d)
	}
	return counts, last
}

func TestTokenBucketRate(t *testing.T) {
	tests := []struct {
		name            string
		requests, burst uint32
		period          uint32
		n               int
		gap             time.Duration
		pass            int
	}{
		// At the rate exactly, nothing is over.
		{"at the rate", 10, 0, 1, 100, 100 * time.Millisecond, 100},
		// Twice the rate: every other request.
		{"twice the rate", 10, 0, 1, 100, 50 * time.Millisecond, 50},
		// All at once: the first plus the burst (nginx burst=5 nodelay).
		{"burst at once", 10, 5, 1, 100, 0, 6},
		// 60 per minute is one a second: 10 s at 10/s passes 1 + 10.
		{"per minute", 60, 0, 60, 100, 100 * time.Millisecond, 10},
		// Burst first, then the rate: 1 + 20 + 10/s * 9.9 s.
		{"burst then rate", 10, 20, 1, 1000, 10 * time.Millisecond, 1 + 20 + 99},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRule(t, &configv1.RateLimitAction{Requests: tc.requests, PeriodSeconds: tc.period, Burst: tc.burst})
			c, _ := run(New(Options{}), r, tc.n, tc.gap)
			if c[Pass] != tc.pass || c[Exceeded] != tc.n-tc.pass {
				t.Fatalf("pass %d exceeded %d, want %d and %d", c[Pass], c[Exceeded], tc.pass, tc.n-tc.pass)
			}
		})
	}
}

func TestTokenBucketRetryAfter(t *testing.T) {
	r := mustRule(t, &configv1.RateLimitAction{Requests: 2, PeriodSeconds: 1, Burst: 1})
	l := New(Options{})
	_, ds := run(l, r, 3, 0)
	if ds[2].Outcome != Exceeded {
		t.Fatalf("third = %v, want exceeded", ds[2])
	}
	// Excess 2 requests over burst 1 drains 1 request at 2/s: 500 ms.
	if ds[2].Wait != 500*time.Millisecond {
		t.Fatalf("wait %s, want 500ms", ds[2].Wait)
	}
	if d := l.Check(r, req{}, t0.Add(500*time.Millisecond)); d.Outcome != Pass {
		t.Fatalf("after Retry-After: %v, want pass", d)
	}
}

// DELAY is nginx limit_req without nodelay (delay=N with NoDelay): the
// burst queues, each request waiting its turn at the rate.
func TestTokenBucketDelay(t *testing.T) {
	r := mustRule(t, &configv1.RateLimitAction{Requests: 10, Burst: 5, Nodelay: 2,
		OnExceed: configv1.RateLimitExceed_RATE_LIMIT_EXCEED_DELAY})
	_, ds := run(New(Options{}), r, 7, 0)
	want := []Decision{{Pass, 0}, {Pass, 0}, {Pass, 0},
		{Delayed, 100 * time.Millisecond}, {Delayed, 200 * time.Millisecond}, {Delayed, 300 * time.Millisecond},
		{Exceeded, 100 * time.Millisecond}}
	for i := range want {
		if ds[i] != want[i] {
			t.Errorf("request %d: %+v, want %+v", i, ds[i], want[i])
		}
	}
	// A wait beyond delay_max is a rejection.
	r = mustRule(t, &configv1.RateLimitAction{Requests: 10, Burst: 50, DelayMaxMs: 250,
		OnExceed: configv1.RateLimitExceed_RATE_LIMIT_EXCEED_DELAY})
	c, _ := run(New(Options{}), r, 10, 0)
	if c[Pass] != 1 || c[Delayed] != 2 || c[Exceeded] != 7 {
		t.Fatalf("delay_max 250ms: %v, want 1 pass, 2 delayed, 7 exceeded", c)
	}
}

func TestFixedWindow(t *testing.T) {
	r := mustRule(t, &configv1.RateLimitAction{Requests: 5, PeriodSeconds: 10,
		Algorithm: configv1.RateLimitAlgorithm_RATE_LIMIT_ALGORITHM_FIXED_WINDOW})
	l := New(Options{})
	// t0 is a multiple of 10 s: one window holds 10 requests 1 s apart.
	c, ds := run(l, r, 10, time.Second)
	if c[Pass] != 5 || c[Exceeded] != 5 {
		t.Fatalf("one window: %v, want 5 and 5", c)
	}
	if ds[5].Wait != 5*time.Second {
		t.Fatalf("Retry-After at +5s: %s, want 5s (window end)", ds[5].Wait)
	}
	// The next window starts afresh.
	if d := l.Check(r, req{}, t0.Add(10*time.Second)); d.Outcome != Pass {
		t.Fatalf("next window: %v", d)
	}
}

func TestSlidingWindow(t *testing.T) {
	r := mustRule(t, &configv1.RateLimitAction{Requests: 10, PeriodSeconds: 10,
		Algorithm: configv1.RateLimitAlgorithm_RATE_LIMIT_ALGORITHM_SLIDING_WINDOW})
	l := New(Options{})
	// 10 at the end of one window fill it.
	for i := range 12 {
		d := l.Check(r, req{}, t0.Add(9*time.Second))
		if (d.Outcome == Pass) != (i < 10) {
			t.Fatalf("request %d of the first window: %v", i, d)
		}
	}
	// Halfway through the next window the previous counts half: 5 more.
	mid := t0.Add(15 * time.Second)
	pass := 0
	for range 10 {
		if l.Check(r, req{}, mid).Outcome == Pass {
			pass++
		}
	}
	if pass != 5 { // 10*0.5 + a + 1 <= 10 for a = 0..4
		t.Fatalf("halfway: %d passed, want 5", pass)
	}
	d := l.Check(r, req{}, mid)
	if d.Outcome != Exceeded || d.Wait <= 0 || d.Wait > 5*time.Second {
		t.Fatalf("over: %+v, want exceeded with a wait up to the window end", d)
	}
	if d2 := l.Check(r, req{}, mid.Add(d.Wait)); d2.Outcome != Pass {
		t.Fatalf("after the wait %s: %v, want pass", d.Wait, d2)
	}
}

func TestKeys(t *testing.T) {
	ip := &configv1.RateLimitKey{Key: &configv1.RateLimitKey_ClientIp{ClientIp: true}}
	hdr := &configv1.RateLimitKey{Key: &configv1.RateLimitKey_Header{Header: "X-Api-Key"}}
	cookie := &configv1.RateLimitKey{Key: &configv1.RateLimitKey_Cookie{Cookie: "sid"}}
	query := &configv1.RateLimitKey{Key: &configv1.RateLimitKey_Query{Query: "user"}}
	path := &configv1.RateLimitKey{Key: &configv1.RateLimitKey_Path{Path: true}}
	a, b := req{ip: "192.0.2.1"}, req{ip: "192.0.2.2"}
	withKey := func(r req, k string) req {
		r.header = map[string]string{"x-api-key": k}
		r.cookie = map[string]string{"sid": k}
		r.query = map[string]string{"user": k}
		return r
	}
	tests := []struct {
		name       string
		keys       []*configv1.RateLimitKey
		x, y       req
		same, skip bool
	}{
		{"default ip, other ip", nil, a, b, false, false},
		{"default ip, same ip", nil, withKey(a, "1"), withKey(a, "2"), true, false},
		{"header", []*configv1.RateLimitKey{hdr}, withKey(a, "1"), withKey(b, "1"), true, false},
		{"header differs", []*configv1.RateLimitKey{hdr}, withKey(a, "1"), withKey(a, "2"), false, false},
		{"cookie", []*configv1.RateLimitKey{cookie}, withKey(a, "k"), withKey(a, "l"), false, false},
		{"query", []*configv1.RateLimitKey{query}, withKey(a, "k"), withKey(b, "k"), true, false},
		{"path", []*configv1.RateLimitKey{path}, req{path: "/a"}, req{path: "/b"}, false, false},
		{"ip and header", []*configv1.RateLimitKey{ip, hdr}, withKey(a, "1"), withKey(b, "1"), false, false},
		{"no header: not counted", []*configv1.RateLimitKey{hdr}, a, b, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRule(t, &configv1.RateLimitAction{Requests: 1, Keys: tc.keys})
			hx, okx := r.Key(tc.x)
			hy, _ := r.Key(tc.y)
			if okx == tc.skip {
				t.Fatalf("counted = %v, want %v", okx, !tc.skip)
			}
			if tc.skip {
				l := New(Options{})
				for range 5 {
					if d := l.Check(r, tc.x, t0); d.Outcome != Pass {
						t.Fatalf("an uncounted request was limited: %v", d)
					}
				}
				return
			}
			if (hx == hy) != tc.same {
				t.Fatalf("same key = %v, want %v", hx == hy, tc.same)
			}
		})
	}
	// Two rules never share counters, even on the same key.
	r1 := mustRule(t, &configv1.RateLimitAction{Name: "one", Requests: 1})
	r2 := mustRule(t, &configv1.RateLimitAction{Name: "two", Requests: 1})
	if h1, _ := r1.Key(a); h1 == func() uint64 { h, _ := r2.Key(a); return h }() {
		t.Fatal("two rules hash one key alike")
	}
}

// A flood of distinct keys stays within MaxKeys, and a client that keeps
// coming back keeps its counters (and its limit) through it.
func TestBoundedMemory(t *testing.T) {
	const maxKeys = 4096
	l := New(Options{MaxKeys: maxKeys})
	r := mustRule(t, &configv1.RateLimitAction{Requests: 1, PeriodSeconds: 3600})
	hot := req{ip: "198.51.100.7"}
	if l.Check(r, hot, t0).Outcome != Pass {
		t.Fatal("first request of the hot key")
	}
	limited := 0
	for i := range 200_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.Check(r, req{ip: a.String()}, t0)
		if i%100 == 0 && l.Check(r, hot, t0).Outcome == Exceeded {
			limited++
		}
	}
	c := l.Counts()
	if c.Keys > maxKeys {
		t.Fatalf("%d keys kept, more than MaxKeys %d", c.Keys, maxKeys)
	}
	if c.Evicted == 0 {
		t.Fatal("nothing evicted under a flood")
	}
	if limited != 2000 {
		t.Fatalf("hot key limited %d times of 2000 during the flood", limited)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		a    *configv1.RateLimitAction
		want string
	}{
		{&configv1.RateLimitAction{Requests: 1}, "name: must not be empty"},
		{&configv1.RateLimitAction{Name: "x"}, "requests: must be > 0"},
		{&configv1.RateLimitAction{Name: "x", Requests: 1, PeriodSeconds: MaxPeriod + 1}, "period_seconds:"},
		{&configv1.RateLimitAction{Name: "x", Requests: 1, Burst: 1, Algorithm: configv1.RateLimitAlgorithm_RATE_LIMIT_ALGORITHM_FIXED_WINDOW}, "burst:"},
		{&configv1.RateLimitAction{Name: "x", Requests: 1, Nodelay: 2, Burst: 1}, "nodelay: 2 is more than burst 1"},
		{&configv1.RateLimitAction{Name: "x", Requests: 1, Status: 200}, "status:"},
		{&configv1.RateLimitAction{Name: "x", Requests: 1, DelayMaxMs: 30001}, "delay_max_ms:"},
		{&configv1.RateLimitAction{Name: "x", Requests: 1, Keys: []*configv1.RateLimitKey{{}}}, "keys[0]: no key part set"},
		{&configv1.RateLimitAction{Name: "x", Requests: 1, Keys: []*configv1.RateLimitKey{{Key: &configv1.RateLimitKey_Header{}}}}, "keys[0]: header: must not be empty"},
	}
	for _, tc := range tests {
		_, err := Compile("app", tc.a)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%v) = %v, want %q", tc.a, err, tc.want)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	r := mustRule(b, &configv1.RateLimitAction{Requests: 1 << 30, Burst: 1 << 20, Keys: []*configv1.RateLimitKey{
		{Key: &configv1.RateLimitKey_ClientIp{ClientIp: true}}, {Key: &configv1.RateLimitKey_Header{Header: "X-Api-Key"}}}})
	x := &benchReq{ip: netip.MustParseAddr("192.0.2.1"), key: "0123456789abcdef"}
	b.Run("one key", func(b *testing.B) {
		l := New(Options{})
		now := time.Now()
		b.ReportAllocs()
		for b.Loop() {
			l.Check(r, x, now)
		}
	})
	b.Run("many keys parallel", func(b *testing.B) {
		l := New(Options{})
		now := time.Now()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var h uint64 = 1
			for pb.Next() {
				h = h*6364136223846793005 + 1442695040888963407
				l.Take(r, h%100_000, now)
			}
		})
	})
}

// benchReq is a request view as cheap as the proxy's: the limiter's cost,
// not the test view's, is what the benchmark measures.
type benchReq struct {
	req
	ip  netip.Addr
	key string
}

func (r *benchReq) ClientIP() netip.Addr         { return r.ip }
func (r *benchReq) Header(string) (string, bool) { return r.key, true }

// A flood over one limit reaches the hit log ten times a second, not once
// per request; another limit has its own allowance.
func TestReport(t *testing.T) {
	l := New(Options{})
	a := mustRule(t, &configv1.RateLimitAction{Name: "a", Requests: 1})
	b := mustRule(t, &configv1.RateLimitAction{Name: "b", Requests: 1})
	reported := 0
	for i := range 1000 { // one second at 1000/s
		if l.Report(a, t0.Add(time.Duration(i)*time.Millisecond)) {
			reported++
		}
	}
	if reported != 10 {
		t.Fatalf("%d reports in a second, want 10", reported)
	}
	if !l.Report(b, t0.Add(999*time.Millisecond)) {
		t.Fatal("another limit's first report was refused")
	}
}
