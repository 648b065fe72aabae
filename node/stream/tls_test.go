package stream_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node/stream"
	"github.com/strata-edge/strata/pkg/certtest"

	"github.com/strata-edge/strata/node/internal/nettest"
)

// ppServer is an upstream behind a go-proxyproto listener: it answers
// every line with the client address the PROXY header gave ("none" when
// there was no header).
func ppServer(t *testing.T) string {
	t.Helper()
	raw := nettest.Listen(t)
	ln := &proxyproto.Listener{Listener: raw, ReadHeaderTimeout: 5 * time.Second}
	nettest.Serve(t, ln, func(c net.Conn) {
		pc := c.(*proxyproto.Conn)
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			src := "none"
			if h := pc.ProxyHeader(); h != nil {
				src = fmt.Sprintf("v%d %s", h.Version, h.SourceAddr)
			}
			fmt.Fprintf(c, "%s\n", src)
		}
	})
	return raw.Addr().String()
}

func TestProxyProtocolSent(t *testing.T) {
	for _, v := range []configv1.ProxyProtocolVersion{configv1.ProxyProtocolVersion_PROXY_PROTOCOL_VERSION_V1, configv1.ProxyProtocolVersion_PROXY_PROTOCOL_VERSION_V2} {
		t.Run(v.String(), func(t *testing.T) {
			s := newStream(t, stream.Options{})
			port := freePort(t)
			app := tcpApp("a1", port, ppServer(t))
			streamOf(app).SendProxyProtocol = v
			apply(t, s, app)
			c := dialPort(t, port)
			got, err := say(c, bufio.NewReader(c), "x")
			want := fmt.Sprintf("v%d %s", v, c.LocalAddr())
			if err != nil || got != want {
				t.Fatalf("upstream saw %q (%v), want %q", got, err, want)
			}
		})
	}
}

func TestProxyProtocolAccepted(t *testing.T) {
	s := newStream(t, stream.Options{})
	port := freePort(t)
	app := tcpApp("a1", port, ppServer(t))
	streamOf(app).SendProxyProtocol = configv1.ProxyProtocolVersion_PROXY_PROTOCOL_VERSION_V2
	streamOf(app).ProxyProtocolTrustedCidrs = []string{"127.0.0.0/8"}
	apply(t, s, app)
	client, _ := net.ResolveTCPAddr("tcp", "203.0.113.7:4242")
	for _, ver := range []byte{1, 2} {
		c := dialPort(t, port)
		h := proxyproto.HeaderProxyFromAddrs(ver, client, c.RemoteAddr())
		if _, err := h.WriteTo(c); err != nil {
			t.Fatal(err)
		}
		got, err := say(c, bufio.NewReader(c), "x")
		if err != nil || got != "v2 203.0.113.7:4242" {
			t.Fatalf("header v%d: upstream saw %q (%v)", ver, got, err)
		}
	}
	// A trusted peer without a header is refused.
	if served(port) {
		t.Fatal("trusted peer without a header served")
	}
	// An untrusted peer: served as itself without a header, refused with one.
	streamOf(app).ProxyProtocolTrustedCidrs = []string{"10.0.0.0/8"}
	apply(t, s, app)
	c := dialPort(t, port)
	if got, err := say(c, bufio.NewReader(c), "x"); err != nil || !strings.HasPrefix(got, "v2 127.0.0.1:") {
		t.Fatalf("untrusted without header: %q %v", got, err)
	}
	c = dialPort(t, port)
	proxyproto.HeaderProxyFromAddrs(1, client, c.RemoteAddr()).WriteTo(c)
	if _, err := say(c, bufio.NewReader(c), "x"); err == nil {
		t.Fatal("header from an untrusted peer accepted")
	}
	waitFor(t, func() bool { return s.Stats()["a1"].Refused == 2 })
}

// tlsServer is a TLS upstream answering every line with its name.
func tlsServer(t *testing.T, name string, cert tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	nettest.Serve(t, ln, nettest.LineEcho(name))
	return ln.Addr().String()
}

func leaf(t *testing.T, set *certtest.Set, names ...string) tls.Certificate {
	t.Helper()
	c, chain := set.Leaf(t, certtest.Options{DNSNames: names})
	cert, err := tls.X509KeyPair([]byte(chain), []byte(c.KeyPEM(t)))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func tlsDial(t *testing.T, port uint32, name string, roots *x509.CertPool) (*tls.Conn, error) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port),
		&tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, nil
}

func TestTerminate(t *testing.T) {
	set := certtest.NewSet(t)
	cert := leaf(t, set, "a.example.com", "other.example.net")
	s := newStream(t, stream.Options{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }})
	port := freePort(t)
	app := tcpApp("a1", port, echoServer(t, "plain"))
	app.Domains = []string{"a.example.com"}
	streamOf(app).TlsMode = configv1.StreamTlsMode_STREAM_TLS_MODE_TERMINATE
	apply(t, s, app)
	c, err := tlsDial(t, port, "a.example.com", roots(set))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := say(c, bufio.NewReader(c), "hi"); err != nil || got != "plain: hi" {
		t.Fatalf("%q %v", got, err)
	}
	// A name that is not the app's: no certificate.
	if _, err := tlsDial(t, port, "other.example.net", roots(set)); err == nil {
		t.Fatal("handshake for a name outside the app's domains")
	}
}

func TestPassthrough(t *testing.T) {
	set := certtest.NewSet(t)
	a := tlsServer(t, "A", leaf(t, set, "a.example.com"))
	b := tlsServer(t, "B", leaf(t, set, "x.b.example.com"))
	s := newStream(t, stream.Options{})
	port := freePort(t)
	app := tcpApp("a1", port)
	app.Upstreams = []*configv1.Upstream{
		{Id: "ua", Name: "a", Servers: []*configv1.Server{{Address: a, Weight: 1}}},
		{Id: "ub", Name: "b", Servers: []*configv1.Server{{Address: b, Weight: 1}}},
	}
	sa := streamOf(app)
	sa.Upstream = ""
	sa.TlsMode = configv1.StreamTlsMode_STREAM_TLS_MODE_PASSTHROUGH
	sa.SniRoutes = []*configv1.SniRoute{{ServerName: "a.example.com", Upstream: "a"}, {ServerName: "*.b.example.com", Upstream: "b"}}
	apply(t, s, app)
	for name, want := range map[string]string{"a.example.com": "A", "x.b.example.com": "B"} {
		// The client verifies the upstream's certificate: the bytes went
		// through untouched, end to end.
		c, err := tlsDial(t, port, name, roots(set))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, err := say(c, bufio.NewReader(c), "hi"); err != nil || got != want+": hi" {
			t.Fatalf("%s: %q %v", name, got, err)
		}
	}
	for _, name := range []string{"unknown.example.com", "y.x.b.example.com", "b.example.com"} {
		if _, err := tlsDial(t, port, name, roots(set)); err == nil {
			t.Fatalf("%s: unknown name not refused", name)
		}
	}
	// Plain bytes are no ClientHello.
	if served(port) {
		t.Fatal("plain text served by an SNI listener")
	}
	waitFor(t, func() bool { return s.Stats()["a1"].Refused == 4 })
}

func roots(set *certtest.Set) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(set.Root.Cert)
	return p
}

// TestTerminateRoutes: after TLS termination the server name picks the
// upstream too.
func TestTerminateRoutes(t *testing.T) {
	set := certtest.NewSet(t)
	cert := leaf(t, set, "a.example.com", "b.example.com")
	s := newStream(t, stream.Options{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }})
	port := freePort(t)
	app := tcpApp("a1", port, echoServer(t, "default"))
	app.Upstreams = append(app.Upstreams, &configv1.Upstream{Id: "ub", Name: "b", Servers: []*configv1.Server{{Address: echoServer(t, "b"), Weight: 1}}})
	streamOf(app).TlsMode = configv1.StreamTlsMode_STREAM_TLS_MODE_TERMINATE
	streamOf(app).SniRoutes = []*configv1.SniRoute{{ServerName: "b.example.com", Upstream: "b"}}
	apply(t, s, app)
	for name, want := range map[string]string{"a.example.com": "default: hi", "b.example.com": "b: hi"} {
		c, err := tlsDial(t, port, name, roots(set))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := say(c, bufio.NewReader(c), "hi"); err != nil || got != want {
			t.Fatalf("%s: %q %v", name, got, err)
		}
	}
}
