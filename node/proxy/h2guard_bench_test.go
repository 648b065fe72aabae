package proxy

import (
	"bytes"
	"io"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// loopReader yields head once, then body over and over.
type loopReader struct {
	head, body []byte
	off        int
}

func (r *loopReader) Read(p []byte) (int, error) {
	if len(r.head) > 0 {
		n := copy(p, r.head)
		r.head = r.head[n:]
		return n, nil
	}
	n := copy(p, r.body[r.off:])
	r.off = (r.off + n) % len(r.body)
	return n, nil
}

// BenchmarkH2Guard measures what h2Guard adds per client frame: the
// server's framer reads each frame through the guard ("guard") or straight
// from the stream ("direct"). HEADERS is a browser-like request after the
// first one on a connection (mostly dynamic table references).
func BenchmarkH2Guard(b *testing.B) {
	var first, again bytes.Buffer
	enc := hpack.NewEncoder(&first)
	fields := []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"},
		{Name: ":path", Value: "/assets/app.js"}, {Name: ":authority", Value: "www.example.com"},
		{Name: "user-agent", Value: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
		{Name: "accept", Value: "*/*"}, {Name: "accept-language", Value: "en-US,en;q=0.5"},
		{Name: "accept-encoding", Value: "gzip, deflate, br, zstd"}, {Name: "referer", Value: "https://www.example.com/"},
		{Name: "cookie", Value: "session=0123456789abcdef0123456789abcdef"}, {Name: "te", Value: "trailers"}}
	for _, f := range fields {
		_ = enc.WriteField(f)
	}
	firstBlock := bytes.Clone(first.Bytes())
	enc = hpack.NewEncoder(&again)
	for _, f := range fields { // the same encoder state as after firstBlock
		_ = enc.WriteField(f)
	}
	again.Reset()
	for _, f := range fields {
		_ = enc.WriteField(f)
	}
	frame := func(write func(*http2.Framer)) []byte {
		var buf bytes.Buffer
		write(http2.NewFramer(&buf, nil))
		return buf.Bytes()
	}
	headers := func(block []byte) func(*http2.Framer) {
		return func(fr *http2.Framer) {
			_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndStream: true, EndHeaders: true})
		}
	}
	head := append([]byte(http2.ClientPreface), frame(headers(firstBlock))...)
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"DATA-16KiB", frame(func(fr *http2.Framer) { _ = fr.WriteData(1, false, make([]byte, 16<<10)) })},
		{"HEADERS", frame(headers(again.Bytes()))},
		{"SETTINGS", frame(func(fr *http2.Framer) {
			_ = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}, http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: 1 << 16})
		})},
	} {
		for _, guarded := range []bool{false, true} {
			name := c.name + "/direct"
			if guarded {
				name = c.name + "/guard"
			}
			b.Run(name, func(b *testing.B) {
				var r io.Reader = &loopReader{head: bytes.Clone(head), body: c.frame}
				if guarded {
					g := newH2Guard(nil, 1<<20)
					g.src = r
					r = g
				}
				// As the server: the preface, then frames, the first HEADERS
				// filling the dynamic table.
				if _, err := io.ReadFull(r, make([]byte, len(http2.ClientPreface))); err != nil {
					b.Fatal(err)
				}
				fr := http2.NewFramer(nil, r)
				if _, err := fr.ReadFrame(); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(c.frame)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := fr.ReadFrame(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
