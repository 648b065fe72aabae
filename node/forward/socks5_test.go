package forward_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node/forward"

	"github.com/strata-edge/strata/node/internal/nettest"
)

func socksDialer(t testing.TB, port uint32, auth *proxy.Auth) proxy.Dialer {
	t.Helper()
	d, err := proxy.SOCKS5("tcp", hostPort(port), auth, &net.Dialer{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSOCKS5Connect(t *testing.T) {
	echo := echoServer(t)
	port := freePort(t)
	f := start(t, snapshot(1, proxyApp("fp", []uint32{port}, nil, allowPrivate)))
	d := socksDialer(t, port, &proxy.Auth{User: testUser, Password: testPass})
	for _, dest := range []string{echo.String(), "localhost:" + strconv.Itoa(echo.Port)} {
		t.Run(dest, func(t *testing.T) {
			c, err := d.Dial("tcp", dest)
			if err != nil {
				t.Fatalf("dial %s through SOCKS5: %v", dest, err)
			}
			defer c.Close()
			roundTrip(t, c, "hello through socks5")
			roundTrip(t, c, strings.Repeat("x", 100<<10))
		})
	}
	t.Run("ipv6 literal refused when unreachable", func(t *testing.T) {
		r := dialRaw(t, hostPort(port))
		if st := r.login(testUser, testPass); st != 0 {
			t.Fatalf("auth status %d", st)
		}
		// ::1 on a port nothing listens on: refused (0x05) or unreachable (0x04, no IPv6).
		rep, _, _ := r.request(1, 4, net.IPv6loopback, uint16(freePort(t)))
		if rep != 0x05 && rep != 0x04 {
			t.Fatalf("reply %#x, want 0x05 or 0x04", rep)
		}
	})
	waitFor(t, "stats of closed connections", func() bool { return f.Stats()["fp"].Open == 0 })
	st := f.Stats()["fp"]
	if st.Connections["ok"] < 2 || st.BytesIn < 100<<10 || st.BytesOut < 100<<10 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSOCKS5AuthRefused(t *testing.T) {
	echo := echoServer(t)
	port := freePort(t)
	f := start(t, snapshot(1, proxyApp("fp", []uint32{port}, nil, allowPrivate)))
	for _, tc := range []struct {
		name string
		auth *proxy.Auth
	}{
		{"no auth", nil},
		{"wrong password", &proxy.Auth{User: testUser, Password: "wrong"}},
		{"unknown user", &proxy.Auth{User: "mallory", Password: testPass}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := socksDialer(t, port, tc.auth).Dial("tcp", echo.String())
			if err == nil {
				c.Close()
				t.Fatal("dial succeeded")
			}
		})
	}
	t.Run("no auth is answered 0xFF", func(t *testing.T) {
		r := dialRaw(t, hostPort(port))
		_, _ = r.c.Write([]byte{5, 1, 0})
		if got := r.read(2); !bytes.Equal(got, []byte{5, 0xFF}) {
			t.Fatalf("method selection %v, want [5 255]", got)
		}
	})
	waitFor(t, "closed connections", func() bool { return f.Stats()["fp"].Open == 0 })
	if n := f.Stats()["fp"].Connections["auth_failed"]; n < 3 {
		t.Fatalf("auth_failed = %d, want >= 3", n)
	}
}

func TestSOCKS5RateLimitsFailedLogins(t *testing.T) {
	port := freePort(t)
	f := start(t, snapshot(1, proxyApp("fp", []uint32{port}, nil, allowPrivate)))
	for i := 0; i < 30; i++ {
		r := dialRaw(t, hostPort(port))
		if st := r.login(testUser, "wrong"); st == 0 {
			t.Fatal("wrong password accepted")
		}
		r.c.Close()
	}
	waitFor(t, "closed connections", func() bool { return f.Stats()["fp"].Open == 0 })
	st := f.Stats()["fp"]
	if st.Connections["rate_limited"] == 0 {
		t.Fatalf("no login was rate limited: %+v", st.Connections)
	}
	// The good password is refused too while the client is limited.
	r := dialRaw(t, hostPort(port))
	if st := r.login(testUser, testPass); st == 0 {
		t.Fatal("login accepted while rate limited")
	}
}

func TestSOCKS5ReplyCodes(t *testing.T) {
	echo := echoServer(t)
	port, strict := freePort(t), freePort(t)
	start(t, snapshot(1,
		proxyApp("open", []uint32{port}, nil, allowPrivate),
		proxyApp("strict", []uint32{strict}, nil, nil)))
	ip4 := echo.IP.To4()
	eport := uint16(echo.Port)
	for _, tc := range []struct {
		name string
		port uint32
		cmd  byte
		atyp byte
		addr []byte
		dst  uint16
		want byte
	}{
		{"connect ok", port, 1, 1, ip4, eport, 0x00},
		{"loopback refused by default", strict, 1, 1, ip4, eport, 0x02},
		{"localhost refused by default", strict, 1, 3, append([]byte{9}, "localhost"...), eport, 0x02},
		{"metadata refused", port, 1, 1, []byte{169, 254, 169, 254}, 80, 0x02},
		{"connection refused", port, 1, 1, ip4, uint16(freePort(t)), 0x05},
		{"bind not supported", port, 2, 1, ip4, eport, 0x07},
		{"unknown command", port, 9, 1, ip4, eport, 0x07},
		{"unknown address type", port, 1, 5, nil, eport, 0x08},
		{"unresolvable name", port, 1, 3, append([]byte{20}, "no-such-host.invalid"...), 80, 0x04},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, hostPort(tc.port))
			if st := r.login(testUser, testPass); st != 0 {
				t.Fatalf("auth status %d", st)
			}
			if tc.atyp == 5 { // the reply comes before any address byte
				_, _ = r.c.Write([]byte{5, tc.cmd, 0, tc.atyp})
				h := r.read(4)
				if h[1] != tc.want {
					t.Fatalf("reply %#x, want %#x", h[1], tc.want)
				}
				return
			}
			rep, _, _ := r.request(tc.cmd, tc.atyp, tc.addr, tc.dst)
			if rep != tc.want {
				t.Fatalf("reply %#x, want %#x", rep, tc.want)
			}
			if rep == 0 {
				roundTrip(t, r.c, "ping")
			}
		})
	}
}

func TestSOCKS5EgressAllowCIDRs(t *testing.T) {
	echo := echoServer(t)
	port, other := freePort(t), freePort(t)
	start(t, snapshot(1,
		proxyApp("cidr", []uint32{port}, nil, &configv1.EgressPolicy{AllowCidrs: []string{"127.0.0.0/8"}, AllowPorts: []string{strconv.Itoa(echo.Port)}}),
		proxyApp("deny", []uint32{other}, nil, &configv1.EgressPolicy{AllowPrivate: true, DenyCidrs: []string{"127.0.0.1/32"}})))
	ok := socksDialer(t, port, &proxy.Auth{User: testUser, Password: testPass})
	c, err := ok.Dial("tcp", echo.String())
	if err != nil {
		t.Fatalf("allow_cidrs 127.0.0.0/8: %v", err)
	}
	roundTrip(t, c, "in range")
	c.Close()
	if c, err := ok.Dial("tcp", hostPort(freePort(t))); err == nil || !strings.Contains(err.Error(), "not allowed") {
		if c != nil {
			c.Close()
		}
		t.Fatalf("port outside allow_ports: %v, want not allowed", err)
	}
	if c, err := socksDialer(t, other, &proxy.Auth{User: testUser, Password: testPass}).Dial("tcp", echo.String()); err == nil {
		c.Close()
		t.Fatal("deny_cidrs 127.0.0.1/32 let the connection through")
	}
}

func TestSOCKS5CredentialEgressReplacesApp(t *testing.T) {
	echo := echoServer(t)
	port := freePort(t)
	a := proxyApp("fp", []uint32{port}, nil, allowPrivate)
	fp := a.GetForwardProxy()
	fp.Credentials = append(fp.Credentials, &configv1.ProxyCredential{Username: "bob",
		PasswordHash: fp.Credentials[0].PasswordHash, Egress: &configv1.EgressPolicy{}})
	start(t, snapshot(1, a))
	if _, err := socksDialer(t, port, &proxy.Auth{User: "bob", Password: testPass}).Dial("tcp", echo.String()); err == nil {
		t.Fatal("bob's own (default) egress should refuse loopback")
	}
	c, err := socksDialer(t, port, &proxy.Auth{User: testUser, Password: testPass}).Dial("tcp", echo.String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestSOCKS5ConfigSwapKeepsTunnel(t *testing.T) {
	echo := echoServer(t)
	port, port2 := freePort(t), freePort(t)
	f := start(t, snapshot(1, proxyApp("fp", []uint32{port}, nil, allowPrivate)))
	d := socksDialer(t, port, &proxy.Auth{User: testUser, Password: testPass})
	c, err := d.Dial("tcp", echo.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "before")
	// The app moves to another port and stops allowing private addresses.
	apply(t, f, snapshot(2, proxyApp("fp", []uint32{port2}, nil, nil)))
	roundTrip(t, c, "after the swap, on the old config")
	if c2, err := d.Dial("tcp", echo.String()); err == nil {
		c2.Close()
		t.Fatal("the removed port still accepts")
	}
	if f.Addr("socks5", port2) == nil {
		t.Fatal("new port not open")
	}
	if _, err := socksDialer(t, port2, &proxy.Auth{User: testUser, Password: testPass}).Dial("tcp", echo.String()); err == nil {
		t.Fatal("the new config should refuse loopback")
	}
}

func TestPrepareAbortAndPortClash(t *testing.T) {
	port := freePort(t)
	f := start(t, snapshot(1))
	commit, abort, err := f.Prepare(snapshot(2, proxyApp("fp", []uint32{port}, nil, allowPrivate)))
	if err != nil {
		t.Fatal(err)
	}
	abort()
	commit() // no-op after abort
	if f.Addr("socks5", port) != nil {
		t.Fatal("aborted port is open")
	}
	ln, err := net.Listen("tcp", hostPort(port))
	if err != nil {
		t.Fatalf("aborted port still bound: %v", err)
	}
	defer ln.Close()
	if _, _, err := f.Prepare(snapshot(3, proxyApp("fp", []uint32{port}, nil, nil))); err == nil {
		t.Fatal("a port in use should reject the snapshot")
	}
	if _, _, err := f.Prepare(snapshot(4, proxyApp("a", []uint32{port + 1}, nil, nil), proxyApp("b", nil, []uint32{port + 1}, nil))); err == nil {
		t.Fatal("two apps on one port should reject the snapshot")
	}
	bad := proxyApp("a", []uint32{port + 1}, nil, nil)
	bad.GetForwardProxy().Credentials[0].PasswordHash = "plain"
	if _, _, err := f.Prepare(snapshot(5, bad)); err == nil || !strings.Contains(err.Error(), "password_hash") {
		t.Fatalf("bad hash: %v", err)
	}
}

func TestSOCKS5Curl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	web := httpServer(t)
	port := freePort(t)
	start(t, snapshot(1, proxyApp("fp", []uint32{port}, nil, allowPrivate)))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, flag := range []string{"--socks5-hostname", "--socks5"} {
		out, err := exec.CommandContext(ctx, curl, "-sS", "--max-time", "10", flag, hostPort(port),
			"--proxy-user", testUser+":"+testPass, "http://localhost:"+strconv.Itoa(web.Port)+"/curl").CombinedOutput()
		if err != nil || string(out) != "hello /curl" {
			t.Fatalf("curl %s: %v: %s", flag, err, out)
		}
	}
	out, err := exec.CommandContext(ctx, curl, "-sS", "--max-time", "10", "--socks5-hostname", hostPort(port),
		"--proxy-user", testUser+":wrong", "http://localhost:"+strconv.Itoa(web.Port)+"/").CombinedOutput()
	if err == nil {
		t.Fatalf("curl with a wrong password succeeded: %s", out)
	}
}

// udpEcho is a UDP echo server on loopback.
func udpEcho(t testing.TB) *net.UDPAddr { return nettest.UDPEcho(t, "") }

func TestSOCKS5UDPAssociate(t *testing.T) {
	echo := udpEcho(t)
	port := freePort(t)
	f := start(t, snapshot(1, proxyApp("fp", []uint32{port}, nil, allowPrivate)))
	r := dialRaw(t, hostPort(port))
	if st := r.login(testUser, testPass); st != 0 {
		t.Fatalf("auth status %d", st)
	}
	rep, bip, bport := r.request(3, 1, []byte{0, 0, 0, 0}, 0)
	if rep != 0 {
		t.Fatalf("UDP ASSOCIATE reply %#x", rep)
	}
	relay := &net.UDPAddr{IP: bip, Port: int(bport)}
	uc, err := net.DialUDP("udp", nil, relay)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	send := func(host []byte, atyp byte, port int, payload string) {
		msg := append([]byte{0, 0, 0, atyp}, host...)
		msg = binary.BigEndian.AppendUint16(msg, uint16(port))
		if _, err := uc.Write(append(msg, payload...)); err != nil {
			t.Fatal(err)
		}
	}
	recv := func(want string) {
		t.Helper()
		buf := make([]byte, 2048)
		_ = uc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := uc.Read(buf)
		if err != nil {
			t.Fatalf("no answer through the relay: %v", err)
		}
		// RSV RSV FRAG ATYP=1 addr(4) port(2) data
		if n < 10 || buf[3] != 1 {
			t.Fatalf("answer header %v", buf[:n])
		}
		from := netip.AddrPortFrom(netip.AddrFrom4([4]byte(buf[4:8])), binary.BigEndian.Uint16(buf[8:10]))
		if from.String() != echo.String() {
			t.Fatalf("answer from %s, want %s", from, echo)
		}
		if got := string(buf[10:n]); got != want {
			t.Fatalf("answer %q, want %q", got, want)
		}
	}
	send(echo.IP.To4(), 1, echo.Port, "udp hello")
	recv("udp hello")
	send(append([]byte{9}, "localhost"...), 3, echo.Port, "by name")
	recv("by name")
	// Fragments are dropped; the next datagram still goes through.
	frag := append([]byte{0, 0, 1, 1}, echo.IP.To4()...)
	frag = binary.BigEndian.AppendUint16(frag, uint16(echo.Port))
	_, _ = uc.Write(append(frag, "fragment"...))
	send(echo.IP.To4(), 1, echo.Port, "after fragment")
	recv("after fragment")

	// Closing the control connection ends the association.
	r.c.Close()
	waitFor(t, "the association to end", func() bool { return f.Stats()["fp"].Open == 0 })
	if st := f.Stats()["fp"]; st.Open != 0 || st.Connections["ok"] != 1 || st.BytesIn == 0 {
		t.Fatalf("stats after close %+v", st)
	}
	send(echo.IP.To4(), 1, echo.Port, "too late")
	buf := make([]byte, 64)
	_ = uc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := uc.Read(buf); err == nil {
		t.Fatalf("relay still answers after the control connection closed: %q", buf[:n])
	}
}

func TestSOCKS5UDPRefusedDestination(t *testing.T) {
	echo := udpEcho(t)
	port := freePort(t)
	start(t, snapshot(1, proxyApp("fp", []uint32{port}, nil, nil)))
	r := dialRaw(t, hostPort(port))
	if st := r.login(testUser, testPass); st != 0 {
		t.Fatalf("auth status %d", st)
	}
	rep, bip, bport := r.request(3, 1, []byte{0, 0, 0, 0}, 0)
	if rep != 0 {
		t.Fatalf("reply %#x", rep)
	}
	uc, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: bip, Port: int(bport)})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	msg := append([]byte{0, 0, 0, 1}, echo.IP.To4()...)
	msg = binary.BigEndian.AppendUint16(msg, uint16(echo.Port))
	_, _ = uc.Write(append(msg, "x"...))
	_ = uc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := uc.Read(make([]byte, 64)); err == nil {
		t.Fatal("a datagram to loopback was relayed without allow_private")
	}
}

func TestStopClosesTunnels(t *testing.T) {
	echo := echoServer(t)
	port := freePort(t)
	f, err := forward.New(forward.Options{Host: "127.0.0.1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	apply(t, f, snapshot(1, proxyApp("fp", []uint32{port}, nil, allowPrivate)))
	c, err := socksDialer(t, port, &proxy.Auth{User: testUser, Password: testPass}).Dial("tcp", echo.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := f.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF && err == nil {
		t.Fatal("tunnel open after Stop")
	}
}

func TestIdleTimeoutClosesTunnel(t *testing.T) {
	echo := echoServer(t)
	port := freePort(t)
	a := proxyApp("fp", []uint32{port}, nil, allowPrivate)
	a.GetForwardProxy().IdleTimeoutMs = 100
	f := start(t, snapshot(1, a))
	c, err := socksDialer(t, port, &proxy.Auth{User: testUser, Password: testPass}).Dial("tcp", echo.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "then silence")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read data from an idle tunnel")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the idle tunnel was not closed by the node")
	}
	waitFor(t, "the tunnel to be counted", func() bool { return f.Stats()["fp"].Open == 0 })
}

func TestSOCKS5ConnectIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	nettest.Serve(t, ln, func(c net.Conn) { _, _ = io.Copy(c, c) })
	port := freePort(t)
	start(t, snapshot(1, proxyApp("fp", []uint32{port}, nil, &configv1.EgressPolicy{AllowCidrs: []string{"::1/128"}})))
	r := dialRaw(t, hostPort(port))
	if st := r.login(testUser, testPass); st != 0 {
		t.Fatalf("auth status %d", st)
	}
	rep, _, _ := r.request(1, 4, net.IPv6loopback, uint16(ln.Addr().(*net.TCPAddr).Port))
	if rep != 0 {
		t.Fatalf("CONNECT [::1]: reply %#x", rep)
	}
	roundTrip(t, r.c, "over ipv6")
}
