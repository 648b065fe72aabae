package upstream

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/valyala/fasthttp"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// PeekBody reads at most max+1 bytes of a streamed (chunked) body ahead,
// and the client still gets all of it, the peeked bytes first; a buffered
// body is sliced.
func TestPeekBody(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 32<<10) // 512 KiB
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			_, _ = io.WriteString(w, "small body")
			return
		}
		for b := big; len(b) > 0; b = b[min(len(b), 8<<10):] {
			_, _ = w.Write(b[:min(len(b), 8<<10)])
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	u := build(t, &configv1.Upstream{Servers: []*configv1.Server{{Address: srv.Listener.Addr().String(), Weight: 1}}})
	do := func(path string) *fasthttp.Response {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		t.Cleanup(func() { fasthttp.ReleaseRequest(req); fasthttp.ReleaseResponse(resp) })
		req.SetRequestURI(path)
		req.Header.SetHost("x")
		if err := u.Servers()[0].Fast().Do(req, resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := do("/big")
	if !resp.IsBodyStream() {
		t.Fatal("a chunked 512 KiB body is not streamed")
	}
	b, more := PeekBody(resp, 1000)
	if !more || !bytes.Equal(b, big[:1000]) {
		t.Fatalf("peek: %d bytes, more %v; want the first 1000 and more", len(b), more)
	}
	if b2, _ := PeekBody(resp, 1000); !bytes.Equal(b2, b) {
		t.Error("a second peek differs")
	}
	all, err := io.ReadAll(resp.BodyStream())
	if err != nil || !bytes.Equal(all, big) {
		t.Errorf("body after the peek: %d bytes, %v; want all %d", len(all), err, len(big))
	}
	resp.CloseBodyStream()
	small := do("/small")
	if b, more := PeekBody(small, 5); string(b) != "small" || !more {
		t.Errorf("buffered peek: %q more %v", b, more)
	}
	if b, more := PeekBody(small, 100); string(b) != "small body" || more {
		t.Errorf("buffered peek of it all: %q more %v", b, more)
	}
}
