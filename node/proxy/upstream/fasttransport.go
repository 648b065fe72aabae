package upstream

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http/httputil"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// MaxBufferedBody is the largest response body (with a Content-Length) the
// fast path reads into memory before answering the client. Larger bodies,
// chunked bodies and bodies delimited by the connection closing are
// streamed, so memory per request stays bounded whatever the upstream sends.
const MaxBufferedBody = 256 << 10

// fastTransport is the fasthttp.RoundTripper of every server. fasthttp's own
// transport either buffers every body (unbounded memory) or streams every
// body (four allocations per request); this one buffers small bodies of
// known length without allocating and streams the rest.
type fastTransport struct{}

var errTooManyInterim = errors.New("more than 8 interim (1xx) responses")

func (fastTransport) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (retry bool, err error) {
	cc, err := hc.AcquireConn(0, req.ConnectionClose())
	if err != nil {
		return false, err
	}
	conn := cc.Conn()
	if err = armConn(conn, time.Now(), true); err != nil {
		hc.CloseConn(cc)
		return true, err
	}
	bw := hc.AcquireWriter(conn)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		hc.CloseConn(cc)
		// A keep-alive connection the upstream closed while idle fails
		// here; the client retries idempotent requests (RetryIfErr).
		return true, err
	}

	br := hc.AcquireReader(conn)
	for interim := 0; ; interim++ {
		if err = resp.Header.Read(br); err != nil {
			hc.ReleaseReader(br)
			hc.CloseConn(cc)
			return true, err
		}
		sc := resp.Header.StatusCode()
		if sc < 100 || sc > 199 || sc == fasthttp.StatusSwitchingProtocols {
			break
		}
		if interim == 8 {
			hc.ReleaseReader(br)
			hc.CloseConn(cc)
			return false, errTooManyInterim
		}
	}
	closeConn := req.ConnectionClose() || resp.ConnectionClose()
	done := func() { // does not escape: no allocation
		hc.ReleaseReader(br)
		if closeConn {
			hc.CloseConn(cc)
		} else {
			hc.ReleaseConn(cc)
		}
	}
	sc := resp.Header.StatusCode()
	if req.Header.IsHead() || sc == fasthttp.StatusNoContent || sc == fasthttp.StatusNotModified || sc < 200 {
		resp.SkipBody = true
		done()
		return false, nil
	}
	cl := resp.Header.ContentLength()
	if cl >= 0 && cl <= MaxBufferedBody {
		if err = resp.ReadBody(br, 0); err != nil {
			hc.ReleaseReader(br)
			hc.CloseConn(cc)
			return false, err
		}
		done()
		return false, nil
	}

	// Stream. The connection goes back to the pool (or is closed) when the
	// server closes the stream after writing it to the client.
	s := streamPool.Get().(*bodyStream)
	*s = bodyStream{br: br, left: int64(cl), conn: conn}
	switch {
	case cl >= 0:
		s.mode = modeLength
	case cl == -1:
		s.mode = modeChunked
		s.chunked = httputil.NewChunkedReader(br)
	default:
		s.mode = modeUntilClose
	}
	s.release = func(reuse bool) {
		hc.ReleaseReader(br)
		if reuse && !closeConn {
			hc.ReleaseConn(cc)
		} else {
			hc.CloseConn(cc)
		}
	}
	size := cl
	if size < 0 {
		size = -1
	}
	resp.SetBodyStream(s, size)
	return false, nil
}

type streamMode uint8

const (
	modeLength     streamMode = iota // Content-Length bytes
	modeChunked                      // chunked transfer coding
	modeUntilClose                   // until the upstream closes (HTTP/1.0 style)
)

// bodyStream reads a response body from the upstream connection while the
// fasthttp server writes it to the client.
type bodyStream struct {
	br      *bufio.Reader
	mode    streamMode
	left    int64
	chunked io.Reader
	done    bool // the body was read to its end
	conn    net.Conn
	release func(reuse bool)
	head    []byte // read ahead by PeekBody, sent before the rest
}

// PeekBody returns up to max bytes of the body of resp, a response of this
// transport, and whether it is longer, leaving them in place: a streamed
// body reads at most max+1 bytes ahead (kept in the stream and sent first),
// so a large body still streams. The WAF's response inspection reads it.
func PeekBody(resp *fasthttp.Response, max int) (b []byte, more bool) {
	s, ok := resp.BodyStream().(*bodyStream)
	if !ok {
		b = resp.Body() // buffered (at most MaxBufferedBody)
		return b[:min(len(b), max)], len(b) > max
	}
	if s.head == nil {
		buf := make([]byte, 0, min(max+1, 64<<10))
		for len(buf) <= max {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, err := s.read(buf[len(buf):min(cap(buf), max+1)])
			buf = buf[:len(buf)+n]
			if err != nil {
				break // io.EOF: all of it; an error shows again to the next read
			}
		}
		s.head = buf
	}
	return s.head[:min(len(s.head), max)], len(s.head) > max
}

var streamPool = sync.Pool{New: func() any { return new(bodyStream) }}

func (s *bodyStream) Read(p []byte) (int, error) {
	if len(s.head) > 0 {
		n := copy(p, s.head)
		s.head = s.head[n:]
		return n, nil
	}
	return s.read(p)
}

func (s *bodyStream) read(p []byte) (int, error) {
	if s.done {
		return 0, io.EOF
	}
	if s.br.Buffered() == 0 {
		// About to wait on the network: the read timeout runs from now.
		if err := armConn(s.conn, time.Now(), false); err != nil {
			return 0, err
		}
	}
	switch s.mode {
	case modeLength:
		if s.left <= 0 {
			s.done = true
			return 0, io.EOF
		}
		if int64(len(p)) > s.left {
			p = p[:s.left]
		}
		n, err := s.br.Read(p)
		s.left -= int64(n)
		if s.left == 0 {
			s.done = true
			if err == nil || err == io.EOF {
				return n, nil
			}
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	case modeChunked:
		n, err := s.chunked.Read(p)
		if err == io.EOF {
			// Skip the trailer section up to the final empty line.
			for {
				line, terr := s.br.ReadSlice('\n')
				if terr != nil {
					return n, io.ErrUnexpectedEOF
				}
				if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
					break
				}
			}
			s.done = true
		}
		return n, err
	default:
		n, err := s.br.Read(p)
		if err == io.EOF {
			s.done = true
		}
		return n, err
	}
}

// Close hands the connection back: to the pool when the body was read to
// its end, else it is closed (the rest of the body is still on the wire).
func (s *bodyStream) Close() error {
	if s.release != nil {
		s.release(s.done && s.mode != modeUntilClose)
	}
	*s = bodyStream{}
	streamPool.Put(s)
	return nil
}
