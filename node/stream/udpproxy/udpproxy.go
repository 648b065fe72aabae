// Package udpproxy forwards UDP datagrams between clients and upstreams
// with one session per client address (DNS, QUIC, game traffic).
//
// A session is a connected UDP socket from the node to the upstream Pick
// chose for the client: the client's datagrams go out on it, and each
// datagram the upstream sends back on it becomes one datagram to the client,
// written through the listening socket. The connected socket only accepts
// datagrams from that upstream address, so nobody else can send through a
// session, and replies are never multiplied: a client receives at most as
// many datagrams as its upstream sent.
//
// A session ends after IdleTimeout without a datagram from the client (only
// client traffic keeps it alive, so an upstream that keeps answering a
// spoofed source stops reaching it after IdleTimeout). The table of sessions
// is bounded by MaxSessions: a new client over the bound is dropped (OnDrop
// "full"); live sessions are never evicted to make room.
//
// Datagrams up to 64 KiB pass whole. Sending to an upstream never waits for
// it (UDP has no flow control), and each session reads its upstream in its
// own goroutine, so a slow or silent upstream delays nobody else. A blocked
// session holds no read buffer: buffers are taken from a pool only when a
// datagram is ready (on unix). On Linux the listener is read with recvmmsg,
// up to 16 client datagrams per system call, without allocation.
package udpproxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-edge/strata/node/internal/mmsg"
)

// Defaults for zero Config fields.
const (
	DefaultIdleTimeout = 60 * time.Second
	DefaultMaxSessions = 10_000
	// DialTimeout bounds the resolution of an upstream given as a name.
	DialTimeout = 5 * time.Second
)

// MaxDatagram is the largest datagram forwarded whole.
const MaxDatagram = 64 << 10

// Reasons passed to OnDrop besides the Admit reasons.
const (
	DropFull       = "full"        // MaxSessions sessions are open
	DropNoUpstream = "no_upstream" // Pick failed
	DropDial       = "dial"        // the upstream socket could not be made
	DropPending    = "pending"     // too many datagrams while the upstream name resolves
	DropSend       = "send"        // writing to the upstream failed
)

// maxPending is how many datagrams wait for an upstream name to resolve.
const maxPending = 16

// Config is what new sessions use. Every func field may be called from
// several goroutines at once.
type Config struct {
	// Pick chooses the upstream ("192.0.2.10:53", "[2001:db8::1]:53" or
	// "name:53", resolved off the read loop) of a new client (IPv4-mapped
	// addresses unmapped); an error drops the datagram (OnDrop "no_upstream").
	Pick func(client netip.AddrPort) (upstream string, err error)
	// A session ends after this long without a datagram from its client;
	// 0 = 60 s. The current config's value applies to every session.
	IdleTimeout time.Duration
	// Open sessions at most; 0 = 10,000.
	MaxSessions int
	// Admit decides whether a new client may open a session (netguard's
	// Guard.Admit); release is called when the session ends. nil admits all.
	Admit func(ip netip.Addr) (release func(), reason string, ok bool)
	Log   *slog.Logger
	// OnSession is called with true when a session opens and false when it
	// ends (optional, for gauges/counters).
	OnSession func(open bool)
	// OnBytes is called per datagram forwarded: in = bytes from the client
	// to the upstream, out = bytes from the upstream to the client (optional).
	OnBytes func(in, out int)
	// OnDrop is called per datagram dropped with a short reason: an Admit
	// reason or one of the Drop constants (optional).
	OnDrop func(reason string)
}

func (c *Config) idle() time.Duration {
	if c.IdleTimeout > 0 {
		return c.IdleTimeout
	}
	return DefaultIdleTimeout
}

func (c *Config) maxSessions() int {
	if c.MaxSessions > 0 {
		return c.MaxSessions
	}
	return DefaultMaxSessions
}

func (c *Config) drop(reason string) {
	if c.OnDrop != nil {
		c.OnDrop(reason)
	}
}

func (c *Config) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Proxy is one UDP listener's sessions.
type Proxy struct {
	pc    net.PacketConn
	udp   *net.UDPConn // pc when it is one (allocation-free writes)
	cfg   atomic.Pointer[Config]
	start time.Time

	mu       sync.Mutex
	sessions map[netip.AddrPort]*session
	closed   bool

	wg      sync.WaitGroup
	dropped atomic.Uint64
	once    sync.Once
	// ctx ends upstream name resolutions when the proxy closes.
	ctx    context.Context
	cancel context.CancelFunc
}

// New makes a proxy reading client datagrams from pc; Serve runs it.
func New(pc net.PacketConn, cfg Config) *Proxy {
	p := &Proxy{pc: pc, start: time.Now(), sessions: make(map[netip.AddrPort]*session)}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.udp, _ = pc.(*net.UDPConn)
	p.cfg.Store(&cfg)
	return p
}

// Update makes new sessions use cfg; open sessions keep their upstream,
// their Admit release and their callbacks, and take the new IdleTimeout.
func (p *Proxy) Update(cfg Config) { p.cfg.Store(&cfg) }

// Sessions is the number of open sessions.
func (p *Proxy) Sessions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sessions)
}

// Dropped is the number of client datagrams dropped since New.
func (p *Proxy) Dropped() uint64 { return p.dropped.Load() }

// Close closes the listening socket and every session, and waits for the
// sessions' goroutines to end. Serve then returns nil.
func (p *Proxy) Close() {
	p.once.Do(func() {
		p.mu.Lock()
		p.closed = true
		ss := make([]*session, 0, len(p.sessions))
		for _, s := range p.sessions {
			ss = append(ss, s)
		}
		p.mu.Unlock()
		p.cancel()
		p.pc.Close()
		for _, s := range ss {
			s.close()
		}
	})
	p.wg.Wait()
}

// readBatch is how many client datagrams one recvmmsg reads (16 buffers of
// 64 KiB per listener).
const readBatch = 16

// Serve reads client datagrams until the proxy is closed (then it returns
// nil) or the socket fails.
func (p *Proxy) Serve() error {
	var r *mmsg.Reader
	var buf []byte
	if p.udp != nil {
		r, _ = mmsg.NewReader(p.udp, readBatch, MaxDatagram)
	}
	if r == nil { // not a *net.UDPConn, or no raw conn: the portable path
		buf = make([]byte, MaxDatagram)
	}
	for {
		if err := p.read(r, buf); err != nil {
			if p.isClosed() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
	}
}

// read delivers the datagrams of one read: a batch from r, else one
// datagram from p.pc into buf.
func (p *Proxy) read(r *mmsg.Reader, buf []byte) error {
	if r == nil {
		n, addr, err := p.pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		if from, err := addrPort(addr); err == nil {
			p.fromClient(buf[:n], from, addr)
		}
		return nil
	}
	n, err := r.Read()
	if err != nil {
		return err
	}
	for i := range n {
		b, from := r.Packet(i), r.From(i)
		if b == nil || !from.IsValid() {
			p.dropped.Add(1)
			continue
		}
		p.fromClient(b, from, nil)
	}
	return nil
}

func addrPort(a net.Addr) (netip.AddrPort, error) {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.AddrPort(), nil
	}
	return netip.ParseAddrPort(a.String())
}

func (p *Proxy) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *Proxy) now() int64 { return int64(time.Since(p.start)) }

func (p *Proxy) fromClient(b []byte, from netip.AddrPort, addr net.Addr) {
	p.mu.Lock()
	s := p.sessions[from]
	p.mu.Unlock()
	if s == nil {
		if s = p.open(from, addr); s == nil {
			p.dropped.Add(1)
			return
		}
	}
	s.last.Store(p.now())
	s.send(b)
}

// open makes the session of a new client, nil when it is refused.
func (p *Proxy) open(from netip.AddrPort, addr net.Addr) *session {
	cfg := p.cfg.Load()
	// Admit and Pick see IPv4 clients of a dual-stack socket as IPv4.
	client := netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	release := func() {}
	if cfg.Admit != nil {
		rel, reason, ok := cfg.Admit(client.Addr())
		if !ok {
			cfg.drop(reason)
			return nil
		}
		if rel != nil {
			release = rel
		}
	}
	if p.Sessions() >= cfg.maxSessions() {
		release()
		cfg.drop(DropFull)
		return nil
	}
	var upstream string
	var err error
	if cfg.Pick == nil {
		err = errors.New("no Pick")
	} else {
		upstream, err = cfg.Pick(client)
	}
	if err != nil {
		release()
		cfg.drop(DropNoUpstream)
		cfg.log().Debug("udp: no upstream", "client", from, "err", err)
		return nil
	}
	if addr == nil {
		addr = net.UDPAddrFromAddrPort(from)
	}
	s := &session{p: p, cfg: cfg, client: from, clientAddr: addr, upstream: upstream, release: release}
	var conn *net.UDPConn
	ap, literal := netip.ParseAddrPort(upstream)
	if literal == nil {
		conn, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ap))
		if err != nil {
			release()
			cfg.drop(DropDial) // counted; a log line per datagram would flood
			cfg.log().Debug("udp: upstream socket", "upstream", upstream, "err", err)
			return nil
		}
		s.conn.Store(conn)
	}
	p.mu.Lock()
	if p.closed || len(p.sessions) >= cfg.maxSessions() {
		p.mu.Unlock()
		if conn != nil {
			conn.Close()
		}
		release()
		cfg.drop(DropFull)
		return nil
	}
	p.sessions[from] = s
	p.wg.Add(1)
	p.mu.Unlock()
	s.last.Store(p.now())
	if cfg.OnSession != nil {
		cfg.OnSession(true)
	}
	if conn != nil {
		go s.run(conn)
	} else {
		go s.dial()
	}
	return s
}

type session struct {
	p          *Proxy
	cfg        *Config // the config that opened the session
	client     netip.AddrPort
	clientAddr net.Addr
	upstream   string
	release    func()
	last       atomic.Int64 // p.now() at the last client datagram
	conn       atomic.Pointer[net.UDPConn]
	closed     atomic.Bool

	mu      sync.Mutex // pending, while conn is nil
	pending [][]byte
}

func (s *session) send(b []byte) {
	c := s.conn.Load()
	if c == nil {
		s.mu.Lock()
		if c = s.conn.Load(); c == nil {
			if len(s.pending) >= maxPending {
				s.mu.Unlock()
				s.p.dropped.Add(1)
				s.cfg.drop(DropPending)
				return
			}
			s.pending = append(s.pending, append([]byte(nil), b...))
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
	s.write(c, b)
}

func (s *session) write(c *net.UDPConn, b []byte) {
	if _, err := c.Write(b); err != nil {
		// ECONNREFUSED (an ICMP port unreachable from the upstream) and
		// ENOBUFS drop this datagram; the session stays.
		s.p.dropped.Add(1)
		s.cfg.drop(DropSend)
		return
	}
	if s.cfg.OnBytes != nil {
		s.cfg.OnBytes(len(b), 0)
	}
}

// dial resolves and connects an upstream given by name, sends what waited,
// then runs the session.
func (s *session) dial() {
	ctx, cancel := context.WithTimeout(s.p.ctx, DialTimeout)
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", s.upstream)
	cancel()
	if err != nil {
		s.cfg.drop(DropDial)
		s.cfg.log().Debug("udp: upstream socket", "upstream", s.upstream, "err", err)
		s.close()
		s.p.wg.Done()
		return
	}
	conn := c.(*net.UDPConn)
	s.mu.Lock()
	for _, b := range s.pending {
		s.write(conn, b)
	}
	s.pending = nil
	s.conn.Store(conn)
	s.mu.Unlock()
	if s.closed.Load() {
		conn.Close()
	}
	s.run(conn)
}

// run reads the upstream's replies until the session is idle or closed.
func (s *session) run(c *net.UDPConn) {
	defer s.p.wg.Done()
	defer s.close()
	log := s.cfg.log()
	for !s.closed.Load() {
		deadline := s.last.Load() + int64(s.p.cfg.Load().idle())
		left := deadline - s.p.now()
		if left <= 0 {
			log.Debug("udp: session idle", "client", s.client, "upstream", s.upstream)
			return
		}
		if err := c.SetReadDeadline(time.Now().Add(time.Duration(left))); err != nil {
			return
		}
		err := recv(c, s.reply)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			if !errors.Is(err, net.ErrClosed) {
				log.Debug("udp: upstream read", "upstream", s.upstream, "err", err)
			}
			return
		}
	}
}

// reply sends one upstream datagram to the client.
func (s *session) reply(b []byte) {
	var err error
	if s.p.udp != nil {
		_, err = s.p.udp.WriteToUDPAddrPort(b, s.client)
	} else {
		_, err = s.p.pc.WriteTo(b, s.clientAddr)
	}
	if err != nil {
		return
	}
	if s.cfg.OnBytes != nil {
		s.cfg.OnBytes(0, len(b))
	}
}

// close ends the session once: removes it from the table, closes its
// socket and releases its admission.
func (s *session) close() {
	if !s.closed.CompareAndSwap(false, true) {
		return
	}
	s.p.mu.Lock()
	if s.p.sessions[s.client] == s {
		delete(s.p.sessions, s.client)
	}
	s.p.mu.Unlock()
	if c := s.conn.Load(); c != nil {
		c.Close()
	}
	s.release()
	if s.cfg.OnSession != nil {
		s.cfg.OnSession(false)
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, MaxDatagram); return &b }}
