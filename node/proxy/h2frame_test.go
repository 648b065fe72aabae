package proxy_test

import (
	"bytes"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/strata-edge/strata/node/proxy"
)

// h2Conn is a raw HTTP/2 client connection to the proxy's TLS listener,
// past the SETTINGS exchange.
type h2Conn struct {
	*http2.Framer
	enc   *hpack.Encoder
	block bytes.Buffer
	dec   *hpack.Decoder
}

func dialH2(t *testing.T, p *proxy.Proxy, settings ...http2.Setting) *h2Conn {
	t.Helper()
	c, err := tls.Dial("tcp", p.HTTPSAddr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}) //nolint:gosec // self-signed test cert
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	h := &h2Conn{Framer: http2.NewFramer(c, c)}
	h.enc = hpack.NewEncoder(&h.block)
	h.dec = hpack.NewDecoder(4096, nil)
	h.AllowIllegalWrites = true // repeated settings
	if err := h.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	for acked, got := false, false; !acked || !got; {
		f, err := h.ReadFrame()
		if err != nil {
			t.Fatalf("SETTINGS exchange: %v", err)
		}
		sf, ok := f.(*http2.SettingsFrame)
		switch {
		case !ok: // WINDOW_UPDATE
		case sf.IsAck():
			acked = true
		default:
			got = true
			_ = h.WriteSettingsAck()
		}
	}
	return h
}

// headers encodes a GET of https://a.example.com/ with extra fields
// (incrementally indexed, as clients do) into one header block.
func (h *h2Conn) headers(extra ...string) []byte {
	h.block.Reset()
	f := []string{":method", "GET", ":scheme", "https", ":path", "/", ":authority", "a.example.com"}
	f = append(f, extra...)
	for i := 0; i < len(f); i += 2 {
		_ = h.enc.WriteField(hpack.HeaderField{Name: f[i], Value: f[i+1]})
	}
	return bytes.Clone(h.block.Bytes())
}

// response reads frames until stream's response ends (its :status and body
// length) or the connection is refused (the GOAWAY).
func (h *h2Conn) response(t *testing.T, stream uint32) (status string, body int, goaway *http2.GoAwayFrame) {
	t.Helper()
	for {
		f, err := h.ReadFrame()
		if err != nil {
			t.Fatalf("stream %d: connection ended (%v) without a response or GOAWAY", stream, err)
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			return status, body, f
		case *http2.RSTStreamFrame:
			t.Fatalf("stream %d: RST_STREAM %v", f.StreamID, f.ErrCode)
		case *http2.HeadersFrame:
			fields, err := h.dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				t.Fatal(err)
			}
			for _, hf := range fields {
				if hf.Name == ":status" && f.StreamID == stream {
					status = hf.Value
				}
			}
			if f.StreamEnded() && f.StreamID == stream {
				return status, body, nil
			}
		case *http2.DataFrame:
			if f.StreamID == stream {
				body += len(f.Data())
				if f.StreamEnded() {
					return status, body, nil
				}
			}
		}
	}
}

// Issue 11.10 (h2spec http2/4.2/3): a HEADERS frame larger than the
// advertised SETTINGS_MAX_FRAME_SIZE (the protocol's 16 KiB) is a
// connection error FRAME_SIZE_ERROR, not a request.
func TestH2OversizeHeadersFrameIsFrameSizeError(t *testing.T) {
	u := newEcho(t, "u")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", u.addr()))
	c, err := tls.Dial("tcp", p.HTTPSAddr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}) //nolint:gosec // self-signed test cert
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	// The server's SETTINGS: its max frame size.
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first frame %T, want SETTINGS", f)
	}
	if v, ok := sf.Value(http2.SettingMaxFrameSize); ok && v != 16384 {
		t.Errorf("server advertises SETTINGS_MAX_FRAME_SIZE %d, want 16384", v)
	}
	_ = fr.WriteSettingsAck()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, hf := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"},
		{Name: ":path", Value: "/"}, {Name: ":authority", Value: "a.example.com"}} {
		_ = enc.WriteField(hf)
	}
	for i := range 5 { // 5 x 4000 bytes, as h2spec
		_ = enc.WriteField(hpack.HeaderField{Name: "x-dummy" + string(rune('0'+i)), Value: strings.Repeat("x", 4000), Sensitive: true})
	}
	if block.Len() <= 16384 {
		t.Fatalf("header block %d bytes, not over 16384", block.Len())
	}
	fr.AllowIllegalWrites = true
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("connection ended (%v) without GOAWAY FRAME_SIZE_ERROR", err)
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeFrameSize {
				t.Fatalf("GOAWAY %v, want FRAME_SIZE_ERROR", f.ErrCode)
			}
			return
		case *http2.HeadersFrame, *http2.DataFrame:
			t.Fatalf("got %T: the oversize HEADERS frame was served", f)
		}
	}
}

// Issue 11.10 (h2spec http2/8.1.2.2): a request with a connection-specific
// header field, or TE other than "trailers", is malformed (RFC 9113 8.2.2):
// the connection is refused with GOAWAY(PROTOCOL_ERROR) naming the last
// stream served, and nothing reaches the upstream. Go's server answered 400.
// The field is found in a block that refers to the HPACK dynamic table
// earlier requests filled, and in a CONTINUATION frame.
func TestH2ConnectionSpecificHeaderIsProtocolError(t *testing.T) {
	u := newEcho(t, "u")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", u.addr()))
	for _, tc := range []struct {
		name   string
		fields []string
	}{
		{"connection", []string{"connection", "keep-alive"}},
		{"keep-alive", []string{"keep-alive", "timeout=5"}},
		{"proxy-connection", []string{"proxy-connection", "keep-alive"}},
		{"transfer-encoding", []string{"transfer-encoding", "chunked"}},
		{"upgrade", []string{"upgrade", "websocket"}},
		{"te deflate", []string{"trailers", "test", "te", "trailers, deflate"}},
		{"te gzip", []string{"te", "gzip"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := u.reqs.Load()
			h := dialH2(t, p)
			// Stream 1 is served and leaves x-a in the dynamic table, which
			// stream 3 refers to: the guard's decoder must follow.
			ok := h.headers("x-a", "1")
			_ = h.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: ok, EndStream: true, EndHeaders: true})
			if st, _, ga := h.response(t, 1); ga != nil || st != "200" {
				t.Fatalf("stream 1: status %q, GOAWAY %v; want 200", st, ga)
			}
			_ = h.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: h.headers(append([]string{"x-a", "1"}, tc.fields...)...), EndStream: true, EndHeaders: true})
			st, _, ga := h.response(t, 3)
			if ga == nil {
				t.Fatalf("stream 3 answered %s, want GOAWAY PROTOCOL_ERROR", st)
			}
			if ga.ErrCode != http2.ErrCodeProtocol || ga.LastStreamID != 1 {
				t.Fatalf("GOAWAY %v last stream %d, want PROTOCOL_ERROR last stream 1", ga.ErrCode, ga.LastStreamID)
			}
			if n := u.reqs.Load() - before; n != 1 {
				t.Fatalf("upstream got %d requests, want 1 (stream 1 only)", n)
			}
		})
	}
	t.Run("in a CONTINUATION", func(t *testing.T) {
		h := dialH2(t, p)
		block := h.headers("connection", "close")
		_ = h.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:len(block)-1], EndStream: true})
		_ = h.WriteContinuation(1, true, block[len(block)-1:])
		if _, _, ga := h.response(t, 1); ga == nil || ga.ErrCode != http2.ErrCodeProtocol {
			t.Fatalf("GOAWAY %v, want PROTOCOL_ERROR", ga)
		}
	})
	t.Run("te trailers is served", func(t *testing.T) {
		h := dialH2(t, p)
		for _, id := range []uint32{1, 3} { // the second from the dynamic table
			_ = h.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.headers("te", "trailers"), EndStream: true, EndHeaders: true})
			if st, _, ga := h.response(t, id); ga != nil || st != "200" {
				t.Fatalf("stream %d: status %q, GOAWAY %v; want 200", id, st, ga)
			}
		}
	})
}

// Issue 11.10 (h2spec http2/6.5.3/1): a SETTINGS frame repeating
// INITIAL_WINDOW_SIZE is processed in order, so the last value (1) holds:
// the response's first DATA frame carries 1 byte. Go's server closed the
// connection instead.
func TestH2RepeatedSettingTakesLastValue(t *testing.T) {
	u := newEcho(t, "u")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", u.addr()))
	h := dialH2(t, p, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
	_ = h.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: h.headers(), EndStream: true, EndHeaders: true})
	for {
		f, err := h.ReadFrame()
		if err != nil {
			t.Fatalf("connection ended (%v) before a DATA frame", err)
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v: the repeated setting was refused", f.ErrCode)
		case *http2.DataFrame:
			if n := len(f.Data()); n != 1 {
				t.Fatalf("first DATA frame %d bytes, want 1 (the last INITIAL_WINDOW_SIZE)", n)
			}
			return
		}
	}
}
