package proxy_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/wrapperspb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node/proxy"
)

// gate is an upstream whose responses wait until release is closed.
func gate(t *testing.T) (addr string, arrived <-chan struct{}, release chan struct{}) {
	t.Helper()
	arr := make(chan struct{}, 16)
	rel := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arr <- struct{}{}
		<-rel
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"server":"gate"}`))
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), arr, rel
}

func TestInFlightRequestsFinishOnTheirRuntime(t *testing.T) {
	other := newEcho(t, "other")
	p := startProxy(t, proxyOpts())
	both(t, p, func(t *testing.T, base string) {
		addr, arrived, release := gate(t)
		mustUpdate(t, p, p.Version()+1, simpleApp("a", "a.example.com", addr))
		done := make(chan result, 1)
		go func() { done <- do(t, httpClient(t), "GET", base, "a.example.com", "/", "") }()
		<-arrived
		// Release a config without this host, then let the request finish.
		mustUpdate(t, p, p.Version()+1, simpleApp("b", "b.example.com", other.addr()))
		close(release)
		if r := <-done; r.status != 200 || r.echo.Server != "gate" {
			t.Fatalf("in-flight request: %d %q", r.status, r.body)
		}
		if r := do(t, httpClient(t), "GET", base, "a.example.com", "/", ""); r.status != 404 {
			t.Fatalf("new request after the release: %d", r.status)
		}
	})
}

func TestStopWaitsForInFlightRequests(t *testing.T) {
	addr, arrived, release := gate(t)
	p, err := proxy.New(proxy.Options{HTTPAddr: "127.0.0.1:0", Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", addr))
	done := make(chan result, 1)
	c := httpClient(t)
	go func() {
		req, _ := http.NewRequest("GET", httpBase(p)+"/", nil)
		req.Host = "a.example.com"
		resp, err := c.Do(req)
		if err != nil {
			done <- result{status: -1, body: err.Error()}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	<-arrived
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- p.Stop(ctx)
	}()
	// New connections are refused once Stop began.
	checkFor(t, 5*time.Second, func() error {
		c, err := net.DialTimeout("tcp", p.HTTPAddr().String(), time.Second)
		if err == nil {
			c.Close()
			return &statusErr{result{body: "still accepting"}}
		}
		return nil
	})
	close(release)
	if r := <-done; r.status != 200 {
		t.Fatalf("in-flight request during Stop: %d %q", r.status, r.body)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestHealthCheckerStopsWithItsUpstream(t *testing.T) {
	var probes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hc" {
			probes.Add(1)
		}
	}))
	t.Cleanup(srv.Close)
	p := startProxy(t, proxyOpts())
	app := simpleApp("a", "a.example.com", srv.Listener.Addr().String())
	app.Upstreams[0].HealthCheck = &configv1.HealthCheck{Enabled: true, Path: "/hc", IntervalMs: 10}
	mustUpdate(t, p, 1, app)
	checkFor(t, 5*time.Second, func() error {
		if probes.Load() < 3 {
			return &statusErr{result{body: "no probes yet"}}
		}
		return nil
	})
	mustUpdate(t, p, 2, simpleApp("a", "a.example.com", srv.Listener.Addr().String()))
	n := probes.Load()
	// Update returned after the checker ended: no probe may follow.
	deadline := time.Now().Add(200 * time.Millisecond) // 20 intervals
	for time.Now().Before(deadline) {
		if probes.Load() != n {
			t.Fatalf("health checks went on after the upstream left the config")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStdEngineServesH2C(t *testing.T) {
	addr := grpcUpstream(t)
	p := startProxy(t, proxy.Options{HTTPEngine: proxy.EngineStd})
	mustUpdate(t, p, 1, simpleApp("g", "grpc.example.com", addr))
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: hostRoundTripper{"grpc.example.com", tr}}
	say := connect.NewClient[wrapperspb.StringValue, wrapperspb.StringValue](hc, httpBase(p)+sayProcedure, connect.WithGRPC())
	resp, err := say.CallUnary(context.Background(), connect.NewRequest(wrapperspb.String("h2c")))
	if err != nil {
		t.Fatalf("gRPC over h2c on the plain listener: %v", err)
	}
	if got := resp.Msg.GetValue(); got != "hello h2c via 2.0 strata" {
		t.Fatalf("reply %q", got)
	}
	// HTTP/1.1 still works on the same port.
	if r := do(t, httpClient(t), "GET", httpBase(p), "unknown.example.com", "/", ""); r.status != 404 {
		t.Fatalf("HTTP/1.1 on the std engine: %d", r.status)
	}
}

// The node's heartbeat reports OpenConnections: keep-alive connections count
// while open, on both listeners, and leave the count once closed.
func TestOpenConnections(t *testing.T) {
	up := newEcho(t, "up")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, p.Version()+1, simpleApp("a", "a.example.com", up.addr()))
	both(t, p, func(t *testing.T, base string) {
		before := p.OpenConnections()
		c := httpClient(t)
		if r := do(t, c, "GET", base, "a.example.com", "/", ""); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		if got := p.OpenConnections(); got != before+1 {
			t.Fatalf("open connections with one keep-alive client: %d, want %d", got, before+1)
		}
		c.CloseIdleConnections()
		checkFor(t, 5*time.Second, func() error {
			if got := p.OpenConnections(); got != before {
				return fmt.Errorf("open connections after the client closed: %d, want %d", got, before)
			}
			return nil
		})
	})
}

// TestUnknownEngineRefused: a misspelt HTTPEngine is an error naming the
// field and the engines there are, not a silent fallback to the default.
func TestUnknownEngineRefused(t *testing.T) {
	_, err := proxy.New(proxy.Options{HTTPAddr: "127.0.0.1:0", HTTPEngine: "epoll", Logger: discardLogger()})
	if err == nil || !strings.Contains(err.Error(), `HTTPEngine "epoll"`) || !strings.Contains(err.Error(), proxy.EngineLoop) {
		t.Fatalf("New with HTTPEngine epoll: %v, want an error naming the field and %q", err, proxy.EngineLoop)
	}
}
