package stream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node/proxy/stats"
	"github.com/strata-edge/strata/node/proxy/upstream"
)

// listener is one port: its socket, the app config new connections take
// and the open connections (closed when a removed listener's drain ends).
type listener struct {
	s   *Stream
	key lkey
	tcp *net.TCPListener
	udp udpRunner // UDP listeners (udp.go)
	cfg atomic.Pointer[app]

	open atomic.Int64 // TCP connections being served

	mu      sync.Mutex
	conns   map[*conn]struct{}
	retired bool
	done    chan struct{} // the accept loop (or UDP server) ended
}

func (l *listener) current() *app { return l.cfg.Load() }

func (l *listener) set(a *app) {
	l.cfg.Store(a)
	if l.udp != nil {
		l.udp.update(a)
	}
}

func (l *listener) addr() net.Addr {
	if l.tcp != nil {
		return l.tcp.Addr()
	}
	if l.udp != nil {
		return l.udp.addr()
	}
	return nil
}

// closeSocket closes a listener that never started (abort).
func (l *listener) closeSocket() {
	if l.tcp != nil {
		l.tcp.Close()
	}
	if l.udp != nil {
		l.udp.close()
	}
	close(l.done)
}

func (l *listener) start() {
	if l.udp != nil {
		go func() {
			defer close(l.done)
			l.udp.serve()
		}()
		return
	}
	go l.acceptLoop()
}

// retire stops accepting at once and closes the open connections after
// drain (at once when 0), then calls done (optional).
func (l *listener) retire(drain time.Duration, done func()) {
	l.mu.Lock()
	l.retired = true
	l.mu.Unlock()
	if l.tcp != nil {
		l.tcp.Close()
	}
	if l.udp != nil {
		l.udp.close() // UDP sessions are datagrams: no drain
	}
	cut := func() {
		l.mu.Lock()
		cs := make([]*conn, 0, len(l.conns))
		for c := range l.conns {
			cs = append(cs, c)
		}
		l.mu.Unlock()
		for _, c := range cs {
			c.cut()
		}
		if done != nil {
			done()
		}
	}
	if drain <= 0 {
		cut()
		return
	}
	time.AfterFunc(drain, cut)
}

func (l *listener) acceptLoop() {
	defer close(l.done)
	var delay time.Duration
	for {
		c, err := l.tcp.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.s.log.Warn("stream: accept", "listener", l.key.String(), "err", err)
			time.Sleep(delay)
			continue
		}
		delay = 0
		a := l.current()
		if n := l.open.Add(1); n > a.maxConns {
			l.open.Add(-1)
			a.stats.Refused()
			l.s.log.Info("stream: refused", "app", a.id, "listener", l.key.String(), "client", c.RemoteAddr().String(),
				"reason", "max_connections", "limit", a.maxConns)
			c.SetLinger(0)
			c.Close()
			continue
		}
		cn := &conn{l: l, a: a, client: c, start: time.Now()}
		if !l.track(cn) {
			l.open.Add(-1)
			c.Close()
			continue
		}
		go cn.serve()
	}
}

func (l *listener) track(c *conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.retired {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *listener) untrack(c *conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	l.open.Add(-1)
}

// conn is one client connection.
type conn struct {
	l      *listener
	a      *app
	client *net.TCPConn
	start  time.Time

	mu   sync.Mutex
	up   net.Conn // set once connected
	gone bool     // cut: close what comes
}

// cut closes both sides (drain ended, node stopping).
func (c *conn) cut() {
	c.mu.Lock()
	c.gone = true
	up := c.up
	c.mu.Unlock()
	c.client.Close()
	if up != nil {
		up.Close()
	}
}

func (c *conn) setUp(up net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return false
	}
	c.up = up
	return true
}

// clientRequest is what the balancers read of a connection: the client
// IP (consistent hash on "client_ip"); other keys hash the empty string.
type clientRequest struct{ ip netip.Addr }

func (clientRequest) Path() string                 { return "" }
func (clientRequest) RequestURI() string           { return "" }
func (clientRequest) Header(string) (string, bool) { return "", false }
func (clientRequest) Cookie(string) (string, bool) { return "", false }
func (clientRequest) Query(string) (string, bool)  { return "", false }
func (r clientRequest) ClientIP() netip.Addr       { return r.ip }

var _ upstream.Request = clientRequest{}

// refusal is why a connection was closed before forwarding.
type refusal struct{ reason, detail string }

func (r *refusal) Error() string {
	if r.detail == "" {
		return r.reason
	}
	return r.reason + ": " + r.detail
}

func refuse(reason, detail string) error { return &refusal{reason, detail} }

// serve runs one connection to its end and logs it.
func (c *conn) serve() {
	defer c.l.untrack(c)
	defer c.client.Close()
	a := c.a
	peer := addrPort(c.client.RemoteAddr())
	client := peer
	var (
		server          string
		in, out         int64
		err             error
		release         func()
		srv             *upstream.Server
		connected       bool
		upConn          net.Conn
		upTCP           *net.TCPConn
		front           *bufio.Reader // bytes read ahead of the forwarding
		tlsClient       *tls.Conn
		prefix          []byte
		sni             string
		targetUpstream  *upstream.Upstream
		headerDeadlined bool
	)
	defer func() {
		if release != nil {
			release()
		}
		if srv != nil {
			srv.End()
		}
		if upConn != nil {
			upConn.Close()
		}
		var rf *refusal
		switch {
		case errors.As(err, &rf):
			a.stats.Refused()
			c.l.s.log.Info("stream: refused", "app", a.id, "listener", c.l.key.String(), "client", client.String(),
				"peer", peer.String(), "sni", sni, "reason", rf.Error())
			return
		case !connected:
			return
		}
		now := time.Now()
		a.stats.Conn(now, in, out)
		lg := c.l.s.log
		if !lg.Enabled(context.Background(), slog.LevelInfo) {
			return
		}
		var buf [10]slog.Attr
		attrs := append(buf[:0], slog.String("app", a.id), slog.String("listener", c.l.key.String()),
			slog.String("client", client.String()), slog.String("upstream", server),
			slog.Int64("bytes_in", in), slog.Int64("bytes_out", out),
			slog.Duration("duration", now.Sub(c.start).Round(time.Millisecond)))
		if sni != "" {
			attrs = append(attrs, slog.String("sni", sni))
		}
		if err != nil {
			attrs = append(attrs, slog.String("end", err.Error()))
		}
		lg.LogAttrs(context.Background(), slog.LevelInfo, "stream: connection", attrs...)
	}()

	// PROXY protocol from trusted peers: the header is read before
	// anything else, and must be there.
	if len(a.trusted) > 0 || a.needsHello {
		front = bufio.NewReaderSize(c.client, maxHello+recordHeader)
		c.client.SetReadDeadline(time.Now().Add(HeaderTimeout))
		headerDeadlined = true
	}
	if len(a.trusted) > 0 {
		if client, err = readProxyHeader(front, c.client, peer, a.trustedPeer(peer.Addr())); err != nil {
			return
		}
	}
	if a.guard != nil {
		var reason string
		var ok bool
		if release, reason, ok = a.guard.Admit(client.Addr()); !ok {
			err = refuse("access", reason)
			return
		}
	}
	targetUpstream = a.def
	switch a.tlsMode {
	case configv1.StreamTlsMode_STREAM_TLS_MODE_PASSTHROUGH:
		if sni, err = peekSNI(front); err != nil {
			err = refuse("client_hello", err.Error())
			return
		}
		if targetUpstream = a.route(sni); targetUpstream == nil {
			err = refuse("sni", "no route for server name "+strconv.Quote(sni))
			return
		}
	case configv1.StreamTlsMode_STREAM_TLS_MODE_TERMINATE:
		tlsClient = tls.Server(&prefixConn{TCPConn: c.client, r: front}, &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
				name := strings.ToLower(h.ServerName)
				if !a.domainOK(name) {
					return nil, errors.New("server name " + strconv.Quote(name) + " is not a domain of the app")
				}
				return c.l.s.opts.GetCertificate(h)
			},
		})
		if herr := tlsClient.HandshakeContext(context.Background()); herr != nil {
			err = refuse("tls", herr.Error())
			return
		}
		sni = tlsClient.ConnectionState().ServerName
		if targetUpstream = a.route(strings.ToLower(sni)); targetUpstream == nil {
			err = refuse("sni", "no route for server name "+strconv.Quote(sni))
			return
		}
		front = nil
	}
	if headerDeadlined {
		c.client.SetReadDeadline(time.Time{})
	}
	if front != nil && front.Buffered() > 0 {
		prefix, _ = front.Peek(front.Buffered())
	}

	upTCP, srv, server, err = c.l.s.connect(a, targetUpstream, c.l.key.port, client.Addr())
	if err != nil {
		return
	}
	upConn = upTCP
	if !c.setUp(upTCP) {
		err = errors.New("listener removed")
		return
	}
	connected = true
	if a.sendPP != 0 {
		h := proxyproto.HeaderProxyFromAddrs(a.sendPP, net.TCPAddrFromAddrPort(client), c.client.LocalAddr())
		upTCP.SetWriteDeadline(time.Now().Add(a.connectTimeout))
		if _, err = h.WriteTo(upTCP); err != nil {
			return
		}
		upTCP.SetWriteDeadline(time.Time{})
	}
	if len(prefix) > 0 {
		upTCP.SetWriteDeadline(time.Now().Add(a.idle))
		n, werr := upTCP.Write(prefix)
		in += int64(n)
		if err = werr; err != nil {
			return
		}
		upTCP.SetWriteDeadline(time.Time{})
	}
	var down halfCloser = c.client
	if tlsClient != nil {
		down = tlsClient
	}
	i, o, perr := pipeBoth(down, upTCP, a.idle)
	in += i
	out += o
	err = perr
}

// connect dials the server for a connection: a parent-tier node for a
// via_parent app when the node has parents (falling back to the app's
// upstreams when none answers), else servers of up by its policy, another
// one after a failed connect as many times as up's retries allow.
func (s *Stream) connect(a *app, up *upstream.Upstream, port uint32, client netip.Addr) (*net.TCPConn, *upstream.Server, string, error) {
	// No keep-alive on upstream connections (as nginx's default
	// proxy_socket_keepalive off): the idle timeout bounds them, and it
	// saves four setsockopt calls per connection.
	d := net.Dialer{Timeout: a.connectTimeout, KeepAlive: -1}
	if a.viaParent && s.opts.Parents != nil {
		hosts := s.opts.Parents(client.String())
		for i, h := range hosts {
			if i > up.Retries() {
				break
			}
			addr := net.JoinHostPort(h, strconv.Itoa(int(port)))
			t0 := time.Now()
			c, err := d.Dial("tcp", addr)
			if err == nil {
				return c.(*net.TCPConn), nil, addr, nil
			}
			a.stats.Attempt(time.Now(), addr, time.Since(t0), dialKind(err))
			s.log.Warn("stream: parent node unreachable", "app", a.id, "parent", addr, "err", err)
		}
	}
	var tried upstream.Tried
	req := clientRequest{ip: client}
	var last error
	for attempt := 0; attempt <= up.Retries(); attempt++ {
		srv, err := up.Pick(req, tried)
		if err != nil {
			a.stats.Attempt(time.Now(), "", 0, stats.UpstreamNoServer)
			if last == nil {
				last = err
			}
			break
		}
		tried.Add(srv)
		t0 := time.Now()
		c, err := d.Dial("tcp", srv.Addr)
		if err != nil {
			srv.ReportFailure()
			a.stats.Attempt(time.Now(), srv.Addr, time.Since(t0), dialKind(err))
			last = err
			continue
		}
		srv.ReportSuccess()
		a.stats.Attempt(time.Now(), srv.Addr, time.Since(t0), stats.AttemptOK)
		srv.Begin()
		return c.(*net.TCPConn), srv, srv.Addr, nil
	}
	return nil, nil, "", refuse("no_server", last.Error())
}

func dialKind(err error) stats.UpstreamError {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return stats.UpstreamTimeout
	}
	return stats.UpstreamConnect
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// prefixConn is the client connection for the TLS server of TERMINATE:
// reads take the bytes read ahead (PROXY header path) first.
type prefixConn struct {
	*net.TCPConn
	r *bufio.Reader // nil: none
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(p)
		}
		c.r = nil
	}
	return c.TCPConn.Read(p)
}

// untrustedWait bounds the wait for the first bytes of a peer that may
// not send a PROXY header, on a listener with trusted peers: a header it
// sends is refused, and a client that says nothing first (a server-speaks-
// first protocol) goes on after this long.
const untrustedWait = time.Second

var (
	sigV1 = []byte("PROXY ")
	sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// readProxyHeader reads a PROXY protocol v1/v2 header from a trusted peer
// and returns the client address it names; from any other peer a header
// is refused (as is a missing one from a trusted peer). A LOCAL header
// (health checks of the load balancer) keeps the peer address. The caller
// has set the connection's read deadline (HeaderTimeout).
func readProxyHeader(r *bufio.Reader, c interface{ SetReadDeadline(time.Time) error }, peer netip.AddrPort, trusted bool) (netip.AddrPort, error) {
	if !trusted {
		c.SetReadDeadline(time.Now().Add(untrustedWait))
		defer c.SetReadDeadline(time.Now().Add(HeaderTimeout))
	}
	// Compare byte by byte, so that data that is no header is never
	// waited on beyond its first differing byte.
	isV1, isV2 := true, true
	for n := 1; n <= len(sigV2) && (isV1 || isV2); n++ {
		b, err := r.Peek(n)
		if err != nil {
			if !trusted {
				return peer, nil // said nothing (more) for now: no header
			}
			return peer, refuse("proxy_protocol", "no header: "+err.Error())
		}
		isV1 = isV1 && n <= len(sigV1) && b[n-1] == sigV1[n-1]
		isV2 = isV2 && b[n-1] == sigV2[n-1]
		if isV1 && n == len(sigV1) {
			break
		}
	}
	switch {
	case !trusted && (isV1 || isV2):
		return peer, refuse("proxy_protocol", "header from an untrusted peer")
	case !trusted:
		return peer, nil
	case !isV1 && !isV2:
		return peer, refuse("proxy_protocol", "trusted peer sent no header")
	}
	h, err := proxyproto.Read(r)
	if err != nil {
		return peer, refuse("proxy_protocol", err.Error())
	}
	if h.Command.IsLocal() {
		return peer, nil
	}
	src, ok := h.SourceAddr.(*net.TCPAddr)
	if !ok {
		return peer, refuse("proxy_protocol", "not a TCP source address")
	}
	ap := src.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// halfCloser is a connection whose write side closes alone.
type halfCloser interface {
	net.Conn
	CloseWrite() error
}

var errIdle = errors.New("idle timeout")

// TCP keep-alive of client connections: Go's defaults (sockopt_linux.go).
const (
	keepAliveIdle  = 15 * time.Second
	keepAliveCount = 9
)

// pipeBoth forwards both ways until both sides have closed (each EOF is
// passed on as a half-close) or one fails or both stay idle for idle; in
// counts bytes from client to upstream, out the other way.
func pipeBoth(client halfCloser, up *net.TCPConn, idle time.Duration) (in, out int64, err error) {
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	errc := make(chan error, 1)
	go func() {
		var e error
		out, e = pipe(client, up, idle, &last)
		errc <- e
	}()
	in, err = pipe(up, client, idle, &last)
	if err != nil {
		// Unblock the other direction.
		client.Close()
		up.Close()
	}
	if e := <-errc; err == nil {
		err = e
		if e != nil {
			client.Close()
			up.Close()
		}
	}
	return in, out, err
}

// chunk is how many bytes one io.CopyN moves before the read deadline is
// armed again: large, so that its cost vanishes.
const chunk = 4 << 20

// smallBuf is the buffer of a direction's first bytes (copyShort).
const smallBuf = 8 << 10

var smallBufs = sync.Pool{New: func() any { b := make([]byte, smallBuf); return &b }}

// pipe copies src to dst until src's EOF (then dst's write side is closed)
// or an error. dst and src are the connections themselves, never a wrapper.
//
// A direction starts with read(2)/write(2) through a pooled buffer
// (copyShort): short connections and small messages cost two syscalls a
// message, as with splice, without the pipe in between, and nothing is
// allocated. The first read that fills the buffer (bulk data) switches
// the direction to io.CopyN: with both *net.TCPConn, it ends in
// (*net.TCPConn).ReadFrom with an *io.LimitedReader of a TCPConn, which
// Linux serves with splice(2).
//
// The idle timeout is the read deadline, armed before each chunk (in
// copyShort: once, and again each time it fires after bytes moved). When
// it fires after bytes moved in this direction, the copy goes on (and
// last says so). When it fires after none, the connection is idle unless
// the other direction reported bytes within idle plus a quarter: its own
// deadline fires at least every idle while it moves bytes, and the
// quarter covers its being scheduled late. A connection is thus closed
// after between idle and about twice idle without a byte.
func pipe(dst, src halfCloser, idle time.Duration, last *atomic.Int64) (int64, error) {
	total, bulk, err := copyShort(dst, src, idle, last)
	if !bulk {
		return total, err
	}
	for {
		src.SetReadDeadline(time.Now().Add(idle))
		n, err := io.CopyN(dst, src, chunk)
		total += n
		if n > 0 {
			last.Store(time.Now().UnixNano())
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF):
			return total, closeWrite(dst)
		case errors.Is(err, os.ErrDeadlineExceeded):
			if n > 0 || time.Since(time.Unix(0, last.Load())) < idle+idle/4 {
				continue
			}
			return total, errIdle
		}
		return total, err
	}
}

// copyShort is pipe until a read fills the buffer (bulk true: go on with
// splice) or the direction ends (EOF, error, idle).
func copyShort(dst, src halfCloser, idle time.Duration, last *atomic.Int64) (total int64, bulk bool, err error) {
	bp := smallBufs.Get().(*[]byte)
	defer smallBufs.Put(bp)
	buf := *bp
	src.SetReadDeadline(time.Now().Add(idle))
	moved := false // since the deadline was armed
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			last.Store(time.Now().UnixNano())
			moved = true
			w, werr := dst.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, false, werr
			}
			if n == len(buf) {
				return total, true, nil
			}
		}
		switch {
		case rerr == nil:
			continue
		case errors.Is(rerr, io.EOF):
			return total, false, closeWrite(dst)
		case errors.Is(rerr, os.ErrDeadlineExceeded):
			if moved || time.Since(time.Unix(0, last.Load())) < idle+idle/4 {
				moved = false
				src.SetReadDeadline(time.Now().Add(idle))
				continue
			}
			return total, false, errIdle
		}
		return total, false, rerr
	}
}

func closeWrite(c halfCloser) error {
	err := c.CloseWrite()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
