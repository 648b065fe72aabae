package proxy_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/strata-edge/strata/node/internal/nettest"
)

// bodyUpstream serves /len/N (Content-Length), /chunked/N (chunked),
// /head (HEAD-able), /nocontent (204) with deterministic bytes.
func bodyUpstream(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		switch {
		case r.URL.Path == "/nocontent":
			w.WriteHeader(204)
			return
		case len(r.URL.Path) > 5 && r.URL.Path[:5] == "/len/":
			n, _ = strconv.Atoi(r.URL.Path[5:])
			w.Header().Set("Content-Length", strconv.Itoa(n))
		case len(r.URL.Path) > 9 && r.URL.Path[:9] == "/chunked/":
			n, _ = strconv.Atoi(r.URL.Path[9:])
		default:
			n = 10
			w.Header().Set("Content-Length", "10")
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		bw := bufio.NewWriterSize(w, 4096)
		for i := 0; i < n; i++ {
			_ = bw.WriteByte(byte('a' + i%26))
		}
		_ = bw.Flush()
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

func TestResponseBodies(t *testing.T) {
	addr := bodyUpstream(t)
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", addr))
	c := httpClient(t)
	both(t, p, func(t *testing.T, base string) {
		for _, uri := range []string{"/len/0", "/len/1000", "/len/262144", "/len/262145", "/len/3000000", "/chunked/10", "/chunked/700000"} {
			t.Run(uri, func(t *testing.T) {
				for i := 0; i < 2; i++ { // twice: the connection must be reusable
					r := do(t, c, "GET", base, "a.example.com", uri, "")
					var n int
					fmt.Sscanf(uri[len(uri)-len(lastSeg(uri)):], "%d", &n)
					if r.status != 200 || sha256.Sum256([]byte(r.body)) != sha256.Sum256(pattern(n)) {
						t.Fatalf("status %d, %d bytes, want %d bytes of the pattern", r.status, len(r.body), n)
					}
				}
			})
		}
		t.Run("head", func(t *testing.T) {
			r := do(t, c, "HEAD", base, "a.example.com", "/len/5000", "")
			if r.status != 200 || r.body != "" || r.header.Get("Content-Length") != "5000" {
				t.Fatalf("HEAD: %d %q CL %q", r.status, r.body, r.header.Get("Content-Length"))
			}
			if r := do(t, c, "GET", base, "a.example.com", "/len/3", ""); r.body != "abc" {
				t.Fatalf("GET after HEAD: %q", r.body)
			}
		})
		t.Run("204", func(t *testing.T) {
			if r := do(t, c, "GET", base, "a.example.com", "/nocontent", ""); r.status != 204 || r.body != "" {
				t.Fatalf("%d %q", r.status, r.body)
			}
		})
	})
}

func lastSeg(uri string) string {
	i := len(uri) - 1
	for i >= 0 && uri[i] != '/' {
		i--
	}
	return uri[i+1:]
}

func TestBodyUntilClose(t *testing.T) {
	// HTTP/1.0-style response: no length, body ends when the upstream
	// closes the connection.
	ln := nettest.Listen(t)
	body := bytes.Repeat([]byte("0123456789"), 50000)
	nettest.Serve(t, ln, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
		_, _ = c.Write(body)
	})
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", ln.Addr().String()))
	both(t, p, func(t *testing.T, base string) {
		for i := 0; i < 2; i++ {
			r := do(t, httpClient(t), "GET", base, "a.example.com", "/", "")
			if r.status != 200 || r.body != string(body) {
				t.Fatalf("status %d, %d bytes, want %d", r.status, len(r.body), len(body))
			}
		}
	})
}
