package proxy_test

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/node/proxy"
	"github.com/strata-edge/strata/node/ratelimit"
	"github.com/strata-edge/strata/node/waf"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

func rateLimit(a *configv1.RateLimitAction) *configv1.Action {
	return &configv1.Action{Action: &configv1.Action_RateLimit{RateLimit: a}}
}

var apiKey = &configv1.RateLimitKey{Key: &configv1.RateLimitKey_Header{Header: "X-Api-Key"}}

// limitedApp limits /limited/ by API key with lim; its one upstream takes
// every request.
func limitedApp(ua string, lim *configv1.RateLimitAction) *configv1.App {
	lim.Name, lim.Keys = "api", []*configv1.RateLimitKey{apiKey}
	a := simpleApp("app", "site.example.com", ua)
	a.Rules = []*configv1.Rule{{Name: "limit", When: "PathPrefix(`/limited/`)", Actions: []*configv1.Action{
		rateLimit(lim),
		respHeaders(&configv1.HeaderOps{Set: map[string]string{"X-Edge": "strata"}}),
	}}}
	return a
}

// REJECT: the burst passes, the next request gets 429 with Retry-After
// (and the rule's response headers), other keys and paths are not
// affected; on both listeners.
func TestRateLimitRejects(t *testing.T) {
	ua := newEcho(t, "a")
	p := startProxy(t, proxyOpts())
	// One request per hour and a burst of 4: five pass, then none.
	mustUpdate(t, p, 1, limitedApp(ua.addr(), &configv1.RateLimitAction{Requests: 1, PeriodSeconds: 3600, Burst: 4}))
	c := httpClient(t)
	both(t, p, func(t *testing.T, base string) {
		key := base // each listener's run has its own key
		for i := range 5 {
			if r := do(t, c, "GET", base, "site.example.com", "/limited/x", "", "X-Api-Key", key); r.status != 200 {
				t.Fatalf("request %d of the burst: %d %s", i, r.status, r.body)
			}
		}
		r := do(t, c, "GET", base, "site.example.com", "/limited/x", "", "X-Api-Key", key)
		if r.status != 429 || r.body != "rate limit exceeded\n" {
			t.Fatalf("over the limit: %d %q, want 429", r.status, r.body)
		}
		// 1 per hour: the next request fits in an hour.
		if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 3590 || ra > 3600 {
			t.Fatalf("Retry-After %q, want about 3600", r.header.Get("Retry-After"))
		}
		if r.header.Get("X-Edge") != "strata" {
			t.Fatalf("the rule's response headers are missing from the 429: %v", r.header)
		}
		if r := do(t, c, "GET", base, "site.example.com", "/limited/x", "", "X-Api-Key", key+"-other"); r.status != 200 {
			t.Fatalf("another key: %d", r.status)
		}
		if r := do(t, c, "GET", base, "site.example.com", "/free", "", "X-Api-Key", key); r.status != 200 {
			t.Fatalf("a path without the limit: %d", r.status)
		}
	})
	// A new config version with the same limit keeps its counters.
	mustUpdate(t, p, 2, limitedApp(ua.addr(), &configv1.RateLimitAction{Requests: 1, PeriodSeconds: 3600, Burst: 4}))
	if r := do(t, c, "GET", httpBase(p), "site.example.com", "/limited/x", "", "X-Api-Key", httpBase(p)); r.status != 429 {
		t.Fatalf("after a config update: %d, want 429 (counters kept)", r.status)
	}
}

// DELAY shapes: a burst sent at once is answered at the rate, none
// rejected; beyond the burst it rejects.
func TestRateLimitDelays(t *testing.T) {
	ua := newEcho(t, "a")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, limitedApp(ua.addr(), &configv1.RateLimitAction{Requests: 10, Burst: 3,
		OnExceed: configv1.RateLimitExceed_RATE_LIMIT_EXCEED_DELAY}))
	c := httpClient(t)
	start := time.Now()
	var wg sync.WaitGroup
	statuses := make([]int, 4)
	took := make([]time.Duration, 4)
	for i := range 4 {
		wg.Go(func() {
			statuses[i] = do(t, c, "GET", httpBase(p), "site.example.com", "/limited/", "", "X-Api-Key", "k").status
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	slowest := time.Duration(0)
	for i, s := range statuses {
		if s != 200 {
			t.Fatalf("request %d: %d, want 200 (delayed, not rejected)", i, s)
		}
		slowest = max(slowest, took[i])
	}
	// At 10/s the fourth of four waits 300 ms.
	if slowest < 290*time.Millisecond {
		t.Fatalf("the last of 4 at 10/s answered after %s, want >= 300ms", slowest)
	}
	// Eight at once on another key: the first and the burst of 3 pass
	// (delayed), the queue is full for the others.
	var mu sync.Mutex
	count := map[int]int{}
	for range 8 {
		wg.Go(func() {
			s := do(t, c, "GET", httpBase(p), "site.example.com", "/limited/", "", "X-Api-Key", "other").status
			mu.Lock()
			count[s]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if count[200] < 4 || count[429] == 0 || count[200]+count[429] != 8 {
		t.Fatalf("8 at once with burst 3: %v, want 4 (or a few more, as time passes) 200s and the rest 429", count)
	}
}

// LOG passes everything and logs what is over; CHALLENGE serves the
// challenge page over the limit, and a client that solved it passes.
func TestRateLimitLogAndChallenge(t *testing.T) {
	ua := newEcho(t, "a")
	var buf syncBuffer
	opts := proxyOpts()
	opts.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	p := startProxy(t, opts)
	mustUpdate(t, p, 1, limitedApp(ua.addr(), &configv1.RateLimitAction{Requests: 1, PeriodSeconds: 3600,
		OnExceed: configv1.RateLimitExceed_RATE_LIMIT_EXCEED_LOG}))
	c := httpClient(t)
	for i := range 3 {
		if r := do(t, c, "GET", httpBase(p), "site.example.com", "/limited/", "", "X-Api-Key", "k"); r.status != 200 {
			t.Fatalf("LOG request %d: %d, want 200", i, r.status)
		}
	}
	if n := strings.Count(buf.String(), "rate limit exceeded"); n != 2 {
		t.Fatalf("%d log lines for 2 requests over the limit:\n%s", n, buf.String())
	}
	byIP := limitedApp(ua.addr(), &configv1.RateLimitAction{Requests: 1, PeriodSeconds: 3600,
		OnExceed: configv1.RateLimitExceed_RATE_LIMIT_EXCEED_CHALLENGE})
	byIP.Rules[0].Actions[0].GetRateLimit().Keys = nil // the client IP
	mustUpdate(t, p, 2, byIP)
	if r := do(t, c, "GET", httpBase(p), "site.example.com", "/limited/", ""); r.status != 200 {
		t.Fatalf("CHALLENGE under the limit: %d, want 200", r.status)
	}
	// Over the limit: the challenge page; solved, the client passes.
	cookie := solveChallenge(t, c, httpBase(p), "site.example.com", "/limited/")
	for i := range 3 {
		if r := do(t, c, "GET", httpBase(p), "site.example.com", "/limited/", "", "Cookie", cookie); r.status != 200 {
			t.Fatalf("cleared client over the limit, request %d: %d, want 200", i, r.status)
		}
	}
}

// A rate limit the node cannot compile rejects the snapshot with the
// field's path.
func TestRateLimitCompileError(t *testing.T) {
	ua := newEcho(t, "a")
	p, err := proxy.New(proxy.Options{HTTPAddr: "127.0.0.1:0", Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Update(snap(1, limitedApp(ua.addr(), &configv1.RateLimitAction{})))
	if err == nil || !strings.Contains(err.Error(), `rules[0] ("limit").actions[0].rate_limit.requests: must be > 0`) {
		t.Fatalf("Update: %v", err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Exceeded requests reach the WAF hit log as rule "ratelimit:<name>" with
// the action and status the client got, at most ten a second per limit: a
// burst of rejections is one hit, not one per request.
func TestRateLimitHits(t *testing.T) {
	srv := natstest.RunServerWith(t, natsutil.ServerOptions{NoJetStream: true})
	nc := natstest.Connect(t, srv)
	hits := make(chan *wafv1.WafHit, 64)
	sub, err := nc.Subscribe(natsutil.WafHitAll, func(m *nats.Msg) {
		h := new(wafv1.WafHit)
		if proto.Unmarshal(m.Data, h) == nil {
			hits <- h
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ua := newEcho(t, "a")
	opts := proxyOpts()
	opts.WAF = waf.New(waf.Options{NodeID: "n1", NATS: natstest.Connect(t, srv), Logger: discardLogger()})
	p := startProxy(t, opts)
	mustUpdate(t, p, 1, limitedApp(ua.addr(), &configv1.RateLimitAction{Requests: 1, PeriodSeconds: 3600}))
	c := httpClient(t)
	statuses := map[int]int{}
	start := time.Now()
	for range 6 {
		statuses[do(t, c, "GET", httpBase(p), "site.example.com", "/limited/x?y=1", "", "X-Api-Key", "k").status]++
	}
	took := time.Since(start)
	if statuses[200] != 1 || statuses[429] != 5 {
		t.Fatalf("statuses %v, want one 200 and five 429", statuses)
	}
	var h *wafv1.WafHit
	select {
	case h = <-hits:
	case <-time.After(5 * time.Second):
		t.Fatal("no hit for the rejected requests")
	}
	if h.GetAppId() != "app" || h.GetNodeId() != "n1" || h.GetAction() != "block" || h.GetStatus() != 429 ||
		h.GetUri() != "/limited/x?y=1" || h.GetClientIp() != "127.0.0.1" || h.GetRequestId() == "" ||
		len(h.GetMatches()) != 1 || h.GetMatches()[0].GetRuleId() != "ratelimit:api" {
		t.Fatalf("hit %v", h)
	}
	// One hit per ReportEvery at most, however many rejections.
	time.Sleep(ratelimit.ReportEvery / 2)
	if n, most := 1+len(hits), 1+int(took/ratelimit.ReportEvery); n > most {
		t.Fatalf("%d hits for five rejections in %s, want at most %d", n, took, most)
	}
}
