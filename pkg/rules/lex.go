package rules

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokLParen
	tokRParen
	tokComma
	tokAnd
	tokOr
	tokNot
)

type token struct {
	kind tokKind
	off  int    // byte offset in the expression
	text string // source text
	val  string // decoded value of a string
}

// describe names a token for error messages.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokString:
		return "a string"
	}
	return strconv.Quote(t.text)
}

type lexer struct {
	src        string
	pos        int
	tokenBytes int // bytes of tokens so far, for MaxLength
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isIdentStart(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' }

func isIdentByte(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }

func (l *lexer) next() (token, *Error) {
	for l.pos < len(l.src) && isSpace(l.src[l.pos]) {
		l.pos++
	}
	start := l.pos
	if start == len(l.src) {
		return token{kind: tokEOF, off: start}, nil
	}
	tok := token{off: start}
	switch c := l.src[start]; {
	case c == '(':
		tok.kind, l.pos = tokLParen, start+1
	case c == ')':
		tok.kind, l.pos = tokRParen, start+1
	case c == ',':
		tok.kind, l.pos = tokComma, start+1
	case c == '!':
		tok.kind, l.pos = tokNot, start+1
	case c == '&' || c == '|':
		if start+1 == len(l.src) || l.src[start+1] != c {
			return tok, &Error{start, fmt.Sprintf("unexpected %q; use %q", c, strings.Repeat(string(c), 2))}
		}
		tok.kind, l.pos = tokAnd, start+2
		if c == '|' {
			tok.kind = tokOr
		}
	case c == '"':
		val, end, err := scanQuoted(l.src, start)
		if err != nil {
			return tok, err
		}
		tok.kind, tok.val, l.pos = tokString, val, end
	case c == '`':
		n := strings.IndexByte(l.src[start+1:], '`')
		if n < 0 {
			return tok, &Error{start, "unterminated string: missing closing `"}
		}
		tok.kind, tok.val, l.pos = tokString, l.src[start+1:start+1+n], start+n+2
	case isIdentStart(c):
		l.pos = start + 1
		for l.pos < len(l.src) && isIdentByte(l.src[l.pos]) {
			l.pos++
		}
		tok.kind = tokIdent
	default:
		r, _ := utf8.DecodeRuneInString(l.src[start:])
		return tok, &Error{start, fmt.Sprintf("unexpected character %q", r)}
	}
	tok.text = l.src[start:l.pos]
	l.tokenBytes += len(tok.text)
	if l.tokenBytes > MaxLength {
		return tok, &Error{start, fmt.Sprintf("expression too long: more than %d bytes (whitespace between tokens not counted)", MaxLength)}
	}
	return tok, nil
}

// scanQuoted decodes the double-quoted string starting at src[start] (Go
// escapes) and returns its value and the offset just past the closing quote.
func scanQuoted(src string, start int) (string, int, *Error) {
	s := src[start+1:]
	if end := strings.IndexAny(s, "\"\\\n"); end >= 0 && s[end] == '"' {
		return s[:end], start + end + 2, nil // common case: nothing to unescape
	}
	var buf []byte
	for {
		off := len(src) - len(s)
		switch {
		case s == "" || s[0] == '\n':
			return "", 0, &Error{start, `unterminated string: missing closing "`}
		case s[0] == '"':
			return string(buf), off + 1, nil
		}
		v, multibyte, tail, err := strconv.UnquoteChar(s, '"')
		if err != nil {
			return "", 0, &Error{off, fmt.Sprintf("invalid escape sequence %q in string", escapeAt(s))}
		}
		if v < utf8.RuneSelf || !multibyte {
			buf = append(buf, byte(v))
		} else {
			buf = utf8.AppendRune(buf, v)
		}
		s = tail
	}
}

// escapeAt returns the escape sequence at the start of s, for error messages.
func escapeAt(s string) string {
	n := 2
	if len(s) > 1 {
		switch s[1] {
		case 'x':
			n = 4
		case 'u':
			n = 6
		case 'U':
			n = 10
		case '0', '1', '2', '3', '4', '5', '6', '7':
			n = 4
		}
	}
	n = min(n, len(s))
	for n > 0 && !utf8.ValidString(s[:n]) {
		n--
	}
	return s[:n]
}
