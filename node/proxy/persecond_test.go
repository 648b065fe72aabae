package proxy_test

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/node/proxy"
	"github.com/strata-edge/strata/pkg/metricsql"
)

// rowSink keeps copies of the Metric SQL rows the proxy feeds.
type rowSink struct {
	mu   sync.Mutex
	on   bool
	rows []row
}

type row struct {
	metricsql.Request
	xTest string // the X-Test request header, read through Header
}

func (s *rowSink) Active() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.on }
func (s *rowSink) Add(r *metricsql.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The strings may point into the server's buffers: copy them.
	c := *r
	c.Header = nil
	c.App, c.Host, c.Path, c.Method, c.Upstream = strings.Clone(r.App), strings.Clone(r.Host), strings.Clone(r.Path), strings.Clone(r.Method), strings.Clone(r.Upstream)
	c.Rule = strings.Clone(r.Rule)
	var x string
	if r.Header != nil {
		x = strings.Clone(r.Header("X-Test"))
	}
	s.rows = append(s.rows, row{c, x})
}

// Real traffic on both listeners: the per-second aggregates count every
// request once with its status code, upstream attempts per server with
// their failure kinds, and the Metric SQL sink gets one row per request.
func TestPerSecondStatsThroughProxy(t *testing.T) {
	echo := newEcho(t, "echo")
	down := closedAddr(t)
	sink := &rowSink{on: true}
	p := startProxy(t, proxy.Options{PerSecondStats: true, Requests: sink})
	app := simpleApp("a", "a.example.com", echo.addr())
	app.Rules = []*configv1.Rule{{Name: "gone", When: "PathPrefix(`/gone`)", Actions: []*configv1.Action{
		{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: 410, Body: "gone"}}},
	}}}
	bad := simpleApp("b", "b.example.com", down)
	mustUpdate(t, p, 1, app, bad)
	c := httpClient(t)
	want := map[string]map[uint32]uint64{"a": {}, "b": {}}
	both(t, p, func(t *testing.T, base string) {
		for range 7 {
			if r := do(t, c, "GET", base, "a.example.com", "/ok?x=1", "", "X-Test", "v"); r.status != 200 {
				t.Fatalf("ok: %d", r.status)
			}
			want["a"][200]++
		}
		for range 3 {
			if r := do(t, c, "GET", base, "a.example.com", "/gone", ""); r.status != 410 {
				t.Fatalf("gone: %d", r.status)
			}
			want["a"][410]++
		}
		for range 2 {
			if r := do(t, c, "GET", base, "b.example.com", "/", ""); r.status != 502 {
				t.Fatalf("down: %d", r.status)
			}
			want["b"][502]++
		}
	})
	secs, dropped := p.TakeSeconds(math.MaxInt64, nil)
	if dropped != 0 {
		t.Fatalf("%d seconds dropped", dropped)
	}
	got := map[string]map[uint32]uint64{"a": {}, "b": {}}
	paths := map[string]uint64{}
	var attempts, connectErrs, upErrs, latencies uint64
	for _, s := range secs {
		var n uint64
		for _, c := range s.Status {
			got[s.AppId][c.Code] += c.Count
			n += c.Count
		}
		if n != s.Requests {
			t.Fatalf("second %d of %s: %d requests, codes sum to %d", s.UnixSecond, s.AppId, s.Requests, n)
		}
		latencies += s.LatencyMs.GetCount()
		for _, pc := range s.Paths {
			paths[pc.Name] += pc.Count
		}
		for _, u := range s.Upstreams {
			attempts += u.Attempts
			for _, e := range u.Errors {
				if e.Name == "connect" && u.Server == down {
					connectErrs += e.Count
				}
			}
		}
		for _, e := range s.UpstreamErrors {
			upErrs += e.Count
		}
	}
	for id, w := range want {
		for code, n := range w {
			if got[id][code] != n {
				t.Errorf("app %s code %d: %d, want %d (all: %v)", id, code, got[id][code], n, got[id])
			}
		}
	}
	if latencies != 24 || paths["/ok"] != 14 || paths["/gone"] != 6 {
		t.Errorf("latencies %d, paths %v", latencies, paths)
	}
	if attempts != 14+4 || connectErrs != 4 || upErrs != 4 {
		t.Errorf("attempts %d, connect errors %d, upstream errors %d", attempts, connectErrs, upErrs)
	}
	sink.mu.Lock()
	rows := sink.rows
	sink.mu.Unlock()
	var okRows int
	for _, r := range rows {
		switch r.Path {
		case "/ok":
			okRows++
			if r.App != "a" || r.Host != "a.example.com" || r.Status != 200 || r.Upstream != echo.addr() || r.xTest != "v" || r.Rule != "" || !r.ClientIP.IsLoopback() || r.Time.IsZero() || r.LatencyMs <= 0 {
				t.Errorf("row %+v", r)
			}
		case "/gone":
			if r.Status != 410 || r.Rule != "gone" || r.Upstream != "" {
				t.Errorf("row %+v", r)
			}
		}
	}
	if len(rows) != 24 || okRows != 14 {
		t.Errorf("%d rows (%d /ok), want 24 (14)", len(rows), okRows)
	}
	if again, _ := p.TakeSeconds(math.MaxInt64, nil); len(again) != 0 {
		t.Errorf("seconds taken twice: %v", again)
	}
}

// ServerHealth reports each server with why it is unhealthy: the active
// check's failure, or passive ejection after failed requests.
func TestServerHealthReasons(t *testing.T) {
	echo := newEcho(t, "echo")
	down, ejected := closedAddr(t), closedAddr(t)
	p := startProxy(t, proxyOpts())
	active := simpleApp("act", "act.example.com", echo.addr(), down)
	active.Upstreams[0].HealthCheck = &configv1.HealthCheck{Enabled: true, IntervalMs: 20, TimeoutMs: 200, UnhealthyThreshold: 1, HealthyThreshold: 1}
	passive := simpleApp("pas", "pas.example.com", ejected)
	passive.Upstreams[0].HealthCheck = &configv1.HealthCheck{MaxFails: 1, FailTimeoutMs: 60_000}
	mustUpdate(t, p, 1, active, passive)
	if r := do(t, httpClient(t), "GET", httpBase(p), "pas.example.com", "/", ""); r.status != 502 {
		t.Fatalf("passive: %d", r.status)
	}
	checkFor(t, 5*time.Second, func() error {
		got := map[string]*metricsv1.ServerHealth{}
		for _, h := range p.ServerHealth() {
			got[h.Server] = h
		}
		if len(got) != 3 {
			return fmt.Errorf("%d servers: %v", len(got), got)
		}
		if h := got[echo.addr()]; !h.Healthy || h.Reason != "" || h.AppId != "act" || h.Upstream != "main" {
			return fmt.Errorf("echo: %v", h)
		}
		if h := got[down]; h.Healthy || !strings.HasPrefix(h.Reason, "active check: ") || !strings.Contains(h.Reason, "refused") || h.SinceUnix == 0 {
			return fmt.Errorf("down: %v", h)
		}
		if h := got[ejected]; h.Healthy || h.Reason != "passive: 1 consecutive failed requests" || h.SinceUnix == 0 || h.AppId != "pas" {
			return fmt.Errorf("ejected: %v", h)
		}
		return nil
	})
}
