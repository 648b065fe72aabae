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

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

func sizeLimitedApp(upstream string, l *configv1.AppLimits) *configv1.App {
	a := simpleApp("lim", "lim.example.com", upstream)
	a.Limits = l
	return a
}

func TestRequestSizeLimits(t *testing.T) {
	up := newEcho(t, "up")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, sizeLimitedApp(up.addr(), &configv1.AppLimits{MaxRequestBodyBytes: 1024, MaxRequestHeaderBytes: 2048}),
		simpleApp("free", "free.example.com", up.addr()))
	both(t, p, func(t *testing.T, base string) {
		c := httpClient(t)
		if r := do(t, c, "POST", base, "lim.example.com", "/", strings.Repeat("a", 1024)); r.status != 200 || len(r.echo.Body) != 1024 {
			t.Fatalf("body at the limit: %d", r.status)
		}
		if r := do(t, c, "POST", base, "lim.example.com", "/", strings.Repeat("a", 1025)); r.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("body over the limit: %d, want 413", r.status)
		}
		if r := do(t, c, "GET", base, "lim.example.com", "/", "", "X-Big", strings.Repeat("b", 2100)); r.status != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("headers over the limit: %d, want 431", r.status)
		}
		if r := do(t, c, "GET", base, "lim.example.com", "/", "", "X-Big", strings.Repeat("b", 1500)); r.status != 200 {
			t.Fatalf("headers under the limit: %d", r.status)
		}
		// Another app on the same listener keeps the node's limits.
		if r := do(t, c, "POST", base, "free.example.com", "/", strings.Repeat("a", 5000), "X-Big", strings.Repeat("b", 2100)); r.status != 200 {
			t.Fatalf("app without limits: %d", r.status)
		}
	})
	// A body without a length (HTTP/2 over TLS) is cut at the limit.
	c := httpClient(t)
	req, _ := http.NewRequest("POST", httpsBase(p)+"/", io.MultiReader(strings.NewReader(strings.Repeat("a", 4000))))
	req.Host = "lim.example.com"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("streamed body over the limit: %d (%s), want 413", resp.StatusCode, resp.Proto)
	}
}

// handshake dials the proxy's TLS listener from the loopback address
// local and completes a handshake for name.
func handshake(t *testing.T, addr, local, name string) (*tls.Conn, error) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: name, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}) //nolint:gosec // self-signed test cert
	if err != nil {
		return nil, err
	}
	return c, nil
}

func TestTLSHandshakeRate(t *testing.T) {
	up := newEcho(t, "up")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, sizeLimitedApp(up.addr(), &configv1.AppLimits{TlsHandshakesPerSecond: 5, TlsHandshakeBurst: 5}))
	addr := p.HTTPSAddr().String()
	const flood = 40
	ok := 0
	start := time.Now()
	for range flood {
		c, err := handshake(t, addr, "127.0.0.2", "lim.example.com")
		if err == nil {
			ok++
			c.Close()
		}
	}
	elapsed := time.Since(start)
	// The bucket admits its burst plus 5 per second of the flood.
	if most := 5 + int(elapsed.Seconds()*5) + 1; ok > most || ok < 5 {
		t.Fatalf("%d of %d handshakes from 127.0.0.2 in %v succeeded, want 5..%d", ok, flood, elapsed, most)
	}
	if p.LimitRefusals() == 0 {
		t.Fatal("refusals not counted")
	}
	c, err := handshake(t, addr, "127.0.0.3", "lim.example.com")
	if err != nil {
		t.Fatalf("another client is refused during the flood: %v", err)
	}
	c.Close()
	t.Logf("flood from 127.0.0.2: %d of %d handshakes in %v succeeded; 127.0.0.3 connected", ok, flood, elapsed)
}

func TestConnsPerIP(t *testing.T) {
	up := newEcho(t, "up")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, sizeLimitedApp(up.addr(), &configv1.AppLimits{MaxConnsPerIp: 2}))
	addr := p.HTTPSAddr().String()
	a, err := handshake(t, addr, "127.0.0.4", "lim.example.com")
	if err != nil {
		t.Fatal(err)
	}
	b, err := handshake(t, addr, "127.0.0.4", "lim.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(t, addr, "127.0.0.4", "lim.example.com"); err == nil {
		t.Fatal("a third TLS connection from one client is admitted")
	}
	if c, err := handshake(t, addr, "127.0.0.5", "lim.example.com"); err != nil {
		t.Fatalf("another client: %v", err)
	} else {
		c.Close()
	}
	// The plain listener counts the same connections, at the first request.
	plain := func() (int, net.Conn) {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.4")}}
		c, err := d.Dial("tcp", p.HTTPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: lim.example.com\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, c
	}
	if st, c := plain(); st != http.StatusTooManyRequests {
		t.Fatalf("plain request over the limit: %d, want 429", st)
	} else {
		c.Close()
	}
	a.Close()
	var kept net.Conn
	checkFor(t, 5*time.Second, func() error {
		st, c := plain()
		if st != 200 {
			c.Close()
			return fmt.Errorf("status %d after a connection closed", st)
		}
		kept = c
		return nil
	})
	defer kept.Close()
	b.Close()
}
