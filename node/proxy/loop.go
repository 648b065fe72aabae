//go:build linux

package proxy

import (
	"context"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"

	"github.com/strata-edge/strata/node/proxy/evloop"
	"github.com/strata-edge/strata/node/proxy/upstream"
)

// The event-loop engine of the plain listener (EngineLoop): one epoll loop
// per GOMAXPROCS holds client and upstream sockets, reads only sockets
// that are ready, and runs the one pipeline (handle, finish, done) on the
// loop's goroutine. Connections whose request the loop does not serve
// itself move to the fasthttp server with their buffered bytes (see
// README.md, "The event-loop engine").

// loopSupported: epoll is there.
const loopSupported = true

// loopTick is how often timeouts are checked.
const loopTick = 100 * time.Millisecond

// loopMaxBody is the largest request body the loop buffers; larger ones
// take the general path, which streams them.
const loopMaxBody = 64 << 10

type loopEngine struct {
	p       *Proxy
	lnFd    int
	workers []*loopWorker
	done    sync.WaitGroup
}

// loopWorker is one loop with its connections and upstream pools.
type loopWorker struct {
	e     *loopEngine
	l     *evloop.Loop
	conns []*loopConn
	idle  map[*fasthttp.HostClient][]*upConn // keep-alive pools, this loop only: by the server's pool identity, which a config update carries over (Adopt)
	lnFd  int
}

func (p *Proxy) startLoops(ln net.Listener) (*loopEngine, error) {
	if g, ok := ln.(guardListener); ok {
		ln = g.Listener
	}
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil, errNotTCP
	}
	f, err := tl.File() // a duplicate, blocking
	if err != nil {
		return nil, err
	}
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	e := &loopEngine{p: p, lnFd: fd}
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		l, err := evloop.New()
		if err != nil {
			e.shutdown()
			return nil, err
		}
		w := &loopWorker{e: e, l: l, idle: make(map[*fasthttp.HostClient][]*upConn), lnFd: fd}
		if err := l.AddListener(fd, w); err != nil {
			l.Shutdown()
			e.shutdown()
			return nil, err
		}
		e.workers = append(e.workers, w)
	}
	for _, w := range e.workers {
		e.done.Add(1)
		go func() {
			defer e.done.Done()
			// The loop keeps its own thread: measured +2 % requests/s and
			// -1 % CPU per request at GOMAXPROCS=1 (docs/benchmarks-proxy.md).
			runtime.LockOSThread()
			if err := w.l.Run(loopTick, 0, w.tick); err != nil {
				p.log.Error("proxy: event loop stopped", "err", err)
			}
			w.closeAll()
			w.l.Shutdown()
		}()
	}
	return e, nil
}

type loopError string

func (e loopError) Error() string { return string(e) }

const errNotTCP = loopError("proxy: the evloop engine needs a TCP listener")

// stop stops accepting, waits until no request is in flight or ctx ends,
// then closes every connection.
func (e *loopEngine) stop(ctx context.Context) {
	for _, w := range e.workers {
		w.l.Post(func() { w.l.Del(w.lnFd) })
	}
	for !e.quiet() {
		select {
		case <-ctx.Done():
			e.shutdown()
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	e.shutdown()
}

// quiet reports whether no loop has a request in flight.
func (e *loopEngine) quiet() bool {
	var wg sync.WaitGroup
	busy := make([]bool, len(e.workers))
	for i, w := range e.workers {
		wg.Add(1)
		if !w.l.Post(func() {
			defer wg.Done()
			for _, c := range w.conns {
				busy[i] = busy[i] || c.busy
			}
		}) {
			wg.Done()
		}
	}
	wg.Wait()
	for _, b := range busy {
		if b {
			return false
		}
	}
	return true
}

func (e *loopEngine) shutdown() {
	for _, w := range e.workers {
		w.l.Close()
	}
	e.done.Wait()
	if e.lnFd >= 0 {
		unix.Close(e.lnFd)
		e.lnFd = -1
	}
}

// Event accepts on the listening socket until it has no connection left.
func (w *loopWorker) Event(uint32) {
	for {
		fd, sa, err := unix.Accept4(w.lnFd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			if err == unix.EINTR || err == unix.ECONNABORTED {
				continue
			}
			return // EAGAIN, or out of descriptors: epoll says again
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		c := newLoopConn(w, fd, sa)
		if err := w.l.Add(fd, c); err != nil {
			unix.Close(fd)
			continue
		}
		c.idx = len(w.conns)
		w.conns = append(w.conns, c)
		w.e.p.openConns.Add(1)
	}
}

// forget removes c from the loop (closed or handed off).
func (w *loopWorker) forget(c *loopConn) {
	w.l.Del(c.fd)
	last := w.conns[len(w.conns)-1]
	w.conns[c.idx], last.idx = last, c.idx
	w.conns = w.conns[:len(w.conns)-1]
}

// tick enforces the client and upstream timeouts and expires idle
// upstream connections.
func (w *loopWorker) tick(now time.Time) {
	for i := len(w.conns) - 1; i >= 0; i-- {
		if i < len(w.conns) {
			w.conns[i].checkTimeouts(now)
		}
	}
	for s, pool := range w.idle {
		keep := pool[:0]
		for _, u := range pool {
			if now.Sub(u.idleSince) > u.idleMax {
				u.close()
			} else {
				keep = append(keep, u)
			}
		}
		if len(keep) == 0 {
			delete(w.idle, s)
		} else {
			w.idle[s] = keep
		}
	}
}

func (w *loopWorker) closeAll() {
	for len(w.conns) > 0 {
		w.conns[len(w.conns)-1].close()
	}
	for s, pool := range w.idle {
		for _, u := range pool {
			u.close()
		}
		delete(w.idle, s)
	}
}

// getUpConn returns a pooled connection to s (reused true) or starts a
// non-blocking connect.
func (w *loopWorker) getUpConn(s *upstream.Server) (*upConn, bool, error) {
	if pool := w.idle[s.Fast()]; len(pool) > 0 {
		u := pool[len(pool)-1]
		pool[len(pool)-1] = nil
		w.idle[s.Fast()] = pool[:len(pool)-1]
		u.srv = s // a config update may have made a new Server of the address
		return u, true, nil
	}
	u, err := dialUp(w, s)
	return u, false, err
}

func (w *loopWorker) putUpConn(u *upConn) {
	u.c, u.idleSince, u.idleMax = nil, time.Now(), u.srv.Fast().MaxIdleConnDuration
	w.idle[u.srv.Fast()] = append(w.idle[u.srv.Fast()], u)
}

// removeIdle drops u from its pool (it closed while idle).
func (w *loopWorker) removeIdle(u *upConn) {
	pool := w.idle[u.srv.Fast()]
	for i, v := range pool {
		if v == u {
			pool[i] = pool[len(pool)-1]
			pool[len(pool)-1] = nil
			w.idle[u.srv.Fast()] = pool[:len(pool)-1]
			return
		}
	}
}

// handOffConn gives the client connection to the fasthttp server, with the
// bytes read and not yet served replayed first.
func (w *loopWorker) handOffConn(c *loopConn, pending []byte) {
	w.forget(c)
	f := os.NewFile(uintptr(c.fd), "client")
	nc, err := net.FileConn(f) // a duplicate in Go's poller
	f.Close()
	c.fd = -1
	if err != nil {
		w.e.p.openConns.Add(-1)
		return
	}
	rc := &replayConn{Conn: nc, pending: append([]byte(nil), pending...)}
	tc := w.e.p.fastLn.adopt(&guardConn{Conn: rc})
	go func() { _ = w.e.p.fastSrv.ServeConn(tc) }()
}

// replayConn reads pending before the connection's own bytes.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(b []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(b, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
