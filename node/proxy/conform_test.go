package proxy_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node/proxy"

	"github.com/strata-edge/strata/node/internal/nettest"
)

// rawResult is a response to a request written byte for byte.
type rawResult struct {
	status int
	proto  string
	header http.Header
	body   string
	echo   echoed
}

// dialRaw opens a connection to the proxy's plain or TLS listener (HTTP/1.1).
func dialRaw(t *testing.T, p *proxy.Proxy, useTLS bool) net.Conn {
	t.Helper()
	var c net.Conn
	var err error
	if useTLS {
		c, err = tls.Dial("tcp", p.HTTPSAddr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}) //nolint:gosec // self-signed test cert
	} else {
		c, err = net.Dial("tcp", p.HTTPAddr().String())
	}
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// rawDo writes req (CRLF line ends) on c and reads one response.
func rawDo(t *testing.T, c net.Conn, br *bufio.Reader, req string) rawResult {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%q: read response: %v", req, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := rawResult{status: resp.StatusCode, proto: resp.Proto, header: resp.Header, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(b, &r.echo)
	}
	return r
}

func rawOnce(t *testing.T, p *proxy.Proxy, useTLS bool, req string) rawResult {
	t.Helper()
	c := dialRaw(t, p, useTLS)
	return rawDo(t, c, bufio.NewReader(c), req)
}

// bothRaw runs f against the fasthttp and the net/http listener.
func bothRaw(t *testing.T, f func(t *testing.T, useTLS bool)) {
	t.Run("fasthttp", func(t *testing.T) { f(t, false) })
	t.Run("net/http", func(t *testing.T) { f(t, true) })
}

// Issue 11.2: a deny rule on the normalized path must not be bypassed by
// dot segments or escapes that the upstream would see raw.
func TestDenyRuleNotBypassedByPathEncoding(t *testing.T) {
	u := newEcho(t, "u")
	p := startProxy(t, proxyOpts())
	app := simpleApp("a", "a.example.com", u.addr())
	app.Rules = []*configv1.Rule{{Name: "deny", When: "PathPrefix(`/admin`)", Actions: []*configv1.Action{{Action: &configv1.Action_Respond{
		Respond: &configv1.RespondAction{Status: 403}}}}}}
	mustUpdate(t, p, 1, app)
	bothRaw(t, func(t *testing.T, useTLS bool) {
		for _, tc := range []struct{ path, upstream string }{
			{"/admin/../secret", "/secret"},
			{"/admin/%2e%2e/secret", "/secret"},
			{"/admin/..%2fsecret", "/secret"},
			{"/admin/%2E%2E%2Fsecret?x=1", "/secret?x=1"},
			{"/a/./b//c", "/a/b/c"},
			{"/%61pi/x%20y", "/api/x%20y"},
			{"/plain/path?q=%2e%2e", "/plain/path?q=%2e%2e"},
		} {
			r := rawOnce(t, p, useTLS, "GET "+tc.path+" HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
			if r.status != 200 || r.echo.URI != tc.upstream {
				t.Errorf("%s: status %d, upstream got %q, want 200 and %q", tc.path, r.status, r.echo.URI, tc.upstream)
			}
		}
		for _, path := range []string{"/admin/x", "/x/../admin/", "/%61dmin", "//admin", "/admin%2f"} {
			if r := rawOnce(t, p, useTLS, "GET "+path+" HTTP/1.1\r\nHost: a.example.com\r\n\r\n"); r.status != 403 {
				t.Errorf("%s: status %d, want 403", path, r.status)
			}
		}
	})
}

// http10Upstream answers every request as an HTTP/1.0 server does (python3
// -m http.server): an HTTP/1.0 status line, then it closes the connection.
// With length false the body is delimited by the close alone.
func http10Upstream(t *testing.T, length bool) string {
	t.Helper()
	ln := nettest.Listen(t)
	nettest.Serve(t, ln, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		body := "hello from " + req.URL.Path
		hdr := "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3\r\nContent-Type: text/plain\r\n"
		if length {
			hdr += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
		}
		_, _ = io.WriteString(c, hdr+"\r\n"+body)
	})
	return ln.Addr().String()
}

// Issue 13.2: the client keeps HTTP/1.1 and its keep-alive connection
// whatever protocol the upstream speaks.
func TestHTTP10UpstreamKeepsClientKeepAlive(t *testing.T) {
	for _, length := range []bool{true, false} {
		t.Run("length="+strconv.FormatBool(length), func(t *testing.T) {
			p := startProxy(t, proxyOpts())
			mustUpdate(t, p, 1, simpleApp("a", "a.example.com", http10Upstream(t, length)))
			bothRaw(t, func(t *testing.T, useTLS bool) {
				c := dialRaw(t, p, useTLS)
				br := bufio.NewReader(c)
				for i := range 3 {
					path := "/r" + strconv.Itoa(i)
					r := rawDo(t, c, br, "GET "+path+" HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
					if r.status != 200 || r.proto != "HTTP/1.1" || r.body != "hello from "+path {
						t.Fatalf("request %d: %s %d %q, want HTTP/1.1 200 %q", i, r.proto, r.status, r.body, "hello from "+path)
					}
					if cl := r.header.Get("Connection"); strings.EqualFold(cl, "close") {
						t.Fatalf("request %d: response has Connection: close", i)
					}
				}
			})
		})
	}
}

// Issue 11.5: malformed requests are refused as nginx 1.22 refuses them
// (checked against Debian's nginx), never forwarded.
func TestMalformedRequestsRefused(t *testing.T) {
	u := newEcho(t, "u")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", u.addr()))
	bothRaw(t, func(t *testing.T, useTLS bool) {
		for _, tc := range []struct {
			req    string
			status int
		}{
			{"GET / HTTP/1.1\r\nHost: a.example.com\r\nContent Length: 5\r\n\r\n", 400},
			{"GET / HTTP/1.1\r\nHost: a.example.com\r\nX-A\x01: 1\r\n\r\n", 400},
			{"CONNECT a.example.com:443 HTTP/1.1\r\nHost: a.example.com:443\r\n\r\n", 400},
			{"OPTIONS * HTTP/1.1\r\nHost: a.example.com\r\n\r\n", 400},
		} {
			r := rawOnce(t, p, useTLS, tc.req)
			if r.status != tc.status || r.echo.Server != "" {
				t.Errorf("%q: status %d (upstream reached: %v), want %d", tc.req, r.status, r.echo.Server != "", tc.status)
			}
		}
		// HTTP/2.0 on an HTTP/1.1 connection: 505, as nginx (net/http
		// answers it itself, before any handler).
		if r := rawOnce(t, p, useTLS, "GET / HTTP/2.0\r\nHost: a.example.com\r\n\r\n"); r.status != 505 || r.echo.Server != "" {
			t.Errorf("HTTP/2.0 request line: status %d, want 505", r.status)
		}
		// Underscore names are dropped (nginx's underscores_in_headers off).
		r := rawOnce(t, p, useTLS, "POST / HTTP/1.1\r\nHost: a.example.com\r\nContent-Length: 2\r\nTransfer_Encoding: chunked\r\nX_Api_Key: k\r\nX-Ok: 1\r\n\r\nhi")
		if r.status != 200 || r.echo.Body != "hi" || r.echo.Header.Get("X-Ok") != "1" {
			t.Fatalf("underscore headers: status %d body %q", r.status, r.echo.Body)
		}
		for k := range r.echo.Header {
			if strings.Contains(k, "_") {
				t.Errorf("upstream got header %q", k)
			}
		}
	})
}

// Issue 11.5: an absolute-form target names the app by its authority
// (RFC 9112 3.2.2), whatever the Host header says.
func TestAbsoluteFormRoutesByAuthority(t *testing.T) {
	ua, ub := newEcho(t, "a"), newEcho(t, "b")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", ua.addr()), simpleApp("b", "b.example.com", ub.addr()))
	bothRaw(t, func(t *testing.T, useTLS bool) {
		scheme := "http"
		if useTLS {
			scheme = "https"
		}
		r := rawOnce(t, p, useTLS, "GET "+scheme+"://b.example.com/x/../y?q=1 HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
		if r.status != 200 || r.echo.Server != "b" || r.echo.URI != "/y?q=1" || r.echo.Host != "b.example.com" {
			t.Fatalf("status %d, server %q, uri %q, host %q; want 200 from b, /y?q=1, b.example.com", r.status, r.echo.Server, r.echo.URI, r.echo.Host)
		}
	})
}
