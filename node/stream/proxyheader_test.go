package stream

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

type noDeadline struct{}

func (noDeadline) SetReadDeadline(time.Time) error { return nil }

func header(t testing.TB, v byte, src, dst string) []byte {
	s, _ := net.ResolveTCPAddr("tcp", src)
	d, _ := net.ResolveTCPAddr("tcp", dst)
	b, err := proxyproto.HeaderProxyFromAddrs(v, s, d).Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadProxyHeader(t *testing.T) {
	peer := netip.MustParseAddrPort("10.0.0.1:999")
	for _, tc := range []struct {
		name    string
		in      []byte
		trusted bool
		want    string // "" refused
		rest    string
	}{
		{"v1", append(header(t, 1, "203.0.113.7:4242", "10.0.0.2:80"), "GET"...), true, "203.0.113.7:4242", "GET"},
		{"v2", append(header(t, 2, "[2001:db8::1]:5", "[2001:db8::2]:80"), "x"...), true, "[2001:db8::1]:5", "x"},
		{"v2 mapped", append(header(t, 2, "[::ffff:192.0.2.1]:5", "[::ffff:192.0.2.2]:80"), "x"...), true, "192.0.2.1:5", "x"},
		{"missing", []byte("GET / HTTP/1.1\r\n"), true, "", ""},
		{"untrusted header", header(t, 1, "203.0.113.7:4242", "10.0.0.2:80"), false, "", ""},
		{"untrusted plain", []byte("PROXZ"), false, "10.0.0.1:999", "PROXZ"},
		{"untrusted short", []byte("PRO"), false, "10.0.0.1:999", "PRO"},
		{"broken v1", []byte("PROXY TCP4 1.2.3\r\n"), true, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReader(bytes.NewReader(tc.in))
			got, err := readProxyHeader(r, noDeadline{}, peer, tc.trusted)
			if tc.want == "" {
				var rf *refusal
				if !errors.As(err, &rf) {
					t.Fatalf("got %v, %v; want a refusal", got, err)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("got %v, %v; want %s", got, err, tc.want)
			}
			rest, _ := r.Peek(r.Buffered())
			if string(rest) != tc.rest {
				t.Fatalf("left %q, want %q", rest, tc.rest)
			}
		})
	}
}

func FuzzProxyHeader(f *testing.F) {
	f.Add(header(f, 1, "203.0.113.7:4242", "10.0.0.2:80"), true)
	f.Add(header(f, 2, "[2001:db8::1]:5", "[2001:db8::2]:80"), true)
	f.Add([]byte("PROXY UNKNOWN\r\n"), true)
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c"), false)
	peer := netip.MustParseAddrPort("10.0.0.1:999")
	f.Fuzz(func(t *testing.T, in []byte, trusted bool) {
		r := bufio.NewReader(bytes.NewReader(in))
		got, err := readProxyHeader(r, noDeadline{}, peer, trusted)
		if err != nil {
			var rf *refusal
			if !errors.As(err, &rf) {
				t.Fatalf("error that is no refusal: %v", err)
			}
			return
		}
		if !got.IsValid() {
			t.Fatalf("invalid client address %v", got)
		}
		if !trusted && got != peer {
			t.Fatalf("untrusted peer became %v", got)
		}
	})
}
