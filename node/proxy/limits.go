package proxy

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node/netguard"
	"github.com/strata-edge/strata/node/proxy/route"
)

// App limits (configv1.AppLimits), below the node's own: request body
// (413) and header (431) sizes per request, open connections per client
// IP, and TLS handshakes per second per client IP. The listeners share
// hosts of many apps, so a connection is counted against the app of its
// TLS server name at the handshake, or of its first request's host on the
// plain listener; a refused handshake or connection is closed.

// limits answers a request over its app's limits (413, 431, or 429 with
// the connection closed for one connection too many); false: it goes on.
func (p *Proxy) limits(x exchange, f *flow) bool {
	l := f.app.Limits
	if l == nil {
		return false
	}
	header, body := x.requestSize()
	if max := l.GetMaxRequestHeaderBytes(); max > 0 && header > int(max) {
		x.refuse(http.StatusRequestHeaderFieldsTooLarge, "request headers larger than "+strconv.FormatUint(uint64(max), 10)+" bytes\n")
		return true
	}
	if max := l.GetMaxRequestBodyBytes(); max > 0 {
		if body > int64(max) {
			x.refuse(http.StatusRequestEntityTooLarge, "request body larger than "+strconv.FormatUint(max, 10)+" bytes\n")
			return true
		}
		if body < 0 {
			x.limitBody(int64(max))
		}
	}
	if l.GetMaxConnsPerIp() > 0 && !p.admitConn(x.netConn(), f.app) {
		x.refuse(http.StatusTooManyRequests, "too many connections from your address\n")
		return true
	}
	return false
}

// appGuards are the per-IP tables of one app's limits.
type appGuards struct {
	limits *configv1.AppLimits
	conns  *netguard.Guard // max_conns_per_ip
	tls    *netguard.Guard // tls_handshakes_per_second, tls_handshake_burst
}

// guardTable holds the guards by app id. A config swap that changes an
// app's limits builds new guards that carry the old tables over, so
// connections opened before still count and release.
type guardTable struct {
	mu   sync.Mutex
	apps sync.Map // app id -> *appGuards
}

// guards returns a's guards, nil when a has no connection or handshake
// limit.
func (p *Proxy) guards(a *route.App) *appGuards {
	l := a.Limits
	if l.GetMaxConnsPerIp() == 0 && l.GetTlsHandshakesPerSecond() == 0 {
		return nil
	}
	t := &p.appGuards
	if g, ok := t.apps.Load(a.ID); ok && proto.Equal(g.(*appGuards).limits, l) {
		return g.(*appGuards)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.apps.Load(a.ID)
	var prev *appGuards
	if ok {
		if prev = v.(*appGuards); proto.Equal(prev.limits, l) {
			return prev
		}
	}
	g := &appGuards{limits: l}
	var err error
	if g.conns, err = netguard.New(&configv1.AccessControl{MaxConnectionsPerIp: l.GetMaxConnsPerIp()}); err == nil {
		g.tls, err = netguard.New(&configv1.AccessControl{ConnectionsPerSecond: l.GetTlsHandshakesPerSecond(), Burst: l.GetTlsHandshakeBurst()})
	}
	if err != nil { // no CIDRs given: cannot fail
		panic(fmt.Sprintf("proxy: app %s limits: %v", a.ID, err))
	}
	if prev != nil {
		g.conns.Carry(prev.conns)
		g.tls.Carry(prev.tls)
	}
	t.apps.Store(a.ID, g)
	return g
}

// admitTLS counts a TLS handshake against the limits of the app its
// server name selects (GetConfigForClient): the handshake rate, then the
// open connections. An error aborts the handshake.
func (p *Proxy) admitTLS(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	rt := p.rt.Load()
	if rt == nil || hello.ServerName == "" {
		return nil, nil
	}
	a := rt.Lookup(true, p.httpsPort, hello.ServerName)
	if a == nil {
		return nil, nil
	}
	g := p.guards(a)
	if g == nil {
		return nil, nil
	}
	ip := addrOf(hello.Conn.RemoteAddr())
	if _, reason, ok := g.tls.Admit(ip); !ok {
		p.limitRefused.Add(1)
		return nil, fmt.Errorf("proxy: TLS handshake from %s refused (%s)", ip, reason)
	}
	if a.Limits.GetMaxConnsPerIp() > 0 && !p.admitConn(hello.Conn, a) {
		p.limitRefused.Add(1)
		return nil, fmt.Errorf("proxy: TLS connection from %s refused: too many open", ip)
	}
	return nil, nil
}

// admitConn counts c once against a's open connections per client IP;
// false when refused. A connection admitted before (by the handshake or an
// earlier request) passes.
func (p *Proxy) admitConn(c net.Conn, a *route.App) bool {
	gc, ok := c.(*guardConn)
	if !ok {
		if tc, isTLS := c.(*tls.Conn); isTLS {
			gc, ok = tc.NetConn().(*guardConn)
		}
	}
	if !ok || gc.admitted.Load() {
		return true // not a listener's connection (tests) or counted
	}
	g := p.guards(a)
	if g == nil {
		return true
	}
	release, _, admitted := g.conns.Admit(addrOf(gc.RemoteAddr()))
	if !admitted {
		p.limitRefused.Add(1)
		return false
	}
	gc.admit(release)
	return true
}

// LimitRefusals is the number of connections and handshakes refused by
// app limits since start.
func (p *Proxy) LimitRefusals() uint64 { return p.limitRefused.Load() }

func addrOf(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort().Addr().Unmap()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap.Addr().Unmap()
}

// guardListener hands out guardConns, so that a connection counted
// against an app's limit is released when it closes.
type guardListener struct{ net.Listener }

func (l guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &guardConn{Conn: c}, nil
}

type guardConn struct {
	net.Conn
	admitted atomic.Bool
	mu       sync.Mutex
	release  func()
	closed   bool
}

func (c *guardConn) admit(release func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		release()
		return
	}
	c.release = release
	c.admitted.Store(true)
}

func (c *guardConn) Close() error {
	err := c.Conn.Close()
	c.mu.Lock()
	release := c.release
	c.release, c.closed = nil, true
	c.mu.Unlock()
	if release != nil {
		release()
	}
	return err
}
