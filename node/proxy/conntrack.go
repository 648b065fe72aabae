package proxy

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// trackListener records the open connections of the fast path so that Stop
// can close what fasthttp's graceful shutdown left open when its deadline
// passes. It costs a map update per connection, nothing per request.
type trackListener struct {
	net.Listener
	open  *atomic.Int64 // the proxy's open-connection gauge
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

type trackedConn struct {
	net.Conn
	l    *trackListener
	once sync.Once
}

func newTrackListener(ln net.Listener, open *atomic.Int64) *trackListener {
	return &trackListener{Listener: ln, open: open, conns: make(map[*trackedConn]struct{})}
}

func (l *trackListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Add(1)
	return l.adopt(c), nil
}

// adopt tracks a connection counted open already (one the event loop
// accepted and hands over, loop.go).
func (l *trackListener) adopt(c net.Conn) *trackedConn {
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	return tc
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		c.l.open.Add(-1)
	})
	return err
}

// closeAll closes every connection still open.
func (l *trackListener) closeAll() {
	l.mu.Lock()
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// countConns keeps the open-connection gauge for a net/http server. A
// hijacked connection (WebSocket, CONNECT) leaves the server's hands and
// the gauge with it.
func countConns(open *atomic.Int64) func(net.Conn, http.ConnState) {
	return func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
}
