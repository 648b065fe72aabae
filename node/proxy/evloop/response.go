package evloop

import "errors"

// ErrBadResponse is an upstream response head the loop cannot frame.
var ErrBadResponse = errors.New("evloop: malformed upstream response")

// Response is a parsed upstream response head; slices alias the buffer.
type Response struct {
	Status        int
	Reason        []byte
	Headers       []Header
	ContentLength int64 // -1: none given
	Chunked       bool
	Close         bool // Connection: close, or HTTP/1.0 without keep-alive
}

// ParseResponse parses the response head at the start of b: its length,
// 0 when incomplete, or ErrBadResponse. Framing that could be read two ways
// (Content-Length with Transfer-Encoding, differing lengths, a coding other
// than chunked) is refused: the client gets a 502, never an ambiguity.
func ParseResponse(b []byte, r *Response) (int, error) {
	r.Headers = r.Headers[:0]
	r.ContentLength, r.Chunked, r.Close = -1, false, false
	line, rest, st := cutLine(b)
	if st != lineOK {
		return 0, respErr(st)
	}
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || (line[7] != '1' && line[7] != '0') || line[8] != ' ' {
		return 0, ErrBadResponse
	}
	http10 := line[7] == '0'
	r.Close = http10
	s := line[9:12]
	if s[0] < '1' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9' || (len(line) > 12 && line[12] != ' ') {
		return 0, ErrBadResponse
	}
	r.Status = int(s[0]-'0')*100 + int(s[1]-'0')*10 + int(s[2]-'0')
	r.Reason = nil
	if len(line) > 13 {
		r.Reason = line[13:]
	}
	te := false
	for {
		line, rest, st = cutLine(rest)
		if st != lineOK {
			return 0, respErr(st)
		}
		if len(line) == 0 {
			break
		}
		h, err := parseField(line)
		if err != nil {
			return 0, ErrBadResponse
		}
		switch {
		case equalFold(h.Name, "content-length"):
			n, ok := parseLength(h.Value)
			if !ok || (r.ContentLength >= 0 && n != r.ContentLength) {
				return 0, ErrBadResponse
			}
			r.ContentLength = n
		case equalFold(h.Name, "transfer-encoding"):
			if te || !equalFold(h.Value, "chunked") {
				return 0, ErrBadResponse
			}
			te, r.Chunked = true, true
		case equalFold(h.Name, "connection"):
			if hasToken(h.Value, "close") {
				r.Close = true
			} else if http10 && hasToken(h.Value, "keep-alive") {
				r.Close = false
			}
		}
		if len(r.Headers) == MaxHeaders {
			return 0, ErrBadResponse
		}
		r.Headers = append(r.Headers, h)
	}
	if te && r.ContentLength >= 0 {
		return 0, ErrBadResponse
	}
	return len(b) - len(rest), nil
}

func respErr(st int) error {
	if st == lineShort {
		return nil
	}
	return ErrBadResponse
}

// Chunked finds the end of a chunked body passed through as it is: it
// follows chunk sizes, data, and the trailer section.
type Chunked struct {
	state int
	left  int64 // data bytes left in the current chunk
	size  int   // digits of the current size line
}

const (
	chSize = iota // reading hex digits
	chExt         // after the size: extension up to CR
	chSizeLF
	chData
	chDataCR
	chDataLF
	chTrailer // at the start of a trailer line (or the final CRLF)
	chTrailerText
	chTrailerLF
	chFinalLF
	chDone
)

// ErrBadChunk is a chunked body that does not follow RFC 9112 7.1.
var ErrBadChunk = errors.New("evloop: malformed chunked body")

// Scan consumes b; it returns how many bytes belong to the body (all of b
// unless the body ends inside it) and whether the body is complete.
func (c *Chunked) Scan(b []byte) (int, bool, error) {
	i := 0
	for i < len(b) {
		ch := b[i]
		switch c.state {
		case chSize:
			d, ok := hexVal(ch)
			switch {
			case ok:
				if c.size == 15 {
					return i, false, ErrBadChunk
				}
				c.left, c.size = c.left<<4|int64(d), c.size+1
			case c.size == 0:
				return i, false, ErrBadChunk
			case ch == ';' || ch == ' ' || ch == '\t':
				c.state = chExt
			case ch == '\r':
				c.state = chSizeLF
			default:
				return i, false, ErrBadChunk
			}
		case chExt:
			if ch == '\r' {
				c.state = chSizeLF
			} else if ch == '\n' {
				return i, false, ErrBadChunk
			}
		case chSizeLF:
			if ch != '\n' {
				return i, false, ErrBadChunk
			}
			c.size = 0
			if c.left == 0 {
				c.state = chTrailer
			} else {
				c.state = chData
			}
		case chData:
			n := int64(len(b) - i)
			if n > c.left {
				n = c.left
			}
			i += int(n)
			if c.left -= n; c.left == 0 {
				c.state = chDataCR
			}
			continue
		case chDataCR:
			if ch != '\r' {
				return i, false, ErrBadChunk
			}
			c.state = chDataLF
		case chDataLF:
			if ch != '\n' {
				return i, false, ErrBadChunk
			}
			c.state = chSize
		case chTrailer:
			if ch == '\r' {
				c.state = chFinalLF
			} else if ch == '\n' {
				return i, false, ErrBadChunk
			} else {
				c.state = chTrailerText
			}
		case chTrailerText:
			if ch == '\r' {
				c.state = chTrailerLF
			} else if ch == '\n' {
				return i, false, ErrBadChunk
			}
		case chTrailerLF:
			if ch != '\n' {
				return i, false, ErrBadChunk
			}
			c.state = chTrailer
		case chFinalLF:
			if ch != '\n' {
				return i, false, ErrBadChunk
			}
			c.state = chDone
			return i + 1, true, nil
		}
		i++
	}
	return i, c.state == chDone, nil
}

// Reset readies c for another body.
func (c *Chunked) Reset() { *c = Chunked{} }

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
