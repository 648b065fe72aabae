package proxy_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node/proxy"
)

// halfOrigin sends the first half of a 128 KiB body, waits on the channel
// the test gives for the path, then sends the rest; with abort, it cuts the
// connection instead.
type halfOrigin struct {
	*httptest.Server
	reqs    atomic.Int32
	release chan chan struct{}
	body    []byte
}

func newHalfOrigin(t *testing.T, chunked bool) *halfOrigin {
	o := &halfOrigin{release: make(chan chan struct{}, 4), body: bytes.Repeat([]byte("0123456789abcdef"), 8<<10)}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.reqs.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		if !chunked {
			w.Header().Set("Content-Length", strconv.Itoa(len(o.body)))
		}
		half := len(o.body) / 2
		_, _ = w.Write(o.body[:half])
		w.(http.Flusher).Flush()
		if r.URL.Query().Get("abort") != "" {
			panic(http.ErrAbortHandler) // the connection is cut mid-body
		}
		<-<-o.release
		_, _ = w.Write(o.body[half:])
	}))
	t.Cleanup(o.Close)
	return o
}

// A cache MISS streams the origin's body: the client reads the start of it
// while the origin still holds back the rest; the object is stored once
// it ended, and the next request is a HIT. A body the origin cuts off
// reaches the client torn and is not stored. Both listeners, with and
// without Content-Length.
func TestCacheMissStreams(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run("chunked="+strconv.FormatBool(chunked), func(t *testing.T) {
			o := newHalfOrigin(t, chunked)
			p := startProxy(t, proxy.Options{Cache: newMemCache(t)})
			app := simpleApp("shop", "shop.example.com", o.Listener.Addr().String())
			app.Rules = []*configv1.Rule{cacheRule("all", "", &configv1.CacheAction{TtlS: 60})}
			mustUpdate(t, p, 1, app)
			cl := httpClient(t)
			both(t, p, func(t *testing.T, base string) {
				path := "/big-" + base[:5]
				n := o.reqs.Load()
				release := make(chan struct{})
				o.release <- release
				req, _ := http.NewRequest("GET", base+path, nil)
				req.Host = "shop.example.com"
				var resp *http.Response
				// Half of the first half is well past any write buffer.
				first := make([]byte, len(o.body)/4)
				got := make(chan error, 1)
				go func() {
					var err error
					if resp, err = cl.Do(req); err == nil {
						_, err = io.ReadFull(resp.Body, first)
					}
					got <- err
				}()
				select {
				case err := <-got:
					if err != nil || !bytes.Equal(first, o.body[:len(first)]) {
						t.Fatalf("first part: %v", err)
					}
				case <-time.After(10 * time.Second):
					close(release)
					t.Fatal("the first part did not arrive while the origin held back the rest: the body is buffered")
				}
				defer resp.Body.Close()
				if resp.Header.Get("X-Cache-Status") != "MISS" {
					t.Fatalf("X-Cache-Status %q", resp.Header.Get("X-Cache-Status"))
				}
				close(release)
				rest, err := io.ReadAll(resp.Body)
				if err != nil || !bytes.Equal(append(first, rest...), o.body) {
					t.Fatalf("whole body: %d bytes, %v", len(first)+len(rest), err)
				}
				checkFor(t, 5*time.Second, func() error {
					r := do(t, cl, "GET", base, "shop.example.com", path, "")
					if r.header.Get("X-Cache-Status") != "HIT" || r.body != string(o.body) {
						return fmt.Errorf("after the fill: %s, %d bytes", r.header.Get("X-Cache-Status"), len(r.body))
					}
					return nil
				})
				if got := o.reqs.Load(); got != n+1 {
					t.Fatalf("origin requests %d, want %d", got, n+1)
				}

				// Cut off mid-body: torn for the client, never stored.
				for i := range 2 {
					req, _ := http.NewRequest("GET", base+path+"?abort=1", nil)
					req.Host = "shop.example.com"
					resp, err := cl.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && len(b) == len(o.body) {
						t.Fatalf("request %d: an aborted body arrived whole", i)
					}
					if s := resp.Header.Get("X-Cache-Status"); s != "MISS" {
						t.Fatalf("request %d after an aborted fill: %s", i, s)
					}
				}
				if got := o.reqs.Load(); got != n+3 {
					t.Fatalf("origin requests %d, want %d (the aborted body was stored?)", got, n+3)
				}
			})
		})
	}
}

// A HEAD that misses goes to the origin, announces the length the origin
// gave it,
// has no body and stores nothing; the GET after it is a MISS, then a HIT.
func TestCacheHeadMiss(t *testing.T) {
	up := newEcho(t, "origin")
	p := startProxy(t, proxy.Options{Cache: newMemCache(t)})
	app := simpleApp("shop", "shop.example.com", up.addr())
	app.Rules = []*configv1.Rule{cacheRule("all", "", &configv1.CacheAction{TtlS: 60})}
	mustUpdate(t, p, 1, app)
	cl := httpClient(t)
	both(t, p, func(t *testing.T, base string) {
		path := "/head-" + base[:5]
		head := do(t, cl, "HEAD", base, "shop.example.com", path, "")
		if head.status != 200 || head.body != "" || head.header.Get("X-Cache-Status") != "MISS" {
			t.Fatalf("HEAD: %d %q %v", head.status, head.body, head.header)
		}
		get := do(t, cl, "GET", base, "shop.example.com", path, "")
		if get.header.Get("X-Cache-Status") != "MISS" {
			t.Fatalf("GET after HEAD: %v", get.header)
		}
		if n, err := strconv.Atoi(head.header.Get("Content-Length")); err != nil || n < len(`{"server":"origin","method":"HEAD"}`) {
			t.Fatalf("HEAD Content-Length %q: want the echo's length", head.header.Get("Content-Length"))
		}
		if hit := do(t, cl, "GET", base, "shop.example.com", path, ""); hit.header.Get("X-Cache-Status") != "HIT" || hit.body != get.body {
			t.Fatalf("second GET: %v", hit.header)
		}
	})
}

// A second client asking for a URL being filled follows the fill through
// the proxy: it gets the part that has arrived while the origin still
// holds back the rest, and the origin is asked once.
func TestCacheFollowersStreamThroughProxy(t *testing.T) {
	o := newHalfOrigin(t, false)
	p := startProxy(t, proxy.Options{Cache: newMemCache(t)})
	app := simpleApp("shop", "shop.example.com", o.Listener.Addr().String())
	app.Rules = []*configv1.Rule{cacheRule("all", "", &configv1.CacheAction{TtlS: 60})}
	mustUpdate(t, p, 1, app)
	cl := httpClient(t)
	both(t, p, func(t *testing.T, base string) {
		path := "/follow-" + base[:5]
		n := o.reqs.Load()
		release := make(chan struct{})
		o.release <- release
		defer func() {
			select {
			case <-release:
			default:
				close(release)
			}
		}()
		open := func() *http.Response {
			t.Helper()
			req, _ := http.NewRequest("GET", base+path, nil)
			req.Host = "shop.example.com"
			got := make(chan *http.Response, 1)
			go func() {
				resp, err := cl.Do(req)
				if err != nil {
					t.Error(err)
				}
				got <- resp
			}()
			select {
			case resp := <-got:
				if resp == nil {
					t.FailNow()
				}
				first := make([]byte, len(o.body)/4)
				if _, err := io.ReadFull(resp.Body, first); err != nil || !bytes.Equal(first, o.body[:len(first)]) {
					t.Fatalf("first part: %v", err)
				}
				return resp
			case <-time.After(10 * time.Second):
				t.Fatal("no response while the origin holds back the rest")
			}
			return nil
		}
		a := open()
		defer a.Body.Close()
		b := open() // joins the fill
		defer b.Body.Close()
		close(release)
		for _, r := range []*http.Response{a, b} {
			if rest, err := io.ReadAll(r.Body); err != nil || len(rest) != len(o.body)-len(o.body)/4 {
				t.Fatalf("rest: %d bytes, %v", len(rest), err)
			}
		}
		if got := o.reqs.Load() - n; got != 1 {
			t.Fatalf("%d origin requests, want 1", got)
		}
	})
}
