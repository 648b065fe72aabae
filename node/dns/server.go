// Package dns is the edge node's authoritative DNS server: it serves the
// released zones of the node's partition over UDP and TCP.
package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	mdns "github.com/miekg/dns"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/geo"
)

// Options configures a Server.
type Options struct {
	// UDPAddr and TCPAddr are the listeners (host:port, port 0 picks one);
	// at least one is required. Equal addresses with port 0 share the port
	// picked for UDP.
	UDPAddr, TCPAddr string
	// Geo, optional, is the node's MaxMind-format (MMDB) file (node/geo)
	// for country, continent and ASN rules; CIDR rules work without it.
	Geo *geo.DB
	// Batch is how many UDP datagrams one recvmmsg/sendmmsg moves; 0 means 32.
	Batch int
	// UDPWorkers is how many goroutines serve each UDP socket; 0 means 1
	// (two loops on one socket contend for it: 0.66x Knot against 0.79x).
	UDPWorkers int
	// UDPSockets is how many UDP sockets share the port (SO_REUSEPORT: the
	// kernel spreads clients over them by address hash), each served by
	// UDPWorkers goroutines; 0 means GOMAXPROCS, like Knot's UDP workers (on
	// 2 cores shared with the load generator 2 sockets answered ~10% more
	// than 1, at ~25% more CPU per query). Linux only.
	UDPSockets int
	// UDPSteerCPU hands a datagram to the socket of the CPU that received
	// it (a reuseport BPF program; needs UDPSockets > 1) and UDPPin locks
	// socket i's loops to CPU i, so a query is read on the CPU it was queued
	// on. Together ~11% less CPU per query, but pinned loops cannot move to
	// an idle core: on 2 cores shared with the load generator 0.9x the
	// queries/s of the default (docs/dns.md). Off by default; Linux only.
	UDPSteerCPU, UDPPin bool
	Logger              *slog.Logger
	// Challenges, optional, answers pending ACME DNS-01 values (challenge.go).
	Challenges ChallengeSource
	// Counters, optional, is where the server counts queries and
	// responses (stats.go); nil: counters of its own.
	Counters *Counters
}

// Server answers DNS queries from the zones of the newest snapshot.
type Server struct {
	opts    Options
	log     *slog.Logger
	geo     geoSource
	handler Handler
	counts  *Counters

	updateMu sync.Mutex
	table    atomic.Pointer[table]
	// snap and gateways are the inputs of the running table (under updateMu).
	snap     *syncv1.Snapshot
	gateways map[string]Gateway

	udp  *net.UDPConn   // the first of udps: its address is the server's
	udps []*net.UDPConn // one, or UDPSockets sharing the port
	tcp  *mdns.Server
	tcpL net.Listener
	wg   sync.WaitGroup
}

// New validates opts and returns a server that refuses every query until the
// first Update.
func New(opts Options) (*Server, error) {
	if opts.UDPAddr == "" && opts.TCPAddr == "" {
		return nil, errors.New("dns: Options.UDPAddr, TCPAddr: set at least one")
	}
	if opts.Batch <= 0 {
		opts.Batch = 32
	}
	if opts.UDPWorkers <= 0 {
		opts.UDPWorkers = 1
	}
	if opts.UDPSockets <= 0 {
		opts.UDPSockets = runtime.GOMAXPROCS(0)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, log: opts.Logger, counts: opts.Counters}
	if s.counts == nil {
		s.counts = new(Counters)
	}
	if opts.Geo != nil {
		s.geo = mmdb{opts.Geo}
	}
	s.table.Store(&table{zones: map[string]*zone{}, fast: map[string][]byte{}, fastZones: map[string]*fastZone{}, geo: s.geo})
	s.handler = s.handlers()
	return s, nil
}

// Start opens the listeners and serves until Stop.
func (s *Server) Start(ctx context.Context) error {
	udps, tcpL, err := s.listen()
	if err != nil {
		return err
	}
	if len(udps) > 0 {
		s.udps, s.udp = udps, udps[0]
		if s.opts.UDPSteerCPU && len(udps) > 1 {
			if err := steerByCPU(udps[0], len(udps)); err != nil {
				for _, c := range udps {
					_ = c.Close()
				}
				if tcpL != nil {
					_ = tcpL.Close()
				}
				return fmt.Errorf("dns: %w", err)
			}
		}
		for ci, c := range s.udps {
			// Under load hundreds of queries arrive between two batches; the
			// kernel caps these at net.core.rmem_max / wmem_max.
			_ = c.SetReadBuffer(udpSocketBuffer)
			_ = c.SetWriteBuffer(udpSocketBuffer)
			for range s.opts.UDPWorkers {
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					if s.opts.UDPPin {
						if _, err := pinToCPU(ci); err != nil {
							s.log.Warn("dns: pin udp loop", "err", err)
						}
					}
					s.serveUDP(c)
				}()
			}
		}
	}
	if tcpL != nil {
		s.tcpL = tcpL
		s.tcp = &mdns.Server{Listener: tcpL, Net: "tcp", Handler: mdns.HandlerFunc(s.serveTCP)}
		started := make(chan struct{})
		s.tcp.NotifyStartedFunc = func() { close(started) }
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.tcp.ActivateAndServe(); err != nil {
				s.log.Error("dns: tcp server", "err", err)
			}
		}()
		<-started
	}
	s.log.Info("dns: serving", "udp", s.UDPAddr(), "tcp", s.TCPAddr())
	return nil
}

// listen binds the UDP sockets and the TCP listener. When both share one
// address with port 0, the kernel picks the UDP port and TCP must take the
// same one (resolvers expect it), which another TCP socket may already hold:
// then both are bound again on a new port, a few times.
func (s *Server) listen() ([]*net.UDPConn, net.Listener, error) {
	shared := s.opts.UDPAddr != "" && s.opts.TCPAddr == s.opts.UDPAddr
	attempts := 1
	if _, port, _ := net.SplitHostPort(s.opts.UDPAddr); shared && port == "0" {
		attempts = 16
	}
	for i := 1; ; i++ {
		udps, err := s.listenUDP()
		if err != nil {
			return nil, nil, err
		}
		if s.opts.TCPAddr == "" {
			return udps, nil, nil
		}
		addr := s.opts.TCPAddr
		if shared {
			addr = udps[0].LocalAddr().String()
		}
		l, err := net.Listen("tcp", addr)
		if err == nil {
			return udps, l, nil
		}
		for _, c := range udps {
			_ = c.Close()
		}
		if i >= attempts || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("dns: %w", err)
		}
	}
}

// listenUDP binds the UDP socket(s) of opts.UDPAddr; none when it is empty.
func (s *Server) listenUDP() ([]*net.UDPConn, error) {
	if s.opts.UDPAddr == "" {
		return nil, nil
	}
	ua, err := net.ResolveUDPAddr("udp", s.opts.UDPAddr)
	if err != nil {
		return nil, fmt.Errorf("dns: udp %q: %w", s.opts.UDPAddr, err)
	}
	if s.opts.UDPSockets > 1 {
		udps, err := listenUDPShared(ua, s.opts.UDPSockets)
		if err != nil {
			return nil, fmt.Errorf("dns: %w", err)
		}
		return udps, nil
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	return []*net.UDPConn{c}, nil
}

// Stop closes the listeners and waits for the serving goroutines.
func (s *Server) Stop(ctx context.Context) error {
	var errs []error
	for _, c := range s.udps {
		errs = append(errs, c.Close())
	}
	if s.tcp != nil {
		errs = append(errs, s.tcp.ShutdownContext(ctx))
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

// UDPAddr and TCPAddr return the bound addresses (nil when not listening).
func (s *Server) UDPAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

func (s *Server) TCPAddr() net.Addr {
	if s.tcpL == nil {
		return nil
	}
	return s.tcpL.Addr()
}

// Update compiles the zones of snap and swaps them in atomically; on error the
// running zones stay.
func (s *Server) Update(snap *syncv1.Snapshot) error {
	commit, err := s.Prepare(snap)
	if err != nil {
		return err
	}
	commit()
	return nil
}

// Prepare compiles the zones of snap without serving them; commit swaps them
// in. A caller updating several parts at once (the node: proxy and DNS)
// prepares every part first, so a bad snapshot changes none of them.
func (s *Server) Prepare(snap *syncv1.Snapshot) (commit func(), err error) {
	if snap == nil {
		return nil, errors.New("dns: update: nil snapshot")
	}
	s.updateMu.Lock()
	gateways := s.gateways
	s.updateMu.Unlock()
	t, err := compileTable(snap, s.geo, gateways)
	if err != nil {
		return nil, fmt.Errorf("dns: config version %d: %w", snap.GetVersion(), err)
	}
	return func() {
		s.updateMu.Lock()
		defer s.updateMu.Unlock()
		if !maps.EqualFunc(gateways, s.gateways, Gateway.equal) { // SetGateways ran meanwhile
			if nt, err := compileTable(snap, s.geo, s.gateways); err == nil {
				t = nt
			}
		}
		s.snap = snap
		s.table.Store(t)
		s.log.Debug("dns: zones applied", "version", t.version, "zones", len(t.zones), "answers", len(t.fast))
	}, nil
}

// SetGateways replaces the live state of gateway records' clusters, keyed by
// the cluster a record names (id or name as written in the record): the
// healthy online nodes of each cluster, all its nodes and its location (GSLB
// records). Clusters absent from the map use what the snapshot carries. The running zones are rebuilt and swapped
// at once, so a node leaving the set stops being answered immediately.
func (s *Server) SetGateways(gateways map[string]Gateway) error {
	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	s.gateways = gateways
	if s.snap == nil {
		return nil
	}
	t, err := compileTable(s.snap, s.geo, gateways)
	if err != nil {
		return fmt.Errorf("dns: gateways: %w", err)
	}
	s.table.Store(t)
	return nil
}

// Version is the snapshot version of the served zones.
func (s *Server) Version() uint64 { return s.table.Load().version }

// udpBufSize is the size of every datagram buffer: larger queries are
// dropped, and no reply exceeds maxUDPSize.
const udpBufSize = 4096

// udpSocketBuffer is the receive and send buffer asked for the UDP socket.
const udpSocketBuffer = 4 << 20

// batchConn is the UDP socket seen as numbered slots: Read fills slots
// [0, n) with datagrams, queue(k, i, n) makes reply(k)[:n] the k-th answer,
// to the sender of datagram i, and flush(k) sends answers [0, k).
// On Linux one recv and one flush are one recvmmsg and one sendmmsg.
type batchConn interface {
	Read() (int, error)
	Packet(i int) []byte
	From(i int) netip.AddrPort
	reply(k int) []byte
	queue(k, i, n int)
	flush(k int) error
}

// serveUDP is one UDP loop (UDPWorkers run on each socket): read a batch,
// answer each query (fast path, else the handler chain), write the replies as
// one batch. The fast path allocates nothing.
func (s *Server) serveUDP(conn *net.UDPConn) {
	c, err := newBatchConn(conn, s.opts.Batch)
	if err != nil {
		s.log.Error("dns: udp", "err", err)
		return
	}
	key := make([]byte, keySize)
	for {
		got, err := c.Read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("dns: udp read", "err", err)
			continue
		}
		t := s.table.Load()
		k := 0
		var rc [16]uint32 // responses by rcode, counted once per batch
		for i := range got {
			q, out := c.Packet(i), c.reply(k)
			n := t.fastReply(out, q, key)
			if n == 0 && len(q) > 0 {
				n = copy(out, s.slowUDP(out, q, c.From(i)))
			}
			if n > 0 {
				rc[out[3]&0x0f]++
				c.queue(k, i, n)
				k++
			}
		}
		s.counts.addBatch(got, &rc)
		if k == 0 {
			continue
		}
		if err := c.flush(k); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("dns: udp write", "err", err)
		}
	}
}

// slowUDP answers one datagram through the handler chain; nil means no reply.
func (s *Server) slowUDP(buf, q []byte, from netip.AddrPort) []byte {
	r := new(mdns.Msg)
	if err := r.Unpack(q); err != nil {
		return formErr(buf, q)
	}
	if r.Response {
		return nil
	}
	st := &request{udpSize: mdns.MinMsgSize, client: from.Addr().Unmap()}
	w := &captureWriter{local: s.udp.LocalAddr(), remote: net.UDPAddrFromAddrPort(from)}
	m := s.serve(withRequest(context.Background(), st), w, r)
	if m == nil {
		return nil
	}
	m.Truncate(st.udpSize)
	m.Compress = true // like the prepared replies (Truncate clears it when the reply fits)
	wire, err := m.PackBuffer(buf)
	if err != nil {
		s.log.Debug("dns: pack reply", "err", err)
		return nil
	}
	return wire
}

// serveTCP is the miekg/dns handler for TCP.
func (s *Server) serveTCP(w mdns.ResponseWriter, r *mdns.Msg) {
	st := &request{}
	if ta, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		st.client = ta.AddrPort().Addr().Unmap()
	}
	cw := &captureWriter{local: w.LocalAddr(), remote: w.RemoteAddr()}
	s.counts.queries[TCP].Add(1)
	if m := s.serve(withRequest(context.Background(), st), cw, r); m != nil {
		s.counts.responses[TCP][m.Rcode&0x0f].Add(1)
		_ = w.WriteMsg(m)
	}
}

// serve runs the chain and returns the reply to send (nil: none).
func (s *Server) serve(ctx context.Context, w *captureWriter, r *mdns.Msg) *mdns.Msg {
	rcode, err := s.handler.ServeDNS(ctx, w, r)
	if err != nil {
		s.log.Debug("dns: handler", "err", err)
	}
	if w.msg != nil {
		return w.msg
	}
	if written(rcode) {
		return nil
	}
	m := new(mdns.Msg).SetRcode(r, rcode)
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(maxUDPSize, opt.Do())
	}
	return m
}

// formErr replies FORMERR to a query whose header parses, else nothing.
func formErr(buf, q []byte) []byte {
	if len(q) < 12 || q[2]&0x80 != 0 {
		return nil
	}
	h := buf[:12]
	clear(h)
	h[0], h[1] = q[0], q[1]
	h[2] = 0x80 | q[2]&0x78 | q[2]&0x01 // QR, opcode, RD
	h[3] = mdns.RcodeFormatError
	return h
}

// captureWriter keeps the reply so the server can truncate and pack it.
type captureWriter struct {
	local, remote net.Addr
	msg           *mdns.Msg
}

func (w *captureWriter) LocalAddr() net.Addr        { return w.local }
func (w *captureWriter) RemoteAddr() net.Addr       { return w.remote }
func (w *captureWriter) WriteMsg(m *mdns.Msg) error { w.msg = m; return nil }
func (w *captureWriter) Write([]byte) (int, error) {
	return 0, errors.New("dns: raw write not supported")
}
func (w *captureWriter) Close() error        { return nil }
func (w *captureWriter) TsigStatus() error   { return nil }
func (w *captureWriter) TsigTimersOnly(bool) {}
func (w *captureWriter) Hijack()             {}

var _ mdns.ResponseWriter = (*captureWriter)(nil)
