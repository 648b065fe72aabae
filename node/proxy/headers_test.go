package proxy_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/strata-edge/strata/node/proxy"

	"github.com/strata-edge/strata/node/internal/nettest"
)

func TestForwardingHeaders(t *testing.T) {
	u := newEcho(t, "u")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", u.addr()))
	c := http1Client(t)
	both(t, p, func(t *testing.T, base string) {
		scheme := strings.SplitN(base, ":", 2)[0]
		r := do(t, c, "GET", base, "a.example.com:8443", "/p?q=1", "",
			"X-Forwarded-For", "203.0.113.7",
			"X-Forwarded-Proto", "spoofed",
			"Via", "1.0 corp-proxy",
			"Keep-Alive", "timeout=5",
			"Proxy-Authorization", "Basic eA==",
			"Connection", "X-Hop",
			"X-Hop", "secret",
			"X-End", "kept",
		)
		h := r.echo.Header
		if r.status != 200 {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		if got := h.Get("X-Forwarded-For"); got != "203.0.113.7, 127.0.0.1" {
			t.Errorf("X-Forwarded-For %q", got)
		}
		if got := h.Get("X-Forwarded-Proto"); got != scheme {
			t.Errorf("X-Forwarded-Proto %q, want %q", got, scheme)
		}
		if got := h.Get("X-Forwarded-Host"); got != "a.example.com:8443" {
			t.Errorf("X-Forwarded-Host %q", got)
		}
		if got := h.Get("Via"); !strings.HasPrefix(got, "1.0 corp-proxy, ") || !strings.HasSuffix(got, " strata") {
			t.Errorf("Via %q", got)
		}
		if r.echo.Host != "a.example.com:8443" {
			t.Errorf("upstream Host %q, want the client's", r.echo.Host)
		}
		for _, hop := range []string{"Keep-Alive", "Proxy-Authorization", "X-Hop"} {
			if v := h.Get(hop); v != "" {
				t.Errorf("hop-by-hop %s reached the upstream: %q", hop, v)
			}
		}
		if h.Get("X-End") != "kept" {
			t.Errorf("end-to-end header lost")
		}
		if r.echo.URI != "/p?q=1" {
			t.Errorf("URI %q", r.echo.URI)
		}
	})
}

// rawUpstream answers every request on a connection with the given raw
// response (keep-alive), so tests control hop-by-hop response headers.
func rawUpstream(t *testing.T, resp string) string {
	t.Helper()
	ln := nettest.Listen(t)
	nettest.Serve(t, ln, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	})
	return ln.Addr().String()
}

func TestResponseHopByHopRemoved(t *testing.T) {
	addr := rawUpstream(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Private, keep-alive\r\nX-Private: 1\r\nKeep-Alive: timeout=3\r\nX-Public: 1\r\n\r\nok")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", addr))
	both(t, p, func(t *testing.T, base string) {
		r := do(t, httpClient(t), "GET", base, "a.example.com", "/", "")
		if r.status != 200 || r.body != "ok" {
			t.Fatalf("%d %q", r.status, r.body)
		}
		for _, hop := range []string{"X-Private", "Keep-Alive"} {
			if r.header.Get(hop) != "" {
				t.Errorf("%s passed to the client", hop)
			}
		}
		if r.header.Get("X-Public") != "1" {
			t.Errorf("X-Public lost")
		}
	})
}

func TestUpstreamConnectionCloseDoesNotCloseClient(t *testing.T) {
	addr := rawUpstream(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", addr))
	conn, err := net.Dial("tcp", p.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for i := 0; i < 3; i++ {
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d on one client connection: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "ok" || resp.Close {
			t.Fatalf("request %d: %d %q close=%v", i, resp.StatusCode, b, resp.Close)
		}
	}
}

func TestChunkedRequestAndResponse(t *testing.T) {
	u := newEcho(t, "u")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", u.addr()))
	conn, err := net.Dial("tcp", p.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /c HTTP/1.1\r\nHost: a.example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"body":"hello world"`) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

func TestRequestBodyLimit(t *testing.T) {
	u := newEcho(t, "u")
	p := startProxy(t, proxy.Options{MaxRequestBodyBytes: 1000})
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", u.addr()))
	c := httpClient(t)
	both(t, p, func(t *testing.T, base string) {
		if r := do(t, c, "POST", base, "a.example.com", "/", strings.Repeat("x", 1000)); r.status != 200 {
			t.Fatalf("body at the limit: %d %q", r.status, r.body)
		}
		r := do(t, c, "POST", base, "a.example.com", "/", strings.Repeat("x", 1001))
		if r.status != 413 || !strings.Contains(r.body, "larger than 1000 bytes") {
			t.Fatalf("body over the limit: %d %q", r.status, r.body)
		}
	})
	// Chunked (no length announced) over the TLS listener.
	req, _ := http.NewRequest("POST", httpsBase(p)+"/", io.MultiReader(strings.NewReader(strings.Repeat("y", 2000))))
	req.Host = "a.example.com"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("chunked body over the limit on https: %d", resp.StatusCode)
	}
}

func TestSlowHeadersAreCut(t *testing.T) {
	u := newEcho(t, "u")
	p := startProxy(t, proxy.Options{ReadHeaderTimeout: 300 * time.Millisecond})
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", u.addr()))
	dials := map[string]func() (net.Conn, error){
		"http": func() (net.Conn, error) { return net.Dial("tcp", p.HTTPAddr().String()) },
		"https": func() (net.Conn, error) {
			return tls.Dial("tcp", p.HTTPSAddr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}) //nolint:gosec // test
		},
	}
	for name, dial := range dials {
		conn, err := dial()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: a.example.com\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		// Keep trickling bytes like a slowloris client; the server must
		// close the connection although bytes keep arriving.
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.Copy(io.Discard, conn)
		}()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
	loop:
		for {
			select {
			case <-closed:
				break loop
			case <-tick.C:
				if _, err := conn.Write([]byte("a")); err != nil {
					<-closed
					break loop
				}
			}
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%s: slow client kept the connection for %v", name, d)
		}
	}
}

// MaxHeaderBytes holds on both listeners over HTTP/1.1 (net/http alone
// would allow 4 KiB more; HTTP/2 advertises its own limit) and on both
// engines (STRATA_TEST_HTTP_ENGINE).
func TestHeaderTooLarge(t *testing.T) {
	u := newEcho(t, "u")
	p := startProxy(t, proxy.Options{MaxHeaderBytes: 4096})
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", u.addr()))
	c := httpClient(t)
	tr := c.Transport.(*http.Transport)
	tr.ForceAttemptHTTP2, tr.TLSNextProto = false, map[string]func(string, *tls.Conn) http.RoundTripper{}
	both(t, p, func(t *testing.T, base string) {
		if r := do(t, c, "GET", base, "a.example.com", "/", "", "X-Big", strings.Repeat("b", 3000)); r.status != 200 {
			t.Fatalf("headers under the limit: %d %q", r.status, r.body)
		}
		for _, n := range []int{5000, 8000} {
			r := do(t, c, "GET", base, "a.example.com", "/", "", "X-Big", strings.Repeat("b", n))
			if r.status != 431 {
				t.Fatalf("%d-byte header: status %d %q, want 431", n, r.status, r.body)
			}
		}
	})
}
