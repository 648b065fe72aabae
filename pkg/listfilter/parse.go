// Package listfilter is the one filter language and page-token scheme of
// every List RPC (issue 15): a subset of AIP-160 filters
// (https://google.aip.dev/160) and AIP-158 pagination.
//
// Filter syntax:
//
//	name = "shop"                      equal (strings, numbers, booleans, times)
//	name != "shop"                     not equal
//	domains:"shop.example.com"         has: a repeated field holds the value
//	domains:"*.example.com"            has, with * wildcards (suffix, prefix, contains)
//	name:"sho"                         contains, on a string field
//	labels.env = "prod"                a map field's value; labels:"env" has the key
//	updated_at > "2026-01-01T00:00:00Z" <, >, <=, >= on numbers and times (RFC 3339)
//	a AND b, a OR b, NOT a, -a, (a)    precedence: NOT, then AND, then OR
//
// Juxtaposed terms (a b) are ANDed as in AIP-160. Values are string literals
// ("..." with \" and \\ escapes) or bare words (numbers, true, false, names
// without spaces or operators). Every error names the position (1-based
// character) where it was found.
//
// A service declares its fields with a Schema (name -> typed accessor); a
// field not in the schema is refused naming it.
package listfilter

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxFilterLen bounds a filter's length in bytes.
const MaxFilterLen = 4096

// maxDepth bounds nesting (parentheses and NOT) so a hostile filter cannot
// exhaust the stack.
const maxDepth = 64

// Op is a comparison operator.
type Op string

// The comparison operators.
const (
	OpEq  Op = "="
	OpNe  Op = "!="
	OpHas Op = ":"
	OpLt  Op = "<"
	OpGt  Op = ">"
	OpLe  Op = "<="
	OpGe  Op = ">="
)

// Expr is a parsed filter: *And, *Or, *Not or *Cmp.
type Expr interface{ isExpr() }

// And holds when both sides do.
type And struct{ L, R Expr }

// Or holds when either side does.
type Or struct{ L, R Expr }

// Not holds when X does not.
type Not struct{ X Expr }

// Cmp is one comparison: Field Op Value. Field is the dotted path
// ("labels.env"); Pos is the 1-based position of the field.
type Cmp struct {
	Field string
	Op    Op
	Value string
	// Quoted reports a string literal (a bare word otherwise).
	Quoted bool
	Pos    int
}

func (*And) isExpr() {}
func (*Or) isExpr()  {}
func (*Not) isExpr() {}
func (*Cmp) isExpr() {}

// Error is a filter the parser or a Schema refused.
type Error struct {
	Pos    int // 1-based character position; 0 when it concerns the whole filter
	Reason string
}

func (e *Error) Error() string {
	if e.Pos > 0 {
		return fmt.Sprintf("at position %d: %s", e.Pos, e.Reason)
	}
	return e.Reason
}

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tString
	tOp
	tLParen
	tRParen
	tMinus
)

type token struct {
	kind tokKind
	text string
	pos  int // 1-based character position
}

type lexer struct {
	src  string
	i    int // byte offset
	char int // characters before i
}

func (l *lexer) errf(pos int, format string, a ...any) error {
	return &Error{Pos: pos, Reason: fmt.Sprintf(format, a...)}
}

func isWordRune(r rune) bool {
	if unicode.IsSpace(r) {
		return false
	}
	switch r {
	case '(', ')', '=', '!', '<', '>', ':', '"':
		return false
	}
	return true
}

func (l *lexer) next() (token, error) {
	for l.i < len(l.src) {
		r, n := utf8.DecodeRuneInString(l.src[l.i:])
		if !unicode.IsSpace(r) {
			break
		}
		l.i += n
		l.char++
	}
	pos := l.char + 1
	if l.i >= len(l.src) {
		return token{kind: tEOF, pos: pos}, nil
	}
	r, n := utf8.DecodeRuneInString(l.src[l.i:])
	if r == utf8.RuneError && n == 1 {
		return token{}, l.errf(pos, "invalid UTF-8")
	}
	adv := func(bytes, chars int) { l.i += bytes; l.char += chars }
	switch r {
	case '(':
		adv(1, 1)
		return token{kind: tLParen, text: "(", pos: pos}, nil
	case ')':
		adv(1, 1)
		return token{kind: tRParen, text: ")", pos: pos}, nil
	case '=', ':':
		adv(1, 1)
		return token{kind: tOp, text: string(r), pos: pos}, nil
	case '!':
		if strings.HasPrefix(l.src[l.i:], "!=") {
			adv(2, 2)
			return token{kind: tOp, text: "!=", pos: pos}, nil
		}
		return token{}, l.errf(pos, `unexpected "!" (did you mean "!=" or NOT?)`)
	case '<', '>':
		if strings.HasPrefix(l.src[l.i+1:], "=") {
			adv(2, 2)
			return token{kind: tOp, text: string(r) + "=", pos: pos}, nil
		}
		adv(1, 1)
		return token{kind: tOp, text: string(r), pos: pos}, nil
	case '"':
		adv(1, 1)
		var b strings.Builder
		for {
			if l.i >= len(l.src) {
				return token{}, l.errf(pos, "unterminated string literal")
			}
			c, n := utf8.DecodeRuneInString(l.src[l.i:])
			if c == utf8.RuneError && n == 1 {
				return token{}, l.errf(l.char+1, "invalid UTF-8")
			}
			adv(n, 1)
			if c == '"' {
				return token{kind: tString, text: b.String(), pos: pos}, nil
			}
			if c == '\\' {
				if l.i >= len(l.src) {
					return token{}, l.errf(pos, "unterminated string literal")
				}
				e, n := utf8.DecodeRuneInString(l.src[l.i:])
				switch e {
				case '"':
					b.WriteRune(e)
				case '\\':
					b.WriteString(`\\`) // kept escaped: values are patterns (Pattern)
				case '*':
					// \* is a literal star, not a wildcard.
					b.WriteString(`\*`)
				default:
					return token{}, l.errf(l.char, `unknown escape "\%c" (only \" \\ \*)`, e)
				}
				adv(n, 1)
				continue
			}
			if c == '*' {
				b.WriteString("*")
				continue
			}
			b.WriteRune(c)
		}
	case '-':
		// A minus directly before a word or "(" is NOT; "-5" is a number.
		if l.i+1 < len(l.src) && (l.src[l.i+1] >= '0' && l.src[l.i+1] <= '9') {
			break
		}
		adv(1, 1)
		return token{kind: tMinus, text: "-", pos: pos}, nil
	}
	start, chars := l.i, 0
	for l.i < len(l.src) {
		c, n := utf8.DecodeRuneInString(l.src[l.i:])
		if c == utf8.RuneError && n == 1 {
			return token{}, l.errf(l.char+1, "invalid UTF-8")
		}
		if !isWordRune(c) {
			break
		}
		l.i += n
		l.char++
		chars++
	}
	if chars == 0 {
		return token{}, l.errf(pos, "unexpected %q", r)
	}
	return token{kind: tWord, text: l.src[start:l.i], pos: pos}, nil
}

type parser struct {
	toks  []token
	i     int
	depth int
}

// Parse parses a filter; the empty (or all-blank) filter is nil: no filter.
func Parse(filter string) (Expr, error) {
	if len(filter) > MaxFilterLen {
		return nil, &Error{Reason: fmt.Sprintf("longer than %d bytes", MaxFilterLen)}
	}
	l := &lexer{src: filter}
	var toks []token
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		if t.kind == tEOF {
			break
		}
	}
	if len(toks) == 1 {
		return nil, nil
	}
	p := &parser{toks: toks}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, &Error{Pos: t.pos, Reason: fmt.Sprintf("unexpected %q", t.text)}
	}
	return e, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) take() token { t := p.toks[p.i]; p.i++; return t }

func isKeyword(t token, kw string) bool { return t.kind == tWord && t.text == kw }

func (p *parser) or() (Expr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for isKeyword(p.peek(), "OR") {
		p.take()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &Or{L: l, R: r}
	}
	return l, nil
}

// startsTerm reports whether t can begin a term (implicit AND).
func startsTerm(t token) bool {
	switch t.kind {
	case tLParen, tMinus:
		return true
	case tWord:
		return t.text != "OR" && t.text != "AND"
	}
	return false
}

func (p *parser) and() (Expr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if isKeyword(t, "AND") {
			p.take()
		} else if !startsTerm(t) {
			return l, nil
		}
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &And{L: l, R: r}
	}
}

func (p *parser) unary() (Expr, error) {
	t := p.peek()
	if isKeyword(t, "NOT") || t.kind == tMinus {
		p.take()
		p.depth++
		if p.depth > maxDepth {
			return nil, &Error{Pos: t.pos, Reason: fmt.Sprintf("nested deeper than %d", maxDepth)}
		}
		x, err := p.unary()
		p.depth--
		if err != nil {
			return nil, err
		}
		return &Not{X: x}, nil
	}
	return p.primary()
}

func (p *parser) primary() (Expr, error) {
	t := p.take()
	switch t.kind {
	case tLParen:
		p.depth++
		if p.depth > maxDepth {
			return nil, &Error{Pos: t.pos, Reason: fmt.Sprintf("nested deeper than %d", maxDepth)}
		}
		e, err := p.or()
		p.depth--
		if err != nil {
			return nil, err
		}
		if c := p.take(); c.kind != tRParen {
			return nil, &Error{Pos: c.pos, Reason: fmt.Sprintf("expected \")\" to close \"(\" at position %d", t.pos)}
		}
		return e, nil
	case tWord:
		if t.text == "AND" || t.text == "OR" || t.text == "NOT" {
			return nil, &Error{Pos: t.pos, Reason: fmt.Sprintf("expected a field before %s", t.text)}
		}
		if err := checkField(t); err != nil {
			return nil, err
		}
		op := p.take()
		if op.kind != tOp {
			return nil, &Error{Pos: op.pos, Reason: fmt.Sprintf("expected an operator (= != : < > <= >=) after %q", t.text)}
		}
		v := p.take()
		if v.kind != tWord && v.kind != tString {
			return nil, &Error{Pos: v.pos, Reason: fmt.Sprintf("expected a value after %q", op.text)}
		}
		if v.kind == tWord && (v.text == "AND" || v.text == "OR" || v.text == "NOT") {
			return nil, &Error{Pos: v.pos, Reason: fmt.Sprintf("expected a value after %q, got %s", op.text, v.text)}
		}
		val := v.text
		if v.kind == tWord {
			val = strings.ReplaceAll(val, `\`, `\\`) // bare words have no escapes
		}
		return &Cmp{Field: t.text, Op: Op(op.text), Value: val, Quoted: v.kind == tString, Pos: t.pos}, nil
	case tEOF:
		return nil, &Error{Pos: t.pos, Reason: "unexpected end of filter"}
	}
	return nil, &Error{Pos: t.pos, Reason: fmt.Sprintf("unexpected %q", t.text)}
}

// checkField accepts dotted names of letters, digits, _ and -.
func checkField(t token) error {
	for i, part := range strings.Split(t.text, ".") {
		if part == "" {
			return &Error{Pos: t.pos, Reason: fmt.Sprintf("bad field name %q", t.text)}
		}
		for _, r := range part {
			if !(r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r)) || (i == 0 && r == '-') {
				return &Error{Pos: t.pos, Reason: fmt.Sprintf("bad field name %q", t.text)}
			}
		}
	}
	return nil
}
