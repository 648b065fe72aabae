package stream_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/stream"

	"github.com/strata-edge/strata/node/internal/nettest"
)

// freePort returns a TCP port that was free a moment ago.
func freePort(t testing.TB) uint32 {
	t.Helper()
	ln := nettest.Listen(t)
	defer ln.Close()
	return uint32(ln.Addr().(*net.TCPAddr).Port)
}

// echoServer answers every line with "name: line".
func echoServer(t testing.TB, name string) string {
	t.Helper()
	return echoServerAt(t, name, "127.0.0.1:0")
}

func echoServerAt(t testing.TB, name, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nettest.Serve(t, ln, nettest.LineEcho(name))
	return ln.Addr().String()
}

func tcpApp(id string, port uint32, servers ...string) *configv1.App {
	up := &configv1.Upstream{Id: id + "-up", Name: "origin", Retries: 2}
	for _, s := range servers {
		up.Servers = append(up.Servers, &configv1.Server{Address: s, Weight: 1})
	}
	return &configv1.App{
		Id: id, Name: id,
		Upstreams: []*configv1.Upstream{up},
		Role: &configv1.App_Stream{Stream: &configv1.StreamApp{
			Listeners: []*configv1.StreamListener{{Port: port, Protocol: configv1.StreamProtocol_STREAM_PROTOCOL_TCP}},
			Upstream:  "origin",
		}},
	}
}

func streamOf(a *configv1.App) *configv1.StreamApp { return a.GetStream() }

func newStream(t testing.TB, opts stream.Options) *stream.Stream {
	t.Helper()
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := stream.New(opts)
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s
}

var version uint64

func apply(t testing.TB, s *stream.Stream, apps ...*configv1.App) {
	t.Helper()
	if err := tryApply(s, apps...); err != nil {
		t.Fatal(err)
	}
}

func tryApply(s *stream.Stream, apps ...*configv1.App) error {
	version++
	commit, _, err := s.Prepare(&syncv1.Snapshot{Version: version, Apps: apps})
	if err != nil {
		return err
	}
	commit()
	return nil
}

func dialPort(t testing.TB, port uint32) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// say sends line and returns the answer line ("" and the error when none).
func say(c net.Conn, r *bufio.Reader, line string) (string, error) {
	if _, err := fmt.Fprintln(c, line); err != nil {
		return "", err
	}
	s, err := r.ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

func TestTCPEcho(t *testing.T) {
	s := newStream(t, stream.Options{})
	port := freePort(t)
	apply(t, s, tcpApp("a1", port, echoServer(t, "one")))
	c := dialPort(t, port)
	r := bufio.NewReader(c)
	for i := range 3 {
		got, err := say(c, r, fmt.Sprint("hello ", i))
		if err != nil || got != fmt.Sprint("one: hello ", i) {
			t.Fatalf("answer %q, %v", got, err)
		}
	}
	// Half-close: the server sees EOF and closes; we read EOF.
	c.(*net.TCPConn).CloseWrite()
	if b, err := io.ReadAll(r); err != nil || len(b) != 0 {
		t.Fatalf("after close write: %q, %v", b, err)
	}
	if st := s.Stats()["a1"]; st.Refused != 0 {
		t.Fatalf("refused %d", st.Refused)
	}
	waitFor(t, func() bool { return s.Stats()["a1"].Connections == 1 })
	if st := s.Stats()["a1"]; st.BytesIn == 0 || st.BytesOut == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func waitFor(t testing.TB, ok func() bool) {
	t.Helper()
	for range 500 {
		if ok() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met in 5 s")
}

func TestBalancingAndFailedServer(t *testing.T) {
	s := newStream(t, stream.Options{})
	port := freePort(t)
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t)) // nobody listens
	apply(t, s, tcpApp("a1", port, echoServer(t, "one"), dead, echoServer(t, "two")))
	seen := map[string]int{}
	for range 6 {
		c := dialPort(t, port)
		got, err := say(c, bufio.NewReader(c), "x")
		if err != nil {
			t.Fatal(err)
		}
		seen[strings.SplitN(got, ":", 2)[0]]++
		c.Close()
	}
	if seen["one"] == 0 || seen["two"] == 0 || len(seen) != 2 {
		t.Fatalf("servers answering: %v", seen)
	}
	waitFor(t, func() bool { return s.Stats()["a1"].UpstreamErrors[0] > 0 })
}

func TestNoServerRefuses(t *testing.T) {
	s := newStream(t, stream.Options{})
	port := freePort(t)
	apply(t, s, tcpApp("a1", port, fmt.Sprintf("127.0.0.1:%d", freePort(t))))
	if served(port) {
		t.Fatal("answered without a server")
	}
	waitFor(t, func() bool { return s.Stats()["a1"].Refused == 1 })
}

func TestUpdateKeepsConnection(t *testing.T) {
	s := newStream(t, stream.Options{})
	port := freePort(t)
	apply(t, s, tcpApp("a1", port, echoServer(t, "one")))
	c := dialPort(t, port)
	r := bufio.NewReader(c)
	if got, err := say(c, r, "a"); err != nil || got != "one: a" {
		t.Fatalf("%q %v", got, err)
	}
	apply(t, s, tcpApp("a1", port, echoServer(t, "two")))
	if got, err := say(c, r, "b"); err != nil || got != "one: b" {
		t.Fatalf("open connection after update: %q %v", got, err)
	}
	c2 := dialPort(t, port)
	if got, err := say(c2, bufio.NewReader(c2), "c"); err != nil || got != "two: c" {
		t.Fatalf("new connection after update: %q %v", got, err)
	}
}

func TestRemovedListenerDrains(t *testing.T) {
	s := newStream(t, stream.Options{})
	port := freePort(t)
	app := tcpApp("a1", port, echoServer(t, "one"))
	streamOf(app).DrainTimeoutMs = 300
	apply(t, s, app)
	c := dialPort(t, port)
	r := bufio.NewReader(c)
	if _, err := say(c, r, "a"); err != nil {
		t.Fatal(err)
	}
	apply(t, s) // the app is gone
	if _, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		t.Fatal("removed listener still accepts")
	}
	// Within the drain the connection works (and counts); after it, it
	// is closed.
	if got, err := say(c, r, "b"); err != nil || got != "one: b" {
		t.Fatalf("during drain: %q %v", got, err)
	}
	if n := s.OpenConnections(); n != 1 {
		t.Fatalf("open connections during the drain: %d", n)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("connection not closed after the drain: %v", err)
	}
	waitFor(t, func() bool { return s.OpenConnections() == 0 })
	// The port can be taken again.
	apply(t, s, tcpApp("a1", port, echoServer(t, "two")))
}

func TestMaxConnections(t *testing.T) {
	s := newStream(t, stream.Options{})
	port := freePort(t)
	app := tcpApp("a1", port, echoServer(t, "one"))
	streamOf(app).MaxConnections = 2
	apply(t, s, app)
	var open []net.Conn
	for range 2 {
		c := dialPort(t, port)
		if _, err := say(c, bufio.NewReader(c), "x"); err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	if served(port) {
		t.Fatal("third connection served over max_connections 2")
	}
	waitFor(t, func() bool { return s.Stats()["a1"].Refused == 1 })
	open[0].Close()
	waitFor(t, func() bool { return s.OpenConnections() == 1 })
	c := dialPort(t, port)
	if _, err := say(c, bufio.NewReader(c), "x"); err != nil {
		t.Fatalf("after one closed: %v", err)
	}
}

func TestBindErrorRejectsSnapshot(t *testing.T) {
	s := newStream(t, stream.Options{})
	taken := nettest.Listen(t)
	defer taken.Close()
	busy := uint32(taken.Addr().(*net.TCPAddr).Port)
	free := freePort(t)
	err := tryApply(s, tcpApp("a1", free, echoServer(t, "one")), tcpApp("a2", busy, echoServer(t, "two")))
	if err == nil || !strings.Contains(err.Error(), "a2") {
		t.Fatalf("apply with a taken port: %v", err)
	}
	// All or nothing: the free port was not kept open.
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", free))
	if err != nil {
		t.Fatalf("free port held after a failed apply: %v", err)
	}
	ln.Close()
}

func TestInvalidApps(t *testing.T) {
	s := newStream(t, stream.Options{})
	port := freePort(t)
	for name, mut := range map[string]func(*configv1.App){
		"no upstream": func(a *configv1.App) { streamOf(a).Upstream = "" },
		"unknown":     func(a *configv1.App) { streamOf(a).Upstream = "nope" },
		"port 0":      func(a *configv1.App) { streamOf(a).Listeners[0].Port = 0 },
		"bad cidr":    func(a *configv1.App) { streamOf(a).ProxyProtocolTrustedCidrs = []string{"x"} },
		"terminate":   func(a *configv1.App) { streamOf(a).TlsMode = configv1.StreamTlsMode_STREAM_TLS_MODE_TERMINATE },
		"routes no tls": func(a *configv1.App) {
			streamOf(a).SniRoutes = []*configv1.SniRoute{{ServerName: "a.b", Upstream: "origin"}}
		},
		"bad access": func(a *configv1.App) {
			streamOf(a).Access = &configv1.AccessControl{DenyCidrs: []string{"10.0.0.0/33"}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			a := tcpApp("a1", port, "127.0.0.1:1")
			mut(a)
			if err := tryApply(s, a); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestAccessControl(t *testing.T) {
	s := newStream(t, stream.Options{})
	port := freePort(t)
	app := tcpApp("a1", port, echoServer(t, "one"))
	streamOf(app).Access = &configv1.AccessControl{MaxConnectionsPerIp: 1}
	apply(t, s, app)
	c := dialPort(t, port)
	if _, err := say(c, bufio.NewReader(c), "x"); err != nil {
		t.Fatal(err)
	}
	if served(port) {
		t.Fatal("second connection from one IP over max_connections_per_ip 1")
	}
	// An update carries the open count: still refused.
	streamOf(app).IdleTimeoutMs = 60000
	apply(t, s, app)
	if served(port) {
		t.Fatal("refused IP admitted after a config update")
	}
	c.Close()
	streamOf(app).Access = &configv1.AccessControl{DenyCidrs: []string{"127.0.0.0/8"}}
	apply(t, s, app)
	if served(port) {
		t.Fatal("denied client served")
	}
	waitFor(t, func() bool { return s.Stats()["a1"].Refused == 3 })
}

// served reports whether a line sent to port gets an answer (a refused
// connection may be reset while connecting or closed at once).
func served(port uint32) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = say(c, bufio.NewReader(c), "x")
	return err == nil
}

func TestUDP(t *testing.T) {
	up := nettest.UDPEcho(t, "echo: ")
	s := newStream(t, stream.Options{})
	free, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint32(free.LocalAddr().(*net.UDPAddr).Port)
	free.Close()
	app := tcpApp("u1", port, up.String())
	streamOf(app).Listeners[0].Protocol = configv1.StreamProtocol_STREAM_PROTOCOL_UDP
	apply(t, s, app)
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	c.Write([]byte("ping"))
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "echo: ping" {
		t.Fatalf("%q %v", buf[:n], err)
	}
	waitFor(t, func() bool { st := s.Stats()["u1"]; return st.BytesIn == 4 && st.BytesOut == 10 })
}

func TestViaParent(t *testing.T) {
	// The parent node's listener is 127.0.0.1:port; this node binds
	// 127.0.0.2 with the same port.
	port := freePort(t)
	echoServerAt(t, "parent", fmt.Sprintf("127.0.0.1:%d", port))
	var parents []string
	var mu sync.Mutex
	s := newStream(t, stream.Options{Host: "127.0.0.2", Parents: func(string) []string {
		mu.Lock()
		defer mu.Unlock()
		return parents
	}})
	app := tcpApp("a1", port, echoServer(t, "origin"))
	streamOf(app).ViaParent = true
	if err := tryApply(s, app); err != nil {
		t.Skipf("cannot bind 127.0.0.2: %v", err)
	}
	ask := func() string {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.2:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		got, err := say(c, bufio.NewReader(c), "x")
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := ask(); got != "origin: x" {
		t.Fatalf("without parents: %q", got)
	}
	mu.Lock()
	parents = []string{"127.0.0.3", "127.0.0.1"} // the first is down; retries 2
	mu.Unlock()
	if got := ask(); got != "parent: x" {
		t.Fatalf("with parents: %q", got)
	}
	mu.Lock()
	parents = []string{"127.0.0.3"}
	mu.Unlock()
	if got := ask(); got != "origin: x" {
		t.Fatalf("parents down: %q", got)
	}
}

func TestIdleTimeout(t *testing.T) {
	s := newStream(t, stream.Options{})
	port := freePort(t)
	app := tcpApp("a1", port, echoServer(t, "one"))
	streamOf(app).IdleTimeoutMs = 300
	apply(t, s, app)
	c := dialPort(t, port)
	r := bufio.NewReader(c)
	// Traffic more often than the timeout keeps the connection.
	for i := range 8 {
		if got, err := say(c, r, fmt.Sprint(i)); err != nil || got != fmt.Sprint("one: ", i) {
			t.Fatalf("%q %v", got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Then silence closes it.
	if _, err := r.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
}

// TestIdleOneWay: a connection whose bytes flow one way only (a download)
// is not idle.
func TestIdleOneWay(t *testing.T) {
	ln := nettest.Listen(t)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		for range 12 {
			if _, err := c.Write([]byte("tick\n")); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	s := newStream(t, stream.Options{})
	port := freePort(t)
	app := tcpApp("a1", port, ln.Addr().String())
	streamOf(app).IdleTimeoutMs = 300
	apply(t, s, app)
	c := dialPort(t, port)
	b, err := io.ReadAll(c)
	if err != nil || strings.Count(string(b), "tick\n") != 12 {
		t.Fatalf("download cut: %q %v", b, err)
	}
}

// TestTCPHealthProbe: an enabled health check of a stream upstream is a
// TCP connect probe; a server that refuses is marked down and skipped
// without a retry.
func TestTCPHealthProbe(t *testing.T) {
	s := newStream(t, stream.Options{})
	port := freePort(t)
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	app := tcpApp("a1", port, echoServer(t, "one"), dead)
	up := app.Upstreams[0]
	up.Retries = 0
	up.HealthCheck = &configv1.HealthCheck{Enabled: true, IntervalMs: 50, TimeoutMs: 200, UnhealthyThreshold: 1, HealthyThreshold: 1,
		Path: "/ignored"}
	apply(t, s, app)
	waitFor(t, func() bool {
		for _, h := range s.ServerHealth() {
			if h.GetServer() == dead && !h.GetHealthy() && strings.Contains(h.GetReason(), "tcp connect") {
				return true
			}
		}
		return false
	})
	for range 4 {
		c := dialPort(t, port)
		if got, err := say(c, bufio.NewReader(c), "x"); err != nil || got != "one: x" {
			t.Fatalf("with the dead server marked down: %q %v", got, err)
		}
		c.Close()
	}
}

// TestEndpointSet: an upstream naming an endpoint set (Kubernetes
// endpoints, synced without releases) connects to the set's ready
// endpoints; a snapshot with the set changed moves new connections.
func TestEndpointSet(t *testing.T) {
	s := newStream(t, stream.Options{})
	port := freePort(t)
	one, two := echoServer(t, "one"), echoServer(t, "two")
	app := tcpApp("a1", port)
	app.Upstreams[0].Endpoints = "k8s.east.shop.db.5432"
	snap := func(ready, notReady string) *syncv1.Snapshot {
		version++
		return &syncv1.Snapshot{Version: version, Apps: []*configv1.App{app}, UpstreamEndpoints: []*configv1.UpstreamEndpoints{{
			Id: "k8s.east.shop.db.5432", Endpoints: []*configv1.Endpoint{{Address: ready, Ready: true}, {Address: notReady}}}}}
	}
	for _, c := range []struct{ ready, notReady, want string }{{one, two, "one"}, {two, one, "two"}} {
		commit, _, err := s.Prepare(snap(c.ready, c.notReady))
		if err != nil {
			t.Fatal(err)
		}
		commit()
		for range 3 {
			conn := dialPort(t, port)
			if got, err := say(conn, bufio.NewReader(conn), "hi"); err != nil || got != c.want+": hi" {
				t.Fatalf("with %s ready: %q %v", c.want, got, err)
			}
		}
	}
}
