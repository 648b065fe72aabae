package udpproxy_test

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node/netguard"
	"github.com/strata-edge/strata/node/stream/udpproxy"

	"github.com/strata-edge/strata/node/internal/nettest"
)

// echo is a UDP upstream answering each datagram with prefix+datagram.
func echo(t testing.TB, prefix string) string { return nettest.UDPEcho(t, prefix).String() }

func start(t testing.TB, cfg udpproxy.Config) (*udpproxy.Proxy, string) {
	t.Helper()
	pc := nettest.UDP(t)
	p := udpproxy.New(pc, cfg)
	done := make(chan error, 1)
	go func() { done <- p.Serve() }()
	t.Cleanup(func() {
		p.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return p, pc.LocalAddr().String()
}

func fixed(addr string) func(netip.AddrPort) (string, error) {
	return func(netip.AddrPort) (string, error) { return addr, nil }
}

func client(t testing.TB, proxy string) *net.UDPConn {
	t.Helper()
	ra, _ := net.ResolveUDPAddr("udp", proxy)
	c, err := net.DialUDP("udp", nil, ra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends msg until a reply arrives (UDP may drop), at most 20 tries.
func roundTrip(t testing.TB, c *net.UDPConn, msg []byte) []byte {
	t.Helper()
	buf := make([]byte, 70000)
	for range 20 {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := c.Read(buf)
		if err == nil {
			return buf[:n]
		}
	}
	t.Fatalf("no reply to %q", msg[:min(len(msg), 20)])
	return nil
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestEcho(t *testing.T) {
	var in, out atomic.Int64
	p, addr := start(t, udpproxy.Config{
		Pick:    fixed(echo(t, "A:")),
		OnBytes: func(i, o int) { in.Add(int64(i)); out.Add(int64(o)) },
	})
	c := client(t, addr)
	if got := roundTrip(t, c, []byte("hello")); string(got) != "A:hello" {
		t.Fatalf("got %q", got)
	}
	big := bytes.Repeat([]byte("x"), 60000) // a large datagram passes whole
	if got := roundTrip(t, c, big); len(got) != 60002 {
		t.Fatalf("large datagram: got %d bytes", len(got))
	}
	if p.Sessions() != 1 {
		t.Fatalf("sessions = %d", p.Sessions())
	}
	// OnBytes(in) runs after the write that the reply may overtake.
	eventually(t, "byte counts", func() bool { return in.Load() >= 60005 && out.Load() >= 60009 })
}

func TestUpstreamByName(t *testing.T) {
	up := echo(t, "N:")
	_, port, _ := net.SplitHostPort(up)
	_, addr := start(t, udpproxy.Config{Pick: fixed("localhost:" + port)})
	c := client(t, addr)
	if got := roundTrip(t, c, []byte("x")); string(got) != "N:x" {
		t.Fatalf("got %q", got)
	}
}

func TestTwoClients(t *testing.T) {
	a, b := echo(t, "A:"), echo(t, "B:")
	var n atomic.Int32
	p, addr := start(t, udpproxy.Config{Pick: func(netip.AddrPort) (string, error) {
		if n.Add(1) == 1 {
			return a, nil
		}
		return b, nil
	}})
	c1, c2 := client(t, addr), client(t, addr)
	if got := roundTrip(t, c1, []byte("one")); string(got) != "A:one" {
		t.Fatalf("client 1 got %q", got)
	}
	if got := roundTrip(t, c2, []byte("two")); string(got) != "B:two" {
		t.Fatalf("client 2 got %q", got)
	}
	// Each client stays on its session's upstream.
	for i := range 5 {
		msg := fmt.Appendf(nil, "m%d", i)
		if got := roundTrip(t, c1, msg); string(got) != "A:"+string(msg) {
			t.Fatalf("client 1 got %q", got)
		}
		if got := roundTrip(t, c2, msg); string(got) != "B:"+string(msg) {
			t.Fatalf("client 2 got %q", got)
		}
	}
	if p.Sessions() != 2 {
		t.Fatalf("sessions = %d", p.Sessions())
	}
}

func TestIdleExpiry(t *testing.T) {
	var open, closed atomic.Int32
	p, addr := start(t, udpproxy.Config{
		Pick:        fixed(echo(t, "")),
		IdleTimeout: 100 * time.Millisecond,
		OnSession: func(o bool) {
			if o {
				open.Add(1)
			} else {
				closed.Add(1)
			}
		},
	})
	c := client(t, addr)
	roundTrip(t, c, []byte("x"))
	// The session leaves the table, then OnSession reports its end.
	eventually(t, "idle session to end", func() bool { return p.Sessions() == 0 && closed.Load() == 1 })
	if open.Load() != 1 || closed.Load() != 1 {
		t.Fatalf("open %d closed %d", open.Load(), closed.Load())
	}
	roundTrip(t, c, []byte("again")) // a new session
	if open.Load() != 2 {
		t.Fatalf("open %d", open.Load())
	}
}

func TestMaxSessions(t *testing.T) {
	var drops sync.Map
	p, addr := start(t, udpproxy.Config{
		Pick:        fixed(echo(t, "")),
		MaxSessions: 2,
		OnDrop:      func(r string) { drops.Store(r, true) },
	})
	c1, c2, c3 := client(t, addr), client(t, addr), client(t, addr)
	roundTrip(t, c1, []byte("1"))
	roundTrip(t, c2, []byte("2"))
	c3.Write([]byte("3"))
	eventually(t, "the third client to be dropped", func() bool { return p.Dropped() > 0 })
	if _, ok := drops.Load(udpproxy.DropFull); !ok {
		t.Fatal("no full drop reported")
	}
	if p.Sessions() != 2 {
		t.Fatalf("sessions = %d", p.Sessions())
	}
	// Live sessions were not evicted.
	roundTrip(t, c1, []byte("1"))
	roundTrip(t, c2, []byte("2"))
}

func TestAdmit(t *testing.T) {
	g, err := netguard.New(&configv1.AccessControl{DenyCidrs: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	var denied atomic.Int32
	p, addr := start(t, udpproxy.Config{
		Pick:   fixed(echo(t, "")),
		Admit:  g.Admit,
		OnDrop: func(r string) { denied.Add(1) },
	})
	client(t, addr).Write([]byte("x"))
	eventually(t, "a denied datagram", func() bool { return denied.Load() > 0 })
	if p.Sessions() != 0 {
		t.Fatal("a denied client has a session")
	}

	// max_connections_per_ip counts sessions and frees the slot on close.
	g2, _ := netguard.New(&configv1.AccessControl{MaxConnectionsPerIp: 1})
	p.Update(udpproxy.Config{Pick: fixed(echo(t, "")), Admit: g2.Admit, IdleTimeout: 100 * time.Millisecond})
	c := client(t, addr)
	roundTrip(t, c, []byte("y"))
	ip := netip.MustParseAddr("127.0.0.1")
	if g2.Open(ip) != 1 {
		t.Fatalf("open = %d", g2.Open(ip))
	}
	eventually(t, "the session's release", func() bool { return g2.Open(ip) == 0 })
}

func TestUpdateKeepsSessions(t *testing.T) {
	a, b := echo(t, "A:"), echo(t, "B:")
	p, addr := start(t, udpproxy.Config{Pick: fixed(a)})
	old := client(t, addr)
	roundTrip(t, old, []byte("x"))
	p.Update(udpproxy.Config{Pick: fixed(b)})
	if got := roundTrip(t, old, []byte("y")); string(got) != "A:y" {
		t.Fatalf("existing session moved: %q", got)
	}
	if got := roundTrip(t, client(t, addr), []byte("z")); string(got) != "B:z" {
		t.Fatalf("new session on old config: %q", got)
	}
}

func TestCloseFreesGoroutines(t *testing.T) {
	up := echo(t, "")
	before := runtime.NumGoroutine()
	pc := nettest.UDP(t)
	p := udpproxy.New(pc, udpproxy.Config{Pick: fixed(up)})
	done := make(chan error, 1)
	go func() { done <- p.Serve() }()
	var cs []*net.UDPConn
	for range 20 {
		c := client(t, pc.LocalAddr().String())
		roundTrip(t, c, []byte("x"))
		cs = append(cs, c)
	}
	if p.Sessions() != 20 {
		t.Fatalf("sessions = %d", p.Sessions())
	}
	p.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p.Sessions() != 0 {
		t.Fatalf("sessions after close = %d", p.Sessions())
	}
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	p.Close() // twice is fine
}

func TestNoPick(t *testing.T) {
	var reason atomic.Value
	p, addr := start(t, udpproxy.Config{
		Pick:   func(netip.AddrPort) (string, error) { return "", fmt.Errorf("no healthy upstream") },
		OnDrop: func(r string) { reason.Store(r) },
	})
	client(t, addr).Write([]byte("x"))
	eventually(t, "a drop", func() bool { return p.Dropped() > 0 })
	if reason.Load() != udpproxy.DropNoUpstream {
		t.Fatalf("reason %v", reason.Load())
	}
}

// BenchmarkEcho measures datagrams/s through the proxy, one client with a
// window of datagrams in flight (a lost one is resent after a timeout).
func BenchmarkEcho(b *testing.B) {
	for _, bc := range []struct {
		size   int
		direct bool
	}{{64, false}, {1200, false}, {64, true}, {1200, true}} {
		name := fmt.Sprintf("%dB", bc.size)
		if bc.direct {
			name = "direct-" + name // the echo upstream without the proxy
		}
		size := bc.size
		b.Run(name, func(b *testing.B) {
			addr := echo(b, "")
			if !bc.direct {
				_, addr = start(b, udpproxy.Config{Pick: fixed(addr)})
			}
			c := client(b, addr)
			msg := make([]byte, size)
			buf := make([]byte, 2048)
			roundTrip(b, c, msg)
			const window = 16
			b.SetBytes(int64(size))
			b.ResetTimer()
			start := time.Now()
			inflight, lost := 0, 0
			for sent, got := 0, 0; got < b.N; {
				for inflight < window && sent < b.N {
					c.Write(msg)
					sent++
					inflight++
				}
				c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				if _, err := c.Read(buf); err != nil {
					lost++
					inflight = 0 // lost: send the window again
					sent = got
					continue
				}
				got++
				inflight--
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "datagrams/s")
			b.ReportMetric(float64(lost), "timeouts")
		})
	}
}

// TestNoAmplification: one upstream datagram is one client datagram, and
// nobody but the upstream can send to the client through its session.
func TestNoAmplification(t *testing.T) {
	up := nettest.UDP(t)
	_, addr := start(t, udpproxy.Config{Pick: fixed(up.LocalAddr().String())})
	c := client(t, addr)
	c.Write([]byte("hi"))
	buf := make([]byte, 100)
	up.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, session, err := up.ReadFromUDPAddrPort(buf) // the session's socket
	if err != nil {
		t.Fatal(err)
	}
	// A third party sends to the session's socket: the kernel drops it
	// (the socket is connected to the upstream).
	other := nettest.UDP(t)
	other.WriteToUDPAddrPort([]byte("spoof"), session)
	for i := range 3 {
		up.WriteToUDPAddrPort(fmt.Appendf(nil, "r%d", i), session)
	}
	up.WriteToUDPAddrPort([]byte("end"), session)
	var got []string
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, string(buf[:n]))
		if string(buf[:n]) == "end" {
			break
		}
	}
	if fmt.Sprint(got) != "[r0 r1 r2 end]" {
		t.Fatalf("client got %q", got)
	}
}

// TestDualStack: an IPv4 client of a dual-stack socket is seen as IPv4 by
// Pick and Admit, and its replies reach it.
func TestDualStack(t *testing.T) {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		t.Skip("no dual-stack socket:", err)
	}
	up := echo(t, "E:")
	var seen atomic.Value
	p := udpproxy.New(pc, udpproxy.Config{Pick: func(c netip.AddrPort) (string, error) {
		seen.Store(c)
		return up, nil
	}})
	go p.Serve()
	defer p.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	c := client(t, fmt.Sprintf("127.0.0.1:%d", port))
	if got := roundTrip(t, c, []byte("x")); string(got) != "E:x" {
		t.Fatalf("got %q", got)
	}
	if a := seen.Load().(netip.AddrPort).Addr(); !a.Is4() {
		t.Fatalf("Pick saw %s", a)
	}
}

// wrapped hides the *net.UDPConn so the proxy takes its portable path
// (ReadFrom/WriteTo instead of recvmmsg and AddrPort calls).
type wrapped struct{ net.PacketConn }

func TestPortablePath(t *testing.T) {
	pc := nettest.UDP(t)
	p := udpproxy.New(wrapped{pc}, udpproxy.Config{Pick: fixed(echo(t, "P:"))})
	done := make(chan error, 1)
	go func() { done <- p.Serve() }()
	c1, c2 := client(t, pc.LocalAddr().String()), client(t, pc.LocalAddr().String())
	if got := roundTrip(t, c1, []byte("a")); string(got) != "P:a" {
		t.Fatalf("got %q", got)
	}
	if got := roundTrip(t, c2, []byte("b")); string(got) != "P:b" {
		t.Fatalf("got %q", got)
	}
	p.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
