package proxy_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

func TestUpstreamFailures(t *testing.T) {
	slowDone := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-slowDone:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(slowDone) })

	down := closedAddr(t)
	p := startProxy(t, proxyOpts())
	refused := simpleApp("refused", "refused.example.com", down)
	timeout := simpleApp("timeout", "timeout.example.com", slow.Listener.Addr().String())
	timeout.Upstreams[0].Timeouts = &configv1.Timeouts{ReadMs: 200}
	unhealthy := simpleApp("unhealthy", "unhealthy.example.com", down)
	unhealthy.Upstreams[0].HealthCheck = &configv1.HealthCheck{Enabled: true, IntervalMs: 20, TimeoutMs: 100, UnhealthyThreshold: 1}
	mustUpdate(t, p, 1, refused, timeout, unhealthy)
	c := httpClient(t)
	both(t, p, func(t *testing.T, base string) {
		r := do(t, c, "GET", base, "refused.example.com", "/", "")
		if r.status != 502 || !strings.Contains(r.body, `upstream "main": cannot connect to `+down) || !strings.Contains(r.body, "refused") {
			t.Errorf("refused: %d %q", r.status, r.body)
		}
		r = do(t, c, "GET", base, "timeout.example.com", "/", "")
		if r.status != 504 || !strings.Contains(r.body, `upstream "main": timed out`) {
			t.Errorf("timeout: %d %q", r.status, r.body)
		}
		checkFor(t, 5*time.Second, func() error {
			r = do(t, c, "GET", base, "unhealthy.example.com", "/", "")
			if r.status != 503 || r.body != "upstream \"main\": no healthy server available\n" {
				return &statusErr{r}
			}
			return nil
		})
	})
}

type statusErr struct{ r result }

func (e *statusErr) Error() string { return http.StatusText(e.r.status) + ": " + e.r.body }

func TestRetryOnConnectFailure(t *testing.T) {
	good := newEcho(t, "good")
	p := startProxy(t, proxyOpts())
	app := simpleApp("a", "a.example.com", closedAddr(t), good.addr())
	app.Upstreams[0].Retries = 1
	noRetry := simpleApp("b", "b.example.com", closedAddr(t), good.addr())
	mustUpdate(t, p, 1, app, noRetry)
	c := httpClient(t)
	both(t, p, func(t *testing.T, base string) {
		// Round robin alternates, so of two requests one starts on the dead
		// server; with a retry both succeed.
		for i := 0; i < 4; i++ {
			if r := do(t, c, "GET", base, "a.example.com", "/", ""); r.status != 200 || r.echo.Server != "good" {
				t.Fatalf("GET %d: %d %q", i, r.status, r.body)
			}
		}
		// POST is not retried: one of two fails.
		failed := 0
		for i := 0; i < 2; i++ {
			if r := do(t, c, "POST", base, "a.example.com", "/", "x"); r.status == 502 {
				failed++
			} else if r.status != 200 || r.echo.Body != "x" {
				t.Fatalf("POST: %d %q", r.status, r.body)
			}
		}
		if failed != 1 {
			t.Errorf("%d of 2 POSTs failed, want exactly the one sent to the dead server", failed)
		}
		// PUT with a body is idempotent: retried with its body intact.
		for i := 0; i < 2; i++ {
			if r := do(t, c, "PUT", base, "a.example.com", "/", "payload"); r.status != 200 || r.echo.Body != "payload" {
				t.Fatalf("PUT %d: %d %q", i, r.status, r.body)
			}
		}
		// Without retries, every other GET fails.
		statuses := map[int]int{}
		for i := 0; i < 4; i++ {
			statuses[do(t, c, "GET", base, "b.example.com", "/", "").status]++
		}
		if statuses[502] != 2 || statuses[200] != 2 {
			t.Errorf("without retries: %v, want two 502 and two 200", statuses)
		}
	})
}

func TestPassiveHealthStopsSendingToFailedServer(t *testing.T) {
	good := newEcho(t, "good")
	p := startProxy(t, proxyOpts())
	app := simpleApp("a", "a.example.com", closedAddr(t), good.addr())
	app.Upstreams[0].HealthCheck = &configv1.HealthCheck{MaxFails: 1, FailTimeoutMs: 60000}
	mustUpdate(t, p, 1, app)
	c := httpClient(t)
	fails := 0
	for i := 0; i < 10; i++ {
		if r := do(t, c, "GET", httpBase(p), "a.example.com", "/", ""); r.status != 200 {
			fails++
		}
	}
	if fails != 1 {
		t.Fatalf("%d of 10 requests failed, want only the first one sent to the dead server", fails)
	}
}

func TestActiveHealthChecks(t *testing.T) {
	var healthy = make(chan bool, 1)
	healthy <- true
	state := func() bool { v := <-healthy; healthy <- v; return v }
	set := func(v bool) { <-healthy; healthy <- v }
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && !state() {
			w.WriteHeader(500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"server":"flaky"}`))
	}))
	t.Cleanup(flaky.Close)
	stable := newEcho(t, "stable")
	p := startProxy(t, proxyOpts())
	app := simpleApp("a", "a.example.com", flaky.Listener.Addr().String(), stable.addr())
	app.Upstreams[0].HealthCheck = &configv1.HealthCheck{Enabled: true, Path: "/healthz", IntervalMs: 20, TimeoutMs: 500,
		HealthyThreshold: 2, UnhealthyThreshold: 2, ExpectedStatuses: []uint32{200}}
	mustUpdate(t, p, 1, app)
	c := httpClient(t)
	servedBy := func() map[string]int {
		m := map[string]int{}
		for i := 0; i < 10; i++ {
			m[do(t, c, "GET", httpBase(p), "a.example.com", "/", "").echo.Server]++
		}
		return m
	}
	if m := servedBy(); m["flaky"] == 0 || m["stable"] == 0 {
		t.Fatalf("both healthy: %v", m)
	}
	set(false)
	checkFor(t, 5*time.Second, func() error {
		if m := servedBy(); m["flaky"] != 0 {
			return &mapErr{m}
		}
		return nil
	})
	set(true)
	checkFor(t, 5*time.Second, func() error {
		if m := servedBy(); m["flaky"] == 0 {
			return &mapErr{m}
		}
		return nil
	})
}

type mapErr struct{ m map[string]int }

func (e *mapErr) Error() string { return fmt.Sprint(e.m) }

func TestBackupServers(t *testing.T) {
	primary, backup := newEcho(t, "primary"), newEcho(t, "backup")
	p := startProxy(t, proxyOpts())
	app := simpleApp("a", "a.example.com", primary.addr(), backup.addr())
	app.Upstreams[0].Servers[1].Backup = true
	mustUpdate(t, p, 1, app)
	c := httpClient(t)
	for i := 0; i < 4; i++ {
		if r := do(t, c, "GET", httpBase(p), "a.example.com", "/", ""); r.echo.Server != "primary" {
			t.Fatalf("request %d served by %q while the primary is up", i, r.echo.Server)
		}
	}
	primary.Close()
	app2 := simpleApp("a", "a.example.com", primary.addr(), backup.addr())
	app2.Upstreams[0].Servers[1].Backup = true
	app2.Upstreams[0].Retries = 1
	mustUpdate(t, p, 2, app2)
	for i := 0; i < 4; i++ {
		if r := do(t, c, "GET", httpBase(p), "a.example.com", "/", ""); r.status != 200 || r.echo.Server != "backup" {
			t.Fatalf("request %d: %d from %q, want the backup", i, r.status, r.echo.Server)
		}
	}
}
