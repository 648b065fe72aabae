package proxy_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/proxy"

	"github.com/strata-edge/strata/node/internal/nettest"
)

// echoed is what the echo upstream reports about the request it received.
type echoed struct {
	Server  string      `json:"server"`
	Method  string      `json:"method"`
	Host    string      `json:"host"`
	URI     string      `json:"uri"`
	Proto   string      `json:"proto"`
	Header  http.Header `json:"header"`
	Body    string      `json:"body"`
	Remote  string      `json:"remote"`
	ConnNum int64       `json:"conn"`
}

// echoUpstream is a real HTTP server on 127.0.0.1 that answers every
// request with a JSON description of it. conns counts TCP connections.
type echoUpstream struct {
	*httptest.Server
	name  string
	conns atomic.Int64
	reqs  atomic.Int64
}

func (e *echoUpstream) addr() string { return e.Listener.Addr().String() }

func newEcho(t testing.TB, name string) *echoUpstream {
	t.Helper()
	e := &echoUpstream{name: name}
	e.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.reqs.Add(1)
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", name)
		_ = json.NewEncoder(w).Encode(echoed{
			Server: name, Method: r.Method, Host: r.Host, URI: r.RequestURI, Proto: r.Proto,
			Header: r.Header, Body: string(body), Remote: r.RemoteAddr, ConnNum: e.conns.Load(),
		})
	}))
	e.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			e.conns.Add(1)
		}
	}
	e.Start()
	t.Cleanup(e.Close)
	return e
}

// startProxy runs a proxy on 127.0.0.1 ports chosen by the kernel.
func startProxy(t *testing.T, opts proxy.Options) *proxy.Proxy {
	t.Helper()
	if opts.HTTPAddr == "" {
		opts.HTTPAddr = "127.0.0.1:0"
	}
	if opts.HTTPSAddr == "" {
		opts.HTTPSAddr = "127.0.0.1:0"
	}
	if opts.HTTPEngine == "" {
		// STRATA_TEST_HTTP_ENGINE=net/http runs the suite's plain-listener
		// requests on the net/http engine (default: fasthttp).
		opts.HTTPEngine = os.Getenv("STRATA_TEST_HTTP_ENGINE")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p, err := proxy.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return p
}

func mustUpdate(t *testing.T, p *proxy.Proxy, version uint64, apps ...*configv1.App) {
	t.Helper()
	if err := p.Update(&syncv1.Snapshot{Version: version, Apps: apps}); err != nil {
		t.Fatalf("Update(%d): %v", version, err)
	}
}

func servers(addrs ...string) []*configv1.Server {
	var out []*configv1.Server
	for _, a := range addrs {
		out = append(out, &configv1.Server{Address: a, Weight: 1})
	}
	return out
}

// simpleApp serves domain with one upstream of the given servers.
func simpleApp(id, domain string, addrs ...string) *configv1.App {
	return &configv1.App{
		Id: id, Name: id, Domains: []string{domain},
		Upstreams: []*configv1.Upstream{{Id: id + "-up", Name: "main", Servers: servers(addrs...)}},
	}
}

// httpClient never reuses the transport of another test and trusts the
// proxy's self-signed certificate.
func httpClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // self-signed test cert
		ForceAttemptHTTP2: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       20 * time.Second,
	}
}

type result struct {
	status int
	header http.Header
	body   string
	echo   echoed
}

// do sends a request to base (the proxy's listener URL) with Host host.
func do(t *testing.T, c *http.Client, method, base, host, uri string, body string, hdr ...string) result {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+uri, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %s): %v", method, base+uri, host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	r := result{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(b, &r.echo)
	}
	return r
}

func httpBase(p *proxy.Proxy) string  { return "http://" + p.HTTPAddr().String() }
func httpsBase(p *proxy.Proxy) string { return "https://" + p.HTTPSAddr().String() }

// checkFor polls cond until it holds or the timeout passes.
func checkFor(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// closedAddr returns a 127.0.0.1 address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln := nettest.Listen(t)
	a := ln.Addr().String()
	ln.Close()
	return a
}

// both runs f against the plain (fasthttp) and the TLS (net/http) listener.
func both(t *testing.T, p *proxy.Proxy, f func(t *testing.T, base string)) {
	t.Run("http", func(t *testing.T) { f(t, httpBase(p)) })
	t.Run("https", func(t *testing.T) { f(t, httpsBase(p)) })
}

func proxyOpts() proxy.Options { return proxy.Options{} }

func snap(version uint64, apps ...*configv1.App) *syncv1.Snapshot {
	return &syncv1.Snapshot{Version: version, Apps: apps}
}

func portOf(t *testing.T, a net.Addr) uint32 {
	t.Helper()
	return uint32(a.(*net.TCPAddr).Port)
}

// http1Client speaks HTTP/1.1 only, also over TLS (HTTP/2 forbids
// connection-specific headers, which some tests send on purpose).
func http1Client(t *testing.T) *http.Client {
	t.Helper()
	c := httpClient(t)
	tr := c.Transport.(*http.Transport)
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	return c
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
