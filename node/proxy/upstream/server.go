package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Server is one address of an upstream with its health state and its
// connection pools: a fasthttp client for the HTTP/1.1 fast path and, made on
// first use, net/http transports for the TLS listener (HTTP/1.1 and HTTP/2).
// Each server has its own pools, so there is no lock shared across servers.
type Server struct {
	Addr   string
	Weight int
	Backup bool

	up      *Upstream
	index   int         // position in Upstream.servers, for Tried
	tlsConf *tls.Config // nil: plain; ServerName defaults to the address host

	active atomic.Int64 // requests in flight (least connections)

	// Passive health: consecutive failures and, once ejected, until when.
	fails        atomic.Int32
	ejectedUntil atomic.Int64 // unix nanos; 0 = not ejected
	// Active health: set by the checker goroutine.
	down atomic.Bool
	// The last change of health, for reports (Health).
	note atomic.Pointer[healthNote]

	fast *fasthttp.HostClient
	// handedOver: a newer upstream took the pools (Adopt); closing this
	// one leaves them open.
	handedOver atomic.Bool

	stdOnce  sync.Once
	stdReady atomic.Bool
	h1       *http.Transport
	h2       *http.Transport
}

func newServer(u *Upstream, addr string, weight int, backup bool, index int) *Server {
	s := &Server{Addr: addr, Weight: weight, Backup: backup, up: u, index: index}
	if u.tlsConf != nil {
		s.tlsConf = u.tlsConf.Clone()
		if s.tlsConf.ServerName == "" {
			s.tlsConf.ServerName, _, _ = net.SplitHostPort(addr)
		}
	}
	t := u.timeouts
	s.fast = &fasthttp.HostClient{
		Addr: addr,
		Dial: func(addr string) (net.Conn, error) {
			return dial(context.Background(), addr, t.Connect, s.tlsConf, t.Read, t.Write, false)
		},
		// Connecting failed: we retry on another server ourselves. Other
		// errors on a reused keep-alive connection (the upstream closed it
		// while idle) are worth one more try for idempotent requests.
		RetryIfErr: func(req *fasthttp.Request, attempts int, err error) (bool, bool) {
			var de *DialError
			if errors.As(err, &de) {
				return false, false
			}
			return false, isIdempotent(req.Header.Method())
		},
		MaxIdemponentCallAttempts:     2,
		MaxConns:                      1 << 16,
		MaxIdleConnDuration:           u.keepaliveIdle,
		ReadBufferSize:                16 << 10, // also caps the response header size
		WriteBufferSize:               8 << 10,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		Transport:                     fastTransport{},
	}
	return s
}

// Fast returns the fasthttp client for this server. It speaks plain HTTP/1.1
// to the client library even when the upstream uses TLS: the TLS handshake
// happens in the dialer, so requests keep their "http" scheme.
func (s *Server) Fast() *fasthttp.HostClient { return s.fast }

func (s *Server) initStd() {
	u := s.up
	t := u.timeouts
	s.h1 = &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return dial(ctx, addr, t.Connect, s.tlsConf, t.Read, t.Write, true)
		},
		ForceAttemptHTTP2:      false,
		DisableCompression:     true,
		MaxIdleConns:           0,
		MaxIdleConnsPerHost:    1024,
		IdleConnTimeout:        u.keepaliveIdle,
		ResponseHeaderTimeout:  t.Read,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}
	s.h1.Protocols = new(http.Protocols)
	s.h1.Protocols.SetHTTP1(true)

	// HTTP/2 for gRPC: over TLS with ALPN, else h2c with prior knowledge.
	// Streams may stay idle for long, so there is no per-read deadline here;
	// the response header timeout still applies.
	s.h2 = &http.Transport{
		DisableCompression:    true,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       u.keepaliveIdle,
		ResponseHeaderTimeout: t.Read,
	}
	s.h2.Protocols = new(http.Protocols)
	if s.tlsConf != nil {
		conf := s.tlsConf.Clone()
		conf.NextProtos = []string{"h2"}
		s.h2.TLSClientConfig = conf
		s.h2.DialTLSContext = func(ctx context.Context, _, addr string) (net.Conn, error) {
			c, err := dial(ctx, addr, t.Connect, conf, 0, 0, false)
			if err != nil {
				return nil, err
			}
			return c, nil
		}
		s.h2.Protocols.SetHTTP2(true)
	} else {
		s.h2.DialContext = func(ctx context.Context, _, addr string) (net.Conn, error) {
			return dial(ctx, addr, t.Connect, nil, 0, 0, false)
		}
		s.h2.Protocols.SetUnencryptedHTTP2(true)
	}
	s.stdReady.Store(true)
}

// HTTP1 returns the net/http transport that speaks HTTP/1.1 to this server
// (requests use the "http" scheme; TLS is done by the dialer).
func (s *Server) HTTP1() *http.Transport {
	s.stdOnce.Do(s.initStd)
	return s.h1
}

// HTTP2 returns the net/http transport that speaks HTTP/2 to this server:
// requests must use the "https" scheme when the upstream has TLS enabled and
// "http" (h2c) otherwise; see Upstream.Scheme.
func (s *Server) HTTP2() *http.Transport {
	s.stdOnce.Do(s.initStd)
	return s.h2
}

// Upstream returns the upstream the server belongs to.
func (s *Server) Upstream() *Upstream { return s.up }

// Begin and End bracket a request sent to the server (least-connections
// accounting).
func (s *Server) Begin() { s.active.Add(1) }
func (s *Server) End()   { s.active.Add(-1) }

// Active returns the number of requests in flight.
func (s *Server) Active() int64 { return s.active.Load() }

// Available reports whether the server may take a new request: weight above
// 0, not marked down by active checks, not ejected by passive checks.
func (s *Server) Available() bool {
	if s.Weight <= 0 || s.down.Load() {
		return false
	}
	if until := s.ejectedUntil.Load(); until != 0 && time.Now().UnixNano() < until {
		return false
	}
	return true
}

// healthNote is why a server's health last changed, and when.
type healthNote struct {
	reason string // "" when it became healthy
	since  time.Time
}

func (s *Server) noteHealth(reason string) {
	s.note.Store(&healthNote{reason: reason, since: time.Now()})
}

// Health is the server's state for reports: healthy or not, why not (the
// last failed active check, or passive failures), and since when. A server
// no check ever judged is healthy since zero time.
func (s *Server) Health() (healthy bool, reason string, since time.Time) {
	if n := s.note.Load(); n != nil {
		reason, since = n.reason, n.since
	}
	if s.down.Load() {
		return false, reason, since
	}
	if until := s.ejectedUntil.Load(); until != 0 {
		u := time.Unix(0, until)
		if time.Now().Before(u) {
			if reason == "" {
				reason = "passive: ejected after failed requests"
			}
			return false, reason, since
		}
		return true, "", u // the ejection ran out; no event marks that
	}
	return true, "", since
}

// ReportSuccess records a request that got a response from the server.
func (s *Server) ReportSuccess() {
	if s.fails.Load() != 0 {
		s.fails.Store(0)
		if s.ejectedUntil.Swap(0) != 0 && !s.down.Load() {
			s.noteHealth("")
		}
	}
}

// ReportFailure records a connect error or timeout. After max_fails
// consecutive failures the server is ejected for fail_timeout; once that has
// passed it gets traffic again, and one more failure ejects it again (as in
// nginx).
func (s *Server) ReportFailure() {
	hc := s.up.health
	if hc.maxFails <= 0 {
		return
	}
	if n := s.fails.Add(1); int(n) >= hc.maxFails {
		wasEjected := s.ejectedUntil.Swap(time.Now().Add(hc.failTimeout).UnixNano()) > time.Now().UnixNano()
		if !wasEjected && !s.down.Load() {
			s.noteHealth(fmt.Sprintf("passive: %d consecutive failed requests", n))
		}
	}
}

// Healthy reports the active health check verdict (true without checks).
func (s *Server) Healthy() bool { return !s.down.Load() }

func (s *Server) closeIdle() {
	if s.handedOver.Load() {
		return
	}
	s.fast.CloseIdleConnections()
	if s.stdReady.Load() {
		s.h1.CloseIdleConnections()
		s.h2.CloseIdleConnections()
	}
}

func isIdempotent(method []byte) bool {
	switch string(method) {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE":
		return true
	}
	return false
}

// IsIdempotent reports whether a request with this method may be sent again
// on another server after connecting failed.
func IsIdempotent(method string) bool { return isIdempotent([]byte(method)) }

// DialTunnel connects to the server for an upgraded connection (WebSocket):
// the connect timeout and TLS settings apply; the tunnel itself has no read
// or write deadlines because it may stay idle for long.
func (s *Server) DialTunnel(ctx context.Context) (net.Conn, error) {
	return dial(ctx, s.Addr, s.up.timeouts.Connect, s.tlsConf, 0, 0, false)
}
