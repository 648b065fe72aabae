package evloop

import "errors"

// The HTTP/1.1 head parser of the loop. It is strict on purpose: it takes
// only the plain shapes (origin-form target, HTTP/1.1, CRLF lines, token
// header names, at most one Content-Length, no Transfer-Encoding, no
// upgrade). Everything else is ErrHandOff: the caller gives the connection
// to the fasthttp server, which answers or refuses it exactly as the
// fasthttp engine does. So the loop never has its own opinion on a
// smuggling shape.

// ErrHandOff says the request is not one the loop serves itself.
var ErrHandOff = errors.New("evloop: request for the general path")

// MaxHeaders is the number of header fields the loop parses; more is
// ErrHandOff.
const MaxHeaders = 64

// Header is one header field; both slices alias the parsed buffer.
type Header struct{ Name, Value []byte }

// Request is a parsed request head. Its slices alias the parsed buffer.
type Request struct {
	Method, Target, Path, Query []byte
	Host                        []byte
	Headers                     []Header
	ContentLength               int64 // 0 when absent
	Close                       bool  // Connection: close
}

// ParseRequest parses the head at the start of b into r. It returns the
// head's length, 0 when b holds no complete head yet, or ErrHandOff.
func ParseRequest(b []byte, r *Request) (int, error) {
	r.Headers = r.Headers[:0]
	r.Host, r.ContentLength, r.Close = nil, 0, false
	line, rest, st := cutLine(b)
	if st != lineOK {
		return 0, lineErr(st, b)
	}
	sp := indexByte(line, ' ')
	if sp <= 0 || !isToken(line[:sp]) {
		return 0, ErrHandOff
	}
	r.Method = line[:sp]
	line = line[sp+1:]
	sp = indexByte(line, ' ')
	if sp <= 0 || string(line[sp+1:]) != "HTTP/1.1" {
		return 0, ErrHandOff
	}
	r.Target = line[:sp]
	if r.Target[0] != '/' {
		return 0, ErrHandOff // absolute form, "*": the general path
	}
	for _, c := range r.Target {
		if c <= ' ' || c >= 0x7f {
			return 0, ErrHandOff
		}
	}
	r.Path, r.Query = r.Target, nil
	if q := indexByte(r.Target, '?'); q >= 0 {
		r.Path, r.Query = r.Target[:q], r.Target[q+1:]
	}
	hosts, lengths := 0, 0
	for {
		line, rest, st = cutLine(rest)
		if st != lineOK {
			return 0, lineErr(st, rest)
		}
		if len(line) == 0 {
			break
		}
		h, err := parseField(line)
		if err != nil {
			return 0, err
		}
		switch {
		case equalFold(h.Name, "host"):
			hosts++
			r.Host = h.Value
		case equalFold(h.Name, "content-length"):
			lengths++
			n, ok := parseLength(h.Value)
			if !ok {
				return 0, ErrHandOff
			}
			r.ContentLength = n
		case equalFold(h.Name, "connection"):
			if hasToken(h.Value, "upgrade") {
				return 0, ErrHandOff
			}
			r.Close = r.Close || hasToken(h.Value, "close")
		case equalFold(h.Name, "transfer-encoding"), equalFold(h.Name, "upgrade"), equalFold(h.Name, "expect"):
			return 0, ErrHandOff
		}
		if len(r.Headers) == MaxHeaders {
			return 0, ErrHandOff
		}
		r.Headers = append(r.Headers, h)
	}
	if hosts != 1 || lengths > 1 || len(r.Host) == 0 {
		return 0, ErrHandOff
	}
	return len(b) - len(rest), nil
}

// partial is the answer for a head not complete in b: wait, unless b
// already shows a shape the loop hands off (a bare LF).
func partial(b []byte) error {
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			return ErrHandOff
		}
	}
	return nil
}

const (
	lineOK = iota
	lineShort
	lineBareLF
)

// cutLine splits b after its first CRLF; a bare LF is lineBareLF.
func cutLine(b []byte) (line, rest []byte, st int) {
	i := indexByte(b, '\n')
	if i < 0 {
		return nil, b, lineShort
	}
	if i == 0 || b[i-1] != '\r' {
		return nil, b, lineBareLF
	}
	return b[:i-1], b[i+1:], lineOK
}

func lineErr(st int, rest []byte) error {
	if st == lineShort {
		return partial(rest)
	}
	return ErrHandOff
}

// parseField parses "Name: value" with the value's surrounding blanks
// trimmed. Names are tokens without '_' (the edge drops those: the
// general path), values have no control characters but HTAB.
func parseField(line []byte) (Header, error) {
	c := indexByte(line, ':')
	if c <= 0 || !isToken(line[:c]) || indexByte(line[:c], '_') >= 0 {
		return Header{}, ErrHandOff // obs-fold, bad name, stray CR
	}
	v := line[c+1:]
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	for _, ch := range v {
		if ch < ' ' && ch != '\t' || ch == 0x7f {
			return Header{}, ErrHandOff
		}
	}
	return Header{Name: line[:c], Value: v}, nil
}

// parseLength parses a Content-Length: 1 to 15 digits.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func indexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// isToken reports whether b is a non-empty RFC 9110 token.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c >= 0x80 || !tokenChar[c] {
			return false
		}
	}
	return true
}

var tokenChar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// EqualFold compares ASCII case-insensitively; s is lower case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v has token t (lower case).
func hasToken(v []byte, t string) bool {
	for len(v) > 0 {
		var tok []byte
		if tok, v = NextToken(v); equalFold(tok, t) {
			return true
		}
	}
	return false
}

// NextToken splits the first element off the comma-separated list v
// (RFC 9110 5.6.1), without its surrounding spaces and tabs; tok is empty
// for an empty element. Loop on it while rest is not empty.
func NextToken(v []byte) (tok, rest []byte) {
	tok = v
	if i := indexByte(v, ','); i >= 0 {
		tok, rest = v[:i], v[i+1:]
	}
	for len(tok) > 0 && (tok[0] == ' ' || tok[0] == '\t') {
		tok = tok[1:]
	}
	for len(tok) > 0 && (tok[len(tok)-1] == ' ' || tok[len(tok)-1] == '\t') {
		tok = tok[:len(tok)-1]
	}
	return tok, rest
}
