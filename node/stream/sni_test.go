package stream

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// clientHello returns the bytes a crypto/tls client sends first for name.
func clientHello(t testing.TB, name string) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		c := tls.Client(a, &tls.Config{ServerName: name, InsecureSkipVerify: true}) //nolint:gosec // never completes
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Handshake()
	}()
	b.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64<<10)
	n, err := b.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// fragment splits the handshake of one record into records of at most n
// bytes each.
func fragment(rec []byte, n int) []byte {
	var out []byte
	body := rec[recordHeader:]
	for len(body) > 0 {
		k := min(n, len(body))
		out = append(out, rec[0], rec[1], rec[2], byte(k>>8), byte(k))
		out = append(out, body[:k]...)
		body = body[k:]
	}
	return out
}

func TestClientHelloSNI(t *testing.T) {
	hello := clientHello(t, "Www.Example.COM")
	for name, in := range map[string][]byte{"one record": hello, "fragmented": fragment(hello, 100)} {
		t.Run(name, func(t *testing.T) {
			got, err := peekSNI(bufio.NewReaderSize(bytes.NewReader(in), maxHello))
			if err != nil || got != "www.example.com" {
				t.Fatalf("%q %v", got, err)
			}
			// Every prefix asks for more, never answers wrong.
			for i := range len(in) - 1 {
				name, need, err := clientHelloSNI(in[:i])
				if err != nil || name != "" || need <= i {
					t.Fatalf("prefix %d: %q %d %v", i, name, need, err)
				}
			}
		})
	}
	if got, _, err := clientHelloSNI(minimalHello("a.b")); err != nil || got != "a.b" {
		t.Fatalf("minimal hello: %q %v", got, err)
	}
	noSNI := clientHello(t, "")
	if got, err := peekSNI(bufio.NewReaderSize(bytes.NewReader(noSNI), maxHello)); err != nil || got != "" {
		t.Fatalf("without SNI: %q %v", got, err)
	}
	for name, in := range map[string][]byte{
		"http":      []byte("GET / HTTP/1.1\r\n\r\n"),
		"alert":     {0x15, 3, 3, 0, 2, 2, 40},
		"truncated": hello[:len(hello)-10],
		"huge":      {0x16, 3, 1, 0x40, 0, 1, 0x01, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := peekSNI(bufio.NewReaderSize(bytes.NewReader(in), maxHello)); err == nil {
				t.Fatalf("accepted: %q", got)
			}
		})
	}
}

// minimalHello is a small ClientHello record naming name (the fuzzer's
// seeds: crypto/tls's, with its key shares, are large and slow to mutate).
func minimalHello(name string) []byte {
	var ext []byte
	if name != "" {
		n := len(name)
		ext = append(ext, 0, 0, byte((n+5)>>8), byte(n+5), byte((n+3)>>8), byte(n+3), 0, byte(n>>8), byte(n))
		ext = append(ext, name...)
	}
	ext = append(ext, 0, 10, 0, 4, 0, 2, 0, 29) // supported_groups
	body := []byte{3, 3}
	body = append(body, make([]byte, 32)...)
	body = append(body, 0, 0, 2, 0x13, 0x01, 1, 0) // no session id, one suite, null compression
	body = append(body, byte(len(ext)>>8), byte(len(ext)))
	body = append(body, ext...)
	hs := append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{0x16, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}

func FuzzClientHelloSNI(f *testing.F) {
	f.Add(minimalHello("a.example.com"))
	f.Add(fragment(minimalHello("b.example.com"), 7))
	f.Add(minimalHello(""))
	f.Add([]byte{0x16, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		name, need, err := clientHelloSNI(b)
		if err != nil {
			return
		}
		if need != 0 {
			if need <= len(b) {
				t.Fatalf("need %d with %d bytes", need, len(b))
			}
			return
		}
		if _, err := hostName([]byte(name)); name != "" && err != nil {
			t.Fatalf("bad name %q: %v", name, err)
		}
		// Bytes after the ClientHello change nothing.
		again, need2, err := clientHelloSNI(append(b[:len(b):len(b)], 0x17, 3, 3))
		if err != nil || need2 != 0 || again != name {
			t.Fatalf("with trailing bytes: %q %d %v, was %q", again, need2, err, name)
		}
		// The reader over the same bytes agrees.
		got, err := peekSNI(bufio.NewReaderSize(bytes.NewReader(b), maxHello))
		if err != nil || got != name {
			t.Fatalf("peekSNI %q %v, want %q", got, err, name)
		}
	})
}
