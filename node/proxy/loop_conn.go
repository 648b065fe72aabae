//go:build linux

package proxy

import (
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-edge/strata/node/proxy/evloop"
)

// loopConn is one client connection of the event loop. Requests are
// served one at a time in arrival order (pipelined ones wait in buf).
type loopConn struct {
	w   *loopWorker
	fd  int
	idx int // in w.conns
	ip  netip.Addr

	buf  []byte // read bytes: buf[r:e]; they do not move while busy
	r, e int
	req  evloop.Request
	st   loopState

	busy       bool // a request is in the pipeline or its response is being sent
	processing bool // process is on the stack: complete must not re-enter it
	canRead    bool // readable since the last EAGAIN (edge-triggered)
	eof        bool // the client closed its side
	hup        bool // epoll reported the close: no edge will follow it
	closeAfter bool // close once the response is sent

	out     [][]byte // queued output, written with one writev
	outArr  [3][]byte
	head    []byte    // the response head being sent
	started time.Time // first byte of a request not yet complete; zero: none
	active  time.Time // last request completed (idle timeout)

	up *upConn // the upstream connection of the request in flight
}

func newLoopConn(w *loopWorker, fd int, sa unix.Sockaddr) *loopConn {
	c := &loopConn{w: w, fd: fd, buf: make([]byte, 8<<10), active: time.Now()}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		c.ip = netip.AddrFrom4(a.Addr)
	case *unix.SockaddrInet6:
		c.ip = netip.AddrFrom16(a.Addr).Unmap()
	}
	c.out = c.outArr[:0]
	c.st.init(c)
	return c
}

func (c *loopConn) Event(ev uint32) {
	if ev&unix.EPOLLERR != 0 {
		c.close()
		return
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP) != 0 {
		c.canRead = true
	}
	c.hup = c.hup || ev&(unix.EPOLLRDHUP|unix.EPOLLHUP) != 0
	if ev&unix.EPOLLOUT != 0 && len(c.out) > 0 {
		if !c.flush() {
			return
		}
		c.sent()
		if c.fd < 0 {
			return
		}
	}
	c.process()
}

// maxBuf is the most the connection buffers: a head and a body the loop
// serves itself.
func (c *loopConn) maxBuf() int { return c.w.e.p.opts.MaxHeaderBytes + loopMaxBody }

// read reads what the socket has, as far as the buffer allows. Only an
// idle connection compacts or grows its buffer: a request in flight
// aliases it.
func (c *loopConn) read() {
	for c.canRead && c.fd >= 0 {
		if !c.busy {
			if c.r == c.e {
				c.r, c.e = 0, 0
			} else if c.e == len(c.buf) && c.r > 0 {
				c.e = copy(c.buf, c.buf[c.r:c.e])
				c.r = 0
			}
			if c.e == len(c.buf) && len(c.buf) < c.maxBuf() {
				nb := make([]byte, min(2*len(c.buf), c.maxBuf()))
				c.e = copy(nb, c.buf[c.r:c.e])
				c.r, c.buf = 0, nb
			}
		}
		if c.e == len(c.buf) {
			return // full: read again once the buffer is drained
		}
		space := len(c.buf) - c.e
		n, err := unix.Read(c.fd, c.buf[c.e:])
		switch {
		case n > 0:
			c.e += n
			// A short read emptied the socket: new bytes bring a new edge,
			// so skip the read that would only return EAGAIN.
			c.canRead = n == space || c.hup // a FIN seen: read on to the EOF
		case err == unix.EAGAIN:
			c.canRead = false
		case err == unix.EINTR:
		case n == 0 && err == nil:
			c.canRead, c.eof = false, true
		default:
			c.close()
			return
		}
	}
}

// process serves the requests buffered, one after the other, until one
// is in flight or more bytes are needed.
func (c *loopConn) process() {
	c.processing = true
	defer func() { c.processing = false }()
	for c.fd >= 0 && !c.busy {
		c.read()
		if c.fd < 0 {
			return
		}
		if c.r == c.e {
			if c.eof {
				c.close()
			}
			return
		}
		n, err := evloop.ParseRequest(c.buf[c.r:c.e], &c.req)
		opts := &c.w.e.p.opts
		if err != nil || n > opts.MaxHeaderBytes || (n == 0 && c.e-c.r >= opts.MaxHeaderBytes) ||
			c.req.ContentLength > int64(opts.MaxRequestBodyBytes) {
			c.handOff() // the general path answers it (or 431, 413)
			return
		}
		if n == 0 || int64(c.e-c.r) < int64(n)+c.req.ContentLength {
			if n > 0 && c.req.ContentLength > loopMaxBody {
				c.handOff() // a large body: streamed on the general path
				return
			}
			if c.started.IsZero() {
				c.started = time.Now()
			}
			if c.eof || c.canRead {
				c.close() // a half request and nothing more coming (or no room)
			}
			return
		}
		if pathNeedsNormalizing(c.req.Path) {
			c.handOff()
			return
		}
		c.started = time.Time{}
		c.busy = true
		c.st.serve(n, int(c.req.ContentLength))
	}
}

// handOff moves the connection, the current request first, to fasthttp.
func (c *loopConn) handOff() {
	if c.up != nil {
		c.up.close()
		c.up = nil
	}
	c.w.handOffConn(c, c.buf[c.r:c.e])
}

// send queues bufs for the client and writes what the socket takes;
// true when everything was written.
func (c *loopConn) send(bufs ...[]byte) bool {
	for _, b := range bufs {
		if len(b) > 0 {
			c.out = append(c.out, b)
		}
	}
	return c.flush()
}

func (c *loopConn) flush() bool {
	if c.fd < 0 {
		return false
	}
	var err error
	if c.out, err = evloop.Write(c.fd, c.out); err != nil {
		if err != unix.EAGAIN {
			c.close()
		}
		return false
	}
	c.out = c.outArr[:0]
	return true
}

// sent runs when queued output has been written after an EAGAIN: the
// upstream relay goes on, or a complete response ends its request.
func (c *loopConn) sent() {
	if c.up != nil && c.up.relaying {
		c.up.pump()
		return
	}
	if c.busy && c.st.answered {
		c.complete()
	}
}

// complete ends the request whose response is sent: stats and log, then
// the next request.
func (c *loopConn) complete() {
	st := &c.st
	if st.inPipeline {
		c.w.e.p.done(st, &st.flow)
	}
	c.r += st.headLen + st.bodyLen
	st.reset()
	c.busy = false
	c.active = time.Now()
	if c.closeAfter {
		c.close()
		return
	}
	if !c.processing {
		c.process()
	}
}

func (c *loopConn) checkTimeouts(now time.Time) {
	p := c.w.e.p
	switch {
	case c.busy:
		if c.up != nil {
			c.up.checkTimeout(now)
		}
	case !c.started.IsZero():
		limit := p.opts.ReadHeaderTimeout
		if n, _ := evloop.ParseRequest(c.buf[c.r:c.e], &c.req); n > 0 {
			limit = DefaultBodyReadTimeout
		}
		if now.Sub(c.started) > limit {
			c.busy = true
			c.st.answered = true
			c.st.status = 408
			c.closeAfter = true
			c.sendLocal("text/plain; charset=utf-8", []byte("request not received in time\n"))
			if c.fd >= 0 && len(c.out) == 0 {
				c.close()
			}
		}
	case now.Sub(c.active) > p.opts.IdleTimeout:
		c.close()
	}
}

// sendLocal writes a response made here (no upstream) with st.status.
func (c *loopConn) sendLocal(ctype string, body []byte) bool {
	st := &c.st
	c.head = st.appendHead(c.head[:0], ctype, len(body))
	st.out = len(body)
	if st.head {
		body = nil
	}
	return c.send(c.head, body)
}

func (c *loopConn) close() {
	if c.fd < 0 {
		return
	}
	if c.up != nil {
		c.up.close()
		c.up = nil
	}
	if c.busy && c.st.inPipeline {
		c.w.e.p.done(&c.st, &c.st.flow) // every request is counted once
	}
	c.st.reset()
	c.w.forget(c)
	unix.Close(c.fd)
	c.fd = -1
	c.w.e.p.openConns.Add(-1)
}
