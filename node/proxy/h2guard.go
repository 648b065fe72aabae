package proxy

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net/http"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// HTTP/2 conformance that Go's server lacks (issue 11.10, h2spec
// http2/6.5.3/1 and 8.1.2.2): the TLS listener's h2 connections are served
// by x/net/http2 through h2Guard, a reader of the client's frames that
//   - rewrites a SETTINGS frame repeating an identifier to its last value
//     (the state RFC 9113 6.5.3's in-order processing ends in; Go's server
//     refuses duplicates as a connection error);
//   - refuses a request carrying a connection-specific header field or a TE
//     other than "trailers" (RFC 9113 8.2.2, malformed) as a connection
//     error PROTOCOL_ERROR (8.1.1 allows it), where Go's server answers 400.
// It decodes every header block with its own HPACK decoder, fed the same
// blocks in the same order as the server's, so the dynamic tables agree.
// To refuse, it hands the server a HEADERS frame on stream 0 in place of the
// offending one: the server itself sends GOAWAY(PROTOCOL_ERROR), naming the
// last stream it processed, and closes; no write races its own.
// HTTP/1.1 connections never pass through it.

const (
	h2MaxReadFrame = 16 << 10 // SETTINGS_MAX_FRAME_SIZE the server advertises (std.go)
	h2HeaderTable  = 4096     // SETTINGS_HEADER_TABLE_SIZE of the server's decoder (std.go)
	h2MaxSettings  = 100      // the server refuses larger SETTINGS frames itself
)

// h2Refusal is a HEADERS frame on stream 0: a connection error
// PROTOCOL_ERROR for the server's framer.
var h2Refusal = [9]byte{3: byte(http2.FrameHeaders), 4: byte(http2.FlagHeadersEndHeaders)}

// guardH2 makes srv (with TLSConfig set) serve "h2" through h2Guard.
func guardH2(srv *http.Server) error {
	h2 := &http2.Server{} // limits from srv.HTTP2
	if err := http2.ConfigureServer(srv, h2); err != nil {
		return err
	}
	maxString := srv.MaxHeaderBytes
	if maxString < http.DefaultMaxHeaderBytes {
		maxString = http.DefaultMaxHeaderBytes
	}
	maxString += 64 << 10 // above the server's header list limit: it fails first
	srv.TLSNextProto[http2.NextProtoTLS] = func(hs *http.Server, c *tls.Conn, h http.Handler) {
		// net/http passes the connection's base context this way (as
		// x/net/http2.ConfigureServer's own handler reads it).
		var ctx context.Context
		if bc, ok := h.(interface{ BaseContext() context.Context }); ok {
			ctx = bc.BaseContext()
		}
		h2.ServeConn(newH2Guard(c, maxString), &http2.ServeConnOpts{Context: ctx, Handler: h, BaseConfig: hs})
	}
	return nil
}

// h2Guard is the server side of one TLS h2 connection; it only changes
// what the server reads.
type h2Guard struct {
	*tls.Conn
	src     io.Reader // the Conn (a benchmark's stream)
	preface int       // client preface bytes still to pass through
	body    int       // payload bytes of a passed-through frame still to pass
	out     []byte    // bytes ready for the server: a frame header or an inspected frame
	off     bool      // framing the server refuses itself: pass the rest through
	refused bool      // h2Refusal handed over: nothing more to read
	bad     bool      // the header block being decoded has a forbidden field
	hdr     [9]byte
	buf     []byte // an inspected frame
	dec     *hpack.Decoder
}

func newH2Guard(c *tls.Conn, maxString int) *h2Guard {
	g := &h2Guard{Conn: c, src: c, preface: len(http2.ClientPreface)}
	g.dec = hpack.NewDecoder(h2HeaderTable, g.check)
	g.dec.SetMaxStringLength(maxString)
	return g
}

// check is the decoder's emit function (RFC 9113 8.2.2).
func (g *h2Guard) check(f hpack.HeaderField) {
	switch f.Name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		g.bad = true
	case "te":
		g.bad = g.bad || f.Value != "trailers"
	}
}

func (g *h2Guard) Read(p []byte) (int, error) {
	if len(g.out) > 0 {
		n := copy(p, g.out)
		g.out = g.out[n:]
		return n, nil
	}
	if g.refused {
		return 0, io.EOF
	}
	if rest := g.preface + g.body; rest > 0 || g.off {
		if rest > 0 && len(p) > rest {
			p = p[:rest]
		}
		n, err := g.src.Read(p)
		if g.preface > 0 {
			g.preface -= n
		} else if !g.off {
			g.body -= n
		}
		return n, err
	}
	if err := g.next(); err != nil {
		return 0, err
	}
	n := copy(p, g.out)
	g.out = g.out[n:]
	return n, nil
}

// next reads the next frame header and, for the frames it inspects, the
// whole frame, and sets g.out.
func (g *h2Guard) next() error {
	h := g.hdr[:]
	if _, err := io.ReadFull(g.src, h); err != nil {
		return err
	}
	length := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
	typ, flags := http2.FrameType(h[3]), http2.Flags(h[4])
	sid := binary.BigEndian.Uint32(h[5:]) & (1<<31 - 1)
	g.out = h
	switch {
	case typ == http2.FrameSettings && flags&http2.FlagSettingsAck == 0:
	case typ == http2.FrameHeaders || typ == http2.FrameContinuation:
		if length > h2MaxReadFrame {
			g.off = true // FRAME_SIZE_ERROR; the decoder would fall out of step
			return nil
		}
	default:
		g.body = length
		return nil
	}
	if length > h2MaxReadFrame {
		g.body = length // the server's FRAME_SIZE_ERROR
		return nil
	}
	if cap(g.buf) < 9+length {
		g.buf = make([]byte, 9+length)
	}
	f := g.buf[:9+length]
	copy(f, h)
	if _, err := io.ReadFull(g.src, f[9:]); err != nil {
		return err
	}
	if typ == http2.FrameSettings {
		g.out = dedupeSettings(f)
		return nil
	}
	g.out = f
	g.headerBlock(f[9:], typ, flags, sid)
	if g.bad {
		g.out, g.refused = h2Refusal[:], true
	}
	return nil
}

// headerBlock feeds the fragment of a HEADERS or CONTINUATION payload to the
// decoder. Malformed framing turns the guard off: the server refuses it
// itself, and the decoder could no longer follow.
func (g *h2Guard) headerBlock(p []byte, typ http2.FrameType, flags http2.Flags, sid uint32) {
	if typ == http2.FrameHeaders {
		if sid == 0 {
			g.off = true
			return
		}
		if flags&http2.FlagHeadersPadded != 0 {
			if len(p) == 0 || int(p[0]) >= len(p) {
				g.off = true
				return
			}
			p = p[1 : len(p)-int(p[0])]
		}
		if flags&http2.FlagHeadersPriority != 0 {
			if len(p) < 5 {
				g.off = true
				return
			}
			p = p[5:]
		}
	}
	if _, err := g.dec.Write(p); err != nil {
		g.off = true // COMPRESSION_ERROR for the server too
		return
	}
	if flags&http2.FlagHeadersEndHeaders != 0 { // same bit as CONTINUATION's
		if err := g.dec.Close(); err != nil {
			g.off = true
		}
	}
}

// dedupeSettings rewrites SETTINGS frame f (header included) in place so
// that each identifier appears once, with its last value: the state that
// processing them in order reaches. A value that is invalid is kept alone,
// so the server answers it with the error in-order processing meets first.
// Frames the server refuses anyway (length, stream, count) pass unchanged.
func dedupeSettings(f []byte) []byte {
	p := f[9:]
	n := len(p) / 6
	if len(p)%6 != 0 || n < 2 || n > h2MaxSettings || binary.BigEndian.Uint32(f[5:])&(1<<31-1) != 0 {
		return f
	}
	setting := func(i int) http2.Setting {
		return http2.Setting{ID: http2.SettingID(binary.BigEndian.Uint16(p[6*i:])), Val: binary.BigEndian.Uint32(p[6*i+2:])}
	}
	for i := range n {
		if setting(i).Valid() != nil {
			copy(p, p[6*i:6*i+6])
			return resize(f, 6)
		}
	}
	kept := 0
next:
	for i := range n {
		id := setting(i).ID
		for j := i + 1; j < n; j++ {
			if setting(j).ID == id {
				continue next // a later value wins
			}
		}
		copy(p[6*kept:], p[6*i:6*i+6])
		kept++
	}
	return resize(f, 6*kept)
}

// resize sets frame f's length field to n and returns the frame.
func resize(f []byte, n int) []byte {
	f[0], f[1], f[2] = byte(n>>16), byte(n>>8), byte(n)
	return f[:9+n]
}
