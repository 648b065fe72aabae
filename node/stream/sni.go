package stream

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
)

// The SNI proxy (PASSTHROUGH) reads the server name of the ClientHello
// from bytes peeked off the connection, without consuming them: the
// upstream gets the ClientHello untouched.
const (
	// maxHello bounds the bytes peeked for a ClientHello, record headers
	// included.
	maxHello     = 16 << 10
	recordHeader = 5
)

var errNotTLS = errors.New("not a TLS handshake")

// peekSNI peeks the ClientHello off r (at most maxHello bytes; the caller
// set a read deadline) and returns its server name, lower case, "" when
// it names none.
func peekSNI(r *bufio.Reader) (string, error) {
	need := 1
	for {
		if need > maxHello {
			return "", fmt.Errorf("ClientHello over %d bytes", maxHello)
		}
		b, err := r.Peek(need)
		if err != nil {
			return "", fmt.Errorf("read ClientHello: %w", err)
		}
		name, more, err := clientHelloSNI(b)
		if err != nil {
			return "", err
		}
		if more == 0 {
			return name, nil
		}
		need = more
	}
}

// clientHelloSNI parses the TLS records at the start of b, which hold a
// ClientHello (RFC 8446 4.1.2, possibly split over several handshake
// records), and returns the host_name of its server_name extension
// (RFC 6066 3), lower case without a final dot. When b is too short it
// returns need, the length of b to try again with (always more than
// len(b)).
func clientHelloSNI(b []byte) (name string, need int, err error) {
	// Reassemble the handshake bytes of the records b holds.
	var hs []byte
	off := 0
	for {
		// What is there of the record header is checked first: bytes
		// that are no TLS are refused without waiting for more.
		if len(b) > off && b[off] != 0x16 { // handshake
			return "", 0, errNotTLS
		}
		if len(b) > off+1 && b[off+1] != 3 {
			return "", 0, fmt.Errorf("%w: record version %d", errNotTLS, b[off+1])
		}
		if len(b)-off < recordHeader {
			return "", off + recordHeader, nil
		}
		n := int(b[off+3])<<8 | int(b[off+4])
		if n == 0 {
			return "", 0, errors.New("empty handshake record")
		}
		if len(b)-off-recordHeader < n {
			return "", off + recordHeader + n, nil
		}
		hs = append(hs, b[off+recordHeader:off+recordHeader+n]...)
		off += recordHeader + n
		if len(hs) >= 4 {
			if hs[0] != 1 { // client_hello
				return "", 0, fmt.Errorf("handshake type %d is not a ClientHello", hs[0])
			}
			msgLen := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
			if msgLen > maxHello {
				return "", 0, fmt.Errorf("ClientHello of %d bytes, over %d", msgLen, maxHello)
			}
			if len(hs)-4 >= msgLen {
				name, err := helloServerName(hs[4 : 4+msgLen])
				return name, 0, err
			}
		}
	}
}

// reader walks a ClientHello; every read checks bounds.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if r.bad || n < 0 || n > len(r.b) {
		r.bad = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() int {
	v := r.bytes(1)
	if v == nil {
		return 0
	}
	return int(v[0])
}

func (r *reader) u16() int {
	v := r.bytes(2)
	if v == nil {
		return 0
	}
	return int(v[0])<<8 | int(v[1])
}

var errMalformed = errors.New("malformed ClientHello")

// helloServerName reads the server name of a ClientHello body.
func helloServerName(body []byte) (string, error) {
	r := &reader{b: body}
	r.bytes(2 + 32)  // legacy_version, random
	r.bytes(r.u8())  // legacy_session_id
	r.bytes(r.u16()) // cipher_suites
	r.bytes(r.u8())  // legacy_compression_methods
	if r.bad {
		return "", errMalformed
	}
	if len(r.b) == 0 {
		return "", nil // no extensions (SSL 3.0 style)
	}
	ext := &reader{b: r.bytes(r.u16())}
	if r.bad {
		return "", errMalformed
	}
	for len(ext.b) > 0 {
		typ := ext.u16()
		data := ext.bytes(ext.u16())
		if ext.bad {
			return "", errMalformed
		}
		if typ != 0 { // server_name
			continue
		}
		list := &reader{b: data}
		names := &reader{b: list.bytes(list.u16())}
		if list.bad || len(list.b) != 0 {
			return "", errMalformed
		}
		for len(names.b) > 0 {
			kind := names.u8()
			host := names.bytes(names.u16())
			if names.bad {
				return "", errMalformed
			}
			if kind != 0 { // host_name
				continue
			}
			return hostName(host)
		}
		return "", nil
	}
	return "", nil
}

// hostName checks a server name: a DNS name of letters, digits, '-', '_'
// and dots, at most 253 bytes.
func hostName(b []byte) (string, error) {
	s := strings.TrimSuffix(strings.ToLower(string(b)), ".")
	if s == "" || len(s) > 253 {
		return "", fmt.Errorf("%w: server name of %d bytes", errMalformed, len(b))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", fmt.Errorf("%w: server name has byte 0x%02x", errMalformed, c)
		}
	}
	return s, nil
}
