package proxy_test

import (
	"bytes"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

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
