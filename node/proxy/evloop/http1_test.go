package evloop

import (
	"bytes"
	"testing"
)

func TestParseRequest(t *testing.T) {
	ok := "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nX-A:  v \r\nContent-Length: 3\r\nConnection: keep-alive, close\r\n\r\nabc"
	var r Request
	n, err := ParseRequest([]byte(ok), &r)
	if err != nil || n != len(ok)-3 {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if string(r.Method) != "GET" || string(r.Path) != "/a/b" || string(r.Query) != "x=1" || string(r.Host) != "example.com" ||
		r.ContentLength != 3 || !r.Close || len(r.Headers) != 4 || string(r.Headers[1].Value) != "v" {
		t.Fatalf("parsed %+v", r)
	}
	for i := 0; i < len(ok)-3; i++ {
		if n, err := ParseRequest([]byte(ok[:i]), &r); n != 0 || err != nil {
			t.Fatalf("prefix %d: n=%d err=%v, want incomplete", i, n, err)
		}
	}
}

// Every shape the loop does not serve itself goes to the general path,
// which answers it as the fasthttp engine does (conform_test.go).
func TestParseRequestHandsOff(t *testing.T) {
	for name, head := range map[string]string{
		"CL+TE":         "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"TE":            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		"duplicate CL":  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
		"bad CL":        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n",
		"obs-fold":      "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"bare LF":       "GET / HTTP/1.1\nHost: a\n\n",
		"bare LF later": "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
		"bare LF part":  "GET / HTTP/1.1\r\nHost: a\nX: b",
		"no host":       "GET / HTTP/1.1\r\n\r\n",
		"two hosts":     "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"absolute form": "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"asterisk":      "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"HTTP/1.0":      "GET / HTTP/1.0\r\nHost: a\r\n\r\n",
		"HTTP/2.0":      "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
		"underscore":    "GET / HTTP/1.1\r\nHost: a\r\nX_A: 1\r\n\r\n",
		"space in name": "GET / HTTP/1.1\r\nHost: a\r\nX A: 1\r\n\r\n",
		"space colon":   "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
		"CR in value":   "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
		"upgrade":       "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		"expect":        "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
		"bad method":    "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
		"space target":  "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		var r Request
		if n, err := ParseRequest([]byte(head), &r); err != ErrHandOff {
			t.Errorf("%s: n=%d err=%v, want ErrHandOff", name, n, err)
		}
	}
}

func TestParseResponse(t *testing.T) {
	var r Response
	for name, c := range map[string]struct {
		head string
		err  error
		cl   int64
		ch   bool
		cls  bool
	}{
		"length":    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", nil, 5, false, false},
		"chunked":   {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", nil, -1, true, false},
		"1.0":       {"HTTP/1.0 200 OK\r\n\r\n", nil, -1, false, true},
		"1.0 ka":    {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", nil, 1, false, false},
		"close":     {"HTTP/1.1 204\r\nConnection: close\r\n\r\n", nil, -1, false, true},
		"CL+TE":     {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", ErrBadResponse, 0, false, false},
		"two CL":    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", ErrBadResponse, 0, false, false},
		"gzip TE":   {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", ErrBadResponse, 0, false, false},
		"bad stat":  {"HTTP/1.1 20x OK\r\n\r\n", ErrBadResponse, 0, false, false},
		"bare LF":   {"HTTP/1.1 200 OK\nContent-Length: 0\n\n", ErrBadResponse, 0, false, false},
		"same CL 2": {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", nil, 5, false, false},
	} {
		n, err := ParseResponse([]byte(c.head), &r)
		if err != c.err {
			t.Errorf("%s: err %v, want %v", name, err, c.err)
			continue
		}
		if err == nil && (n != len(c.head) || r.ContentLength != c.cl || r.Chunked != c.ch || r.Close != c.cls) {
			t.Errorf("%s: n=%d %+v", name, n, r)
		}
	}
}

func TestChunked(t *testing.T) {
	body := "5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\nNEXT"
	var c Chunked
	n, done, err := c.Scan([]byte(body))
	if err != nil || !done || body[n:] != "NEXT" {
		t.Fatalf("n=%d done=%v err=%v", n, done, err)
	}
	// One byte at a time finds the same end.
	c.Reset()
	for i := 0; i < len(body); i++ {
		n, done, err := c.Scan([]byte{body[i]})
		if err != nil {
			t.Fatalf("byte %d: %v", i, err)
		}
		if done {
			if body[i+n:] != "NEXT" {
				t.Fatalf("ended at %d", i)
			}
			break
		}
	}
	for _, bad := range []string{"x\r\n", "5\r\nhelloXX", "5\nhello\r\n", "\r\n", "1111111111111111\r\n"} {
		c.Reset()
		if _, _, err := c.Scan([]byte(bad)); err != ErrBadChunk {
			t.Errorf("%q: err %v, want ErrBadChunk", bad, err)
		}
	}
}

// A head the loop accepts is one it can forward without ambiguity.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("GET /a?b HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\nHost: a\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Request
		n, err := ParseRequest(b, &r)
		if err != nil || n == 0 {
			return
		}
		if n > len(b) || !bytes.HasSuffix(b[:n], []byte("\r\n\r\n")) || len(r.Host) == 0 || r.Target[0] != '/' {
			t.Fatalf("accepted %q (n=%d)", b, n)
		}
		hosts := 0
		for _, h := range r.Headers {
			if equalFold(h.Name, "transfer-encoding") || bytes.ContainsAny(h.Value, "\r\n\x00") || bytes.ContainsAny(h.Name, "_ \t:") {
				t.Fatalf("accepted field %q: %q", h.Name, h.Value)
			}
			if equalFold(h.Name, "host") {
				hosts++
			}
		}
		if hosts != 1 || bytes.Contains(b[:n], []byte("\n ")) || bytes.Contains(b[:n], []byte("\n\t")) {
			t.Fatalf("accepted %q", b[:n])
		}
	})
}

// Scanning a chunked body in any split finds the same end as in one piece.
func FuzzChunked(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), uint8(3))
	f.Add([]byte("a;x\r\n0123456789\r\n0\r\nT: 1\r\n\r\nrest"), uint8(7))
	f.Fuzz(func(t *testing.T, b []byte, split uint8) {
		var whole, parts Chunked
		n, done, err := whole.Scan(b)
		k := int(split) % (len(b) + 1)
		n1, done1, err1 := parts.Scan(b[:k])
		if err1 != nil || done1 {
			if err1 != err && (err == nil || err1 == nil) || done1 != done || n1 != n {
				t.Fatalf("split %d: (%d %v %v) vs (%d %v %v)", k, n1, done1, err1, n, done, err)
			}
			return
		}
		n2, done2, err2 := parts.Scan(b[k:])
		if (err2 == nil) != (err == nil) || done2 != done || (err == nil && k+n2 != n) {
			t.Fatalf("split %d: (%d %v %v) vs (%d %v %v)", k, k+n2, done2, err2, n, done, err)
		}
	})
}
