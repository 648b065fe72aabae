package forward

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The HTTP forward proxy runs on one net/http server per Forwarder, fed
// the connections of every http port through connQueue; each connection
// carries the app it was accepted for (a connection keeps its app across
// config swaps, like a SOCKS5 one).

// RefusedHeader names the reason of a 403 answer to a destination the
// egress policy refuses.
const RefusedHeader = "X-Strata-Refused"

type ctxKey int

const (
	connKey ctxKey = iota
	recordKey
)

// appConn is a client connection of an http port.
type appConn struct {
	net.Conn
	app    *app
	client netip.AddrPort
	once   sync.Once
	done   chan struct{}
}

func (c *appConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.done) })
	return err
}

func (c *appConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// connQueue is a net.Listener whose Accept returns queued connections.
type connQueue struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   net.Addr
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.closed:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error   { q.once.Do(func() { close(q.closed) }); return nil }
func (q *connQueue) Addr() net.Addr { return q.addr }

// httpServer starts the HTTP proxy's server on first use.
func (f *Forwarder) httpServer() *connQueue {
	f.httpOnce.Do(func() {
		f.httpQ = &connQueue{ch: make(chan net.Conn), closed: make(chan struct{}), addr: &net.TCPAddr{}}
		f.httpSrv = &http.Server{
			Handler:           http.HandlerFunc(f.serveProxyRequest),
			ReadHeaderTimeout: HandshakeTimeout,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(f.log.Handler(), slog.LevelDebug),
			ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				return context.WithValue(ctx, connKey, c.(*appConn))
			},
		}
		go func() { _ = f.httpSrv.Serve(f.httpQ) }()
	})
	return f.httpQ
}

// serveHTTP hands one connection of an http port to the server and
// returns when the server (or a tunnel) closed it.
func (f *Forwarder) serveHTTP(c net.Conn, a *app) {
	client := addrPortOf(c.RemoteAddr())
	release, reason, ok := a.guard.Admit(client.Addr())
	if !ok {
		rec := f.newRecord(a, "http", client)
		rec.result, rec.reason = resultDenied, reason
		rec.done()
		return
	}
	defer release()
	ac := &appConn{Conn: c, app: a, client: client, done: make(chan struct{})}
	q := f.httpServer()
	select {
	case q.ch <- ac:
	case <-q.closed:
		return
	}
	<-ac.done
}

func (f *Forwarder) serveProxyRequest(w http.ResponseWriter, r *http.Request) {
	ac := r.Context().Value(connKey).(*appConn)
	a := ac.app
	proto := "http"
	if r.Method == http.MethodConnect {
		proto = "http-connect"
	}
	rec := f.newRecord(a, proto, ac.client)
	defer rec.done()
	if r.Method == http.MethodConnect {
		rec.dest = r.Host
	} else if r.URL.IsAbs() {
		rec.dest = r.URL.Host
	}
	name, password, ok := proxyBasicAuth(r.Header.Get("Proxy-Authorization"))
	if !ok {
		rec.result, rec.reason = resultAuthFailed, "no Proxy-Authorization"
		challenge(w)
		return
	}
	rec.user = name
	u, err := f.authenticate(a, ac.client.Addr(), name, password)
	if err != nil {
		rec.result, rec.reason = resultAuthFailed, err.Error()
		if errors.Is(err, errRateLimited) {
			rec.result = resultRateLimited
			w.Header().Set("Retry-After", strconv.Itoa(int(failRefill/time.Second)))
			http.Error(w, err.Error(), http.StatusTooManyRequests)
			return
		}
		challenge(w)
		return
	}
	if r.Method == http.MethodConnect {
		f.tunnel(w, r, a, u, rec)
		return
	}
	if !r.URL.IsAbs() || r.URL.Scheme != "http" || r.URL.Host == "" {
		rec.result, rec.reason = resultBadRequest, "not an absolute http:// URL"
		http.Error(w, "this is a forward proxy: send CONNECT or an absolute http:// URL", http.StatusBadRequest)
		return
	}
	rec.result = resultOK
	r = r.WithContext(context.WithValue(r.Context(), recordKey, rec))
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &countingBody{ReadCloser: r.Body, rec: rec}
	}
	u.upstream(f, a).ServeHTTP(&countingWriter{ResponseWriter: w, rec: rec}, r)
}

func challenge(w http.ResponseWriter) {
	w.Header().Set("Proxy-Authenticate", `Basic realm="strata forward proxy", charset="UTF-8"`)
	http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
}

// proxyBasicAuth parses "Basic base64(user:password)".
func proxyBasicAuth(h string) (name, password string, ok bool) {
	scheme, enc, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Basic") || len(enc) > 1024 {
		return "", "", false
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return "", "", false
	}
	name, password, ok = strings.Cut(string(b), ":")
	if !ok || name == "" || len(name) > maxUsername || len(password) > maxPassword {
		return "", "", false
	}
	return name, password, true
}

// refuse answers a destination the policy refused or could not reach.
func refuse(w http.ResponseWriter, rec *record, err error) {
	rec.result, rec.reason = classify(err), err.Error()
	switch rec.result {
	case resultRefused:
		var r *refusal
		if errors.As(err, &r) {
			w.Header().Set(RefusedHeader, r.reason)
		}
		http.Error(w, err.Error(), http.StatusForbidden)
	case resultBadRequest:
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			http.Error(w, "destination timed out", http.StatusGatewayTimeout)
			return
		}
		http.Error(w, "destination unreachable", http.StatusBadGateway)
	}
}

// tunnel answers CONNECT host:port.
func (f *Forwarder) tunnel(w http.ResponseWriter, r *http.Request, a *app, u *user, rec *record) {
	host, portStr, err := net.SplitHostPort(r.Host)
	port, perr := strconv.ParseUint(portStr, 10, 16)
	if err != nil || perr != nil || port == 0 {
		rec.result, rec.reason = resultBadRequest, "CONNECT needs host:port"
		http.Error(w, "CONNECT needs host:port", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.connectTimeout)
	defer cancel()
	addrs, err := f.resolve(ctx, u.egress, host, uint16(port))
	if err != nil {
		refuse(w, rec, err)
		return
	}
	d, err := f.dial(ctx, addrs, a.connectTimeout)
	if err != nil {
		refuse(w, rec, err)
		return
	}
	defer d.Close()
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		rec.reason = err.Error()
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		rec.reason = err.Error()
		return
	}
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		if _, err := d.Write(b); err != nil {
			rec.reason = err.Error()
			return
		}
		rec.addIn(n)
	}
	rec.result = resultOK
	relay(c, d, a.idleTimeout, rec)
}

// httpUpstream forwards absolute-form requests of one user: its
// transport dials only addresses the user's policy admitted (checked at
// each dial), and pools connections per user.
type httpUpstream struct {
	rp *httputil.ReverseProxy
	tr *http.Transport
}

func (u *user) upstream(f *Forwarder, a *app) *httpUpstream {
	u.transportOnce.Do(func() {
		tr := &http.Transport{
			Proxy: nil, // never another proxy from the environment
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, portStr, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				port, err := strconv.ParseUint(portStr, 10, 16)
				if err != nil {
					return nil, err
				}
				addrs, err := f.resolve(ctx, u.egress, host, uint16(port))
				if err != nil {
					return nil, err
				}
				return f.dial(ctx, addrs, a.connectTimeout)
			},
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: a.idleTimeout,
			ForceAttemptHTTP2:     false,
		}
		u.transport = &httpUpstream{tr: tr, rp: &httputil.ReverseProxy{
			Transport: tr,
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.Out.Host = pr.In.Host
			},
			ErrorLog: slog.NewLogLogger(f.log.Handler(), slog.LevelDebug),
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				rec, _ := r.Context().Value(recordKey).(*record)
				if rec == nil {
					http.Error(w, "bad gateway", http.StatusBadGateway)
					return
				}
				refuse(w, rec, err)
			},
		}}
	})
	return u.transport
}

func (h *httpUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.rp.ServeHTTP(w, r) }

type countingBody struct {
	io.ReadCloser
	rec *record
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.rec.addIn(n)
	return n, err
}

type countingWriter struct {
	http.ResponseWriter
	rec *record
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.rec.addOut(n)
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
