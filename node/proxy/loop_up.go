//go:build linux

package proxy

import (
	"errors"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-edge/strata/node/proxy/evloop"
	"github.com/strata-edge/strata/node/proxy/upstream"
)

// upConn is a connection to an upstream server, in the loop of the client
// connection it serves; idle ones wait in the loop's pool.
type upConn struct {
	w   *loopWorker
	fd  int
	srv *upstream.Server
	c   *loopConn // the client served; nil while idle

	connecting bool
	reused     bool // from the pool: a failure before any byte may be a stale connection
	got        bool // a response byte arrived
	relaying   bool // the response head went out; the body follows
	headQueued bool // the client's head is queued, not yet tried
	canRead    bool
	hup        bool // epoll reported the close: read on to the EOF
	out        [][]byte
	outArr     [2][]byte
	buf        []byte // response bytes: buf[r:e]
	r, e       int
	resp       evloop.Response
	chunk      evloop.Chunked
	left       int64 // body bytes left (length-delimited)
	mode       int
	deadline   time.Time // connect or the next byte
	idleSince  time.Time
	idleMax    time.Duration
	rechunk    bool     // a close-delimited body sent to the client chunked
	chunkHead  [20]byte // the size line of a rechunked part
}

// Body framings of a response.
const (
	bodyNone = iota
	bodyLength
	bodyChunked
	bodyToClose
)

// errLoopTimeout is a read or connect timeout (isTimeout: 504).
type loopTimeout struct{}

func (loopTimeout) Error() string   { return "i/o timeout" }
func (loopTimeout) Timeout() bool   { return true }
func (loopTimeout) Temporary() bool { return true }

var errUpstreamClosed = errors.New("upstream closed the connection")

func dialUp(w *loopWorker, s *upstream.Server) (*upConn, error) {
	ap, err := netip.ParseAddrPort(s.Addr)
	if err != nil {
		return nil, &upstream.DialError{Addr: s.Addr, Err: err}
	}
	var sa unix.Sockaddr
	family := unix.AF_INET
	if ap.Addr().Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &upstream.DialError{Addr: s.Addr, Err: err}
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return nil, &upstream.DialError{Addr: s.Addr, Err: err}
	}
	u := &upConn{w: w, fd: fd, srv: s, connecting: true, buf: make([]byte, 16<<10)}
	u.out = u.outArr[:0]
	u.deadline = time.Now().Add(s.Upstream().Timeouts().Connect)
	if err := w.l.Add(fd, u); err != nil {
		unix.Close(fd)
		return nil, &upstream.DialError{Addr: s.Addr, Err: err}
	}
	return u, nil
}

// forward sends the request to the plan's upstream without waiting: the
// response arrives through upConn events.
func (st *loopState) forward(p *Proxy) {
	found := st.found
	buf := st.scratch[:0]
	if found&hdrXFF != 0 {
		if prior, ok := st.Header("X-Forwarded-For"); ok && prior != "" {
			buf = append(buf, prior...)
			buf = append(buf, ", "...)
		}
	}
	buf = st.ClientIP().AppendTo(buf)
	xff := len(buf)
	buf = append(buf, "1.1 strata"...)
	if prior, ok := st.Header("Via"); ok && found&hdrVia != 0 && prior != "" {
		buf = append(append(append(buf[:xff], prior...), ", "...), "1.1 strata"...)
	}
	st.scratch = buf
	st.hdrs = setKV(st.hdrs, "X-Forwarded-For", b2s(buf[:xff]))
	st.hdrs = setKV(st.hdrs, "X-Forwarded-Proto", st.Scheme())
	host, _ := st.Header("Host")
	st.hdrs = setKV(st.hdrs, "X-Forwarded-Host", host)
	st.hdrs = setKV(st.hdrs, "Via", b2s(buf[xff:]))
	// Rule edits last: a rule may override forwarding headers or the Host.
	if st.plan.HasRequestEdits() {
		st.plan.ApplyRequest(st)
	}
	st.tries.start(&st.flow, st, upstream.IsIdempotent(st.Method()))
	st.proxied = true // the response comes from the upstream, now or later
	st.try()
}

// upHead appends the request head as forwarded: hop-by-hop headers
// dropped (RFC 9110 7.6.1), "TE: trailers" kept.
func (st *loopState) upHead(b []byte) []byte {
	b = append(b, st.Method()...)
	b = append(b, ' ')
	if st.edited {
		b = appendEscapedPath(b, st.path)
		if st.query != "" {
			b = append(append(b, '?'), st.query...)
		}
	} else {
		b = append(b, st.c.req.Target...)
	}
	b = append(b, " HTTP/1.1\r\n"...)
	hop := st.found&hdrHop != 0
	conn, _ := st.Header("Connection")
	for _, h := range st.hdrs {
		if hop && isHopField(h.k, h.v, conn, true) {
			continue
		}
		b = appendField(b, h.k, h.v)
	}
	return append(b, "\r\n"...)
}

// isHopField reports whether a header is hop-by-hop: named by Connection
// (conn), or one of hopHeaders; a request keeps "TE: trailers".
func isHopField(k, v, conn string, request bool) bool {
	kb := []byte(k) // does not escape
	if equalFoldASCII(kb, "connection") || isHopName(kb) && !(request && equalFoldASCII(kb, "te") && equalFoldASCII([]byte(v), "trailers")) {
		return true
	}
	if equalFoldASCII(kb, "trailer") && !request {
		return false
	}
	named := false
	if conn != "" {
		forEachToken([]byte(conn), func(tok []byte) {
			named = named || equalFoldASCII(tok, k)
		})
	}
	return named
}

// try starts the next attempt, or answers with the failure.
func (st *loopState) try() {
	c := st.c
	s := st.tries.next()
	if s == nil {
		st.fail()
		return
	}
	st.srv = s
	u, reused, err := c.w.getUpConn(s)
	if err != nil {
		st.attemptFailed(err)
		return
	}
	st.begin(u, reused)
}

// begin sends the request on u.
func (st *loopState) begin(u *upConn, reused bool) {
	c := st.c
	u.c, u.reused, u.got, u.relaying, u.rechunk = c, reused, false, false, false
	u.r, u.e = 0, 0
	c.up = u
	start := len(st.scratch) // after the forwarding values the headers alias
	st.scratch = st.upHead(st.scratch)
	head := st.scratch[start:]
	body := c.buf[c.r+st.headLen : c.r+st.headLen+st.bodyLen]
	u.out = append(u.out[:0], head)
	if len(body) > 0 {
		u.out = append(u.out, body)
	}
	if !u.connecting {
		u.deadline = time.Now().Add(u.srv.Upstream().Timeouts().Write)
		u.flushOut()
	}
}

// attemptFailed ends the attempt with err and tries again or answers.
func (st *loopState) attemptFailed(err error) {
	if st.c.up != nil {
		st.c.up.close()
		st.c.up = nil
	}
	if st.tries.end(err) {
		st.try()
		return
	}
	st.fail()
}

// fail answers with the upstream failure (502, 503, 504).
func (st *loopState) fail() {
	status, msg := upstreamFailure(st.plan.Upstream, st.tries.s, st.tries.err)
	st.tries.f = nil
	st.text(status, msg)
	st.answer()
}

func (u *upConn) Event(ev uint32) {
	if u.c == nil { // idle: only a close (or junk) ends it; EPOLLOUT comes with ACKs
		if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			var b [1]byte
			if _, err := unix.Read(u.fd, b[:]); err != unix.EAGAIN {
				u.w.removeIdle(u)
				u.close()
			}
		}
		return
	}
	if u.connecting && ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		u.connecting = false
		if e, _ := unix.GetsockoptInt(u.fd, unix.SOL_SOCKET, unix.SO_ERROR); e != 0 {
			u.c.st.attemptFailed(&upstream.DialError{Addr: u.srv.Addr, Err: unix.Errno(e)})
			return
		}
		u.deadline = time.Now().Add(u.srv.Upstream().Timeouts().Write)
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		u.canRead = true
	}
	u.hup = u.hup || ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0
	if len(u.out) > 0 {
		u.flushOut()
		return
	}
	u.pump()
}

func (u *upConn) flushOut() {
	var err error
	if u.out, err = evloop.Write(u.fd, u.out); err != nil {
		if err != unix.EAGAIN {
			u.failed(err)
		}
		return
	}
	u.out = u.outArr[:0]
	u.deadline = time.Now().Add(u.srv.Upstream().Timeouts().Read)
	u.pump()
}

// failed handles an error before the response head: a stale pooled
// connection is retried once on a new one (idempotent requests, as the
// fasthttp client does); anything else ends the attempt.
func (u *upConn) failed(err error) {
	st := &u.c.st
	if u.reused && !u.got && st.tries.retryable {
		u.close()
		st.c.up = nil
		nu, err := dialUp(u.w, u.srv)
		if err == nil {
			st.begin(nu, false)
			return
		}
		st.attemptFailed(err)
		return
	}
	st.attemptFailed(err)
}

// read fills buf; false when nothing more is there now (or the
// connection ended: eof).
func (u *upConn) read() (ok, eof bool, err error) {
	if !u.canRead {
		return false, false, nil
	}
	if u.r == u.e {
		u.r, u.e = 0, 0
	}
	if u.e == len(u.buf) {
		if u.r == 0 {
			return false, false, evloop.ErrBadResponse // a head larger than the buffer
		}
		u.e = copy(u.buf, u.buf[u.r:u.e])
		u.r = 0
	}
	for {
		space := len(u.buf) - u.e
		n, rerr := unix.Read(u.fd, u.buf[u.e:])
		switch {
		case n > 0:
			u.e += n
			u.canRead = n == space || u.hup // short: drained (see loopConn.read)
			u.got = true
			u.deadline = time.Now().Add(u.srv.Upstream().Timeouts().Read)
			return true, false, nil
		case rerr == unix.EINTR:
		case rerr == unix.EAGAIN:
			u.canRead = false
			return false, false, nil
		case n == 0 && rerr == nil:
			u.canRead = false
			return false, true, nil
		default:
			return false, false, rerr
		}
	}
}

// pump moves the response on: the head first, then as much of the body as
// the client takes.
func (u *upConn) pump() {
	for u.c != nil {
		c := u.c
		if !u.relaying {
			if !u.readHead() {
				return
			}
			continue
		}
		if len(c.out) > 0 && !u.headQueued {
			return // the client is slow: wait for its EPOLLOUT
		}
		if u.headQueued && (u.r == u.e || u.mode == bodyNone) {
			u.headQueued = false // the head alone
			if !c.flush() {
				return
			}
		}
		u.headQueued = false
		if u.r < u.e {
			n, done, err := u.bodyPart(u.buf[u.r:u.e])
			if err != nil {
				u.abort()
				return
			}
			part := u.buf[u.r : u.r+n]
			u.r += n
			c.st.out += n
			var size []byte
			if u.rechunk {
				size = append(strconv.AppendInt(append(u.chunkHead[:0], "\r\n"...), int64(n), 16), "\r\n"...)
				if c.st.out == n {
					size = size[2:] // the first part has no data CRLF before it
				}
			}
			if !c.send(size, part) && c.fd >= 0 {
				if done {
					u.mode = bodyNone // complete once sent
				}
				return
			}
			if c.fd < 0 {
				return
			}
			if done {
				u.finishBody()
				return
			}
			continue
		}
		if u.mode == bodyNone {
			u.finishBody()
			return
		}
		ok, eof, err := u.read()
		if err != nil || (eof && u.mode != bodyToClose) {
			u.abort()
			return
		}
		if eof {
			u.resp.Close = true
			if u.rechunk {
				end := "0\r\n\r\n"
				if c.st.out > 0 {
					end = "\r\n0\r\n\r\n"
				}
				u.mode = bodyNone
				if !c.send([]byte(end)) {
					return
				}
			}
			u.finishBody()
			return
		}
		if !ok {
			return
		}
	}
}

// readHead reads and parses the response head and sends the client its
// head; false while waiting.
func (u *upConn) readHead() bool {
	c := u.c
	st := &c.st
	for {
		if u.r < u.e {
			n, err := evloop.ParseResponse(u.buf[u.r:u.e], &u.resp)
			if err != nil {
				st.attemptFailed(err)
				return false
			}
			if n > 0 {
				if s := u.resp.Status; s >= 100 && s < 200 {
					u.r += n // interim responses are not passed on
					continue
				}
				u.startBody(n)
				return true
			}
		}
		ok, eof, err := u.read()
		if err != nil || eof {
			if err == nil {
				err = errUpstreamClosed
			}
			u.failed(err)
			return false
		}
		if !ok {
			return false
		}
	}
}

// startBody ends the attempt, applies the response edits and queues the
// client's head.
func (u *upConn) startBody(headLen int) {
	c := u.c
	st := &c.st
	r := &u.resp
	st.tries.end(nil)
	st.tries.f = nil
	st.status = r.Status
	conn := ""
	st.resp = st.resp[:0]
	for _, h := range r.Headers {
		if equalFoldASCII(h.Name, "connection") {
			conn = b2s(h.Value)
		}
	}
	for _, h := range r.Headers {
		k, v := b2s(h.Name), b2s(h.Value)
		if isHopName(h.Name) || equalFoldASCII(h.Name, "connection") || conn != "" && isHopField(k, v, conn, false) {
			if !equalFoldASCII(h.Name, "trailer") {
				continue
			}
		}
		st.resp = append(st.resp, kv{k, v})
	}
	switch {
	case st.head || r.Status == 204 || r.Status == 304:
		u.mode = bodyNone
	case r.Chunked:
		u.mode = bodyChunked
		u.chunk.Reset()
	case r.ContentLength >= 0:
		u.mode, u.left = bodyLength, r.ContentLength
		if u.left == 0 {
			u.mode = bodyNone
		}
	default:
		// Delimited by the upstream closing: sent chunked, so the client
		// keeps its connection (HTTP/1.0 upstreams).
		u.mode, u.rechunk = bodyToClose, true
		st.resp = append(st.resp, kv{"Transfer-Encoding", "chunked"})
	}
	c.w.e.p.finish(&st.flow, (*loopResp)(st))
	var b []byte
	if len(r.Reason) > 0 {
		b = strconv.AppendInt(append(c.head[:0], "HTTP/1.1 "...), int64(r.Status), 10)
		b = append(append(b, ' '), r.Reason...)
	} else {
		b = appendStatus(c.head[:0], r.Status)
	}
	b = append(b, "\r\n"...)
	for _, h := range st.resp {
		b = appendField(b, h.k, h.v)
	}
	if c.closeAfter {
		b = append(b, "Connection: close\r\n"...)
	}
	c.head = append(b, "\r\n"...)
	u.r += headLen
	u.relaying = true
	c.out = append(c.out, c.head)
	u.headQueued = true // pump writes it with the first body bytes
}

// bodyPart is how much of b belongs to the body, and whether it ends there.
func (u *upConn) bodyPart(b []byte) (int, bool, error) {
	switch u.mode {
	case bodyLength:
		n := int64(len(b))
		if n > u.left {
			n = u.left
		}
		u.left -= n
		return int(n), u.left == 0, nil
	case bodyChunked:
		return u.chunk.Scan(b)
	case bodyToClose:
		return len(b), false, nil
	}
	return 0, true, nil
}

// finishBody ends the request once the client has the whole response: the
// connection goes back to the pool when it can carry another request.
func (u *upConn) finishBody() {
	c := u.c
	if len(c.out) > 0 {
		u.mode = bodyNone
		return // sent() calls pump again, which ends here
	}
	c.up = nil
	if u.resp.Close || u.r != u.e || u.mode == bodyToClose {
		u.close()
	} else {
		u.c, u.relaying = nil, false
		u.w.putUpConn(u)
	}
	c.st.answered = true
	c.complete()
}

// abort ends a response cut short: the client connection is closed too,
// its framing cannot be completed.
func (u *upConn) abort() {
	c := u.c
	c.up = nil
	u.close()
	c.closeAfter = true
	c.close()
}

func (u *upConn) checkTimeout(now time.Time) {
	if u.deadline.IsZero() || now.Before(u.deadline) {
		return
	}
	if u.relaying {
		u.abort()
		return
	}
	var err error = loopTimeout{}
	if u.connecting {
		err = &upstream.DialError{Addr: u.srv.Addr, Err: loopTimeout{}}
	}
	u.reused = false
	u.failed(err)
}

func (u *upConn) close() {
	if u.fd < 0 {
		return
	}
	u.w.l.Del(u.fd)
	unix.Close(u.fd)
	u.fd = -1
}
