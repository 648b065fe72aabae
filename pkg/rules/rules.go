// Package rules implements the condition language of page rules, modelled on
// Traefik v3 router rules:
//
//	Host(`example.com`, `*.example.com`) && PathPrefix(`/api/`) && !Method(`OPTIONS`)
//
// Compile parses and validates an expression once (regexps, CIDRs and
// wildcards are precompiled); Matcher.Match then evaluates it against a small
// request view without allocating, so the net/http and the fasthttp paths of
// the proxy share it. See README.md for the syntax, functions and limits.
package rules

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// Limits on expressions; errors name the one exceeded.
const (
	// MaxLength bounds the bytes of tokens in an expression. Whitespace
	// between tokens is not counted, so String() (which may add spaces)
	// always fits when the source did.
	MaxLength = 4096
	// MaxSourceLength bounds the whole source, whitespace included.
	MaxSourceLength = 4 * MaxLength
	// MaxDepth bounds nesting of "!" and "(".
	MaxDepth = 32
	// MaxCalls bounds the number of function calls.
	MaxCalls = 256
)

// Error is a compile error at a byte offset of the expression.
type Error struct {
	Offset int    // byte offset of the offending token, 0-based
	Msg    string // what is wrong, starting with the function name when in a call
}

// Error reads like `column 17: PathRegexp: invalid regexp "(": missing closing )`
// (columns count bytes from 1; a newline counts as one byte).
func (e *Error) Error() string {
	return fmt.Sprintf("column %d: %s", e.Offset+1, e.Msg)
}

// Request is the view of an HTTP request that conditions read. Implementations
// should not allocate, so that Match does not.
type Request interface {
	Method() string
	Host() string // lower-case, without port (IPv6 without brackets)
	Path() string
	Header(name string) (string, bool) // first value; name case-insensitive
	Cookie(name string) (string, bool)
	Query(name string) (string, bool) // first value
	ClientIP() netip.Addr
	Scheme() string // "http" or "https": how the client reached the node
	Port() uint32   // the listener's port as apps name it (http_ports, https_ports)
}

// Matcher is a compiled expression. It is immutable and safe for concurrent use.
type Matcher struct {
	root *node // nil: the empty expression, which matches everything
}

// Compile parses and validates expr. The error is an *Error.
func Compile(expr string) (*Matcher, error) {
	m, err := compile(expr)
	if err != nil {
		return nil, err // a non-nil *Error, never a typed nil in an interface
	}
	return m, nil
}

func compile(expr string) (*Matcher, *Error) {
	if len(expr) > MaxSourceLength {
		return nil, &Error{MaxSourceLength, fmt.Sprintf("expression too long: more than %d bytes", MaxSourceLength)}
	}
	for i := 0; i < len(expr); {
		r, size := utf8.DecodeRuneInString(expr[i:])
		if r == utf8.RuneError && size == 1 {
			return nil, &Error{i, "expression is not valid UTF-8"}
		}
		i += size
	}
	p := &parser{lex: lexer{src: expr}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokEOF {
		return &Matcher{}, nil
	}
	root, err := p.parse()
	if err != nil {
		return nil, err
	}
	return &Matcher{root: root}, nil
}

// Validate reports whether expr compiles, with the same error as Compile.
func Validate(expr string) error {
	_, err := Compile(expr)
	return err
}

// Match reports whether r satisfies the expression. It does not allocate
// (beyond what r's methods do).
func (m *Matcher) Match(r Request) bool {
	return m.root == nil || m.root.match(r)
}

func (n *node) match(r Request) bool {
	switch n.op {
	case opCall:
		return n.cond.match(r)
	case opNot:
		return !n.kids[0].match(r)
	case opAnd:
		for _, k := range n.kids {
			if !k.match(r) {
				return false
			}
		}
		return true
	default: // opOr
		for _, k := range n.kids {
			if k.match(r) {
				return true
			}
		}
		return false
	}
}

// String returns the canonical form: one space around "&&" and "||", after
// ",", parentheses only where needed, chained operators flattened, arguments
// normalized (host names lower-case, methods upper-case, header names
// canonical, CIDRs masked) and quoted with backquotes unless they contain one.
// It compiles to a Matcher with the same String().
func (m *Matcher) String() string {
	if m.root == nil {
		return ""
	}
	var b strings.Builder
	m.root.write(&b, precOr)
	return b.String()
}

// Precedence, loosest first.
const (
	precOr = iota
	precAnd
	precUnary
)

func (n *node) write(b *strings.Builder, outer int) {
	switch n.op {
	case opCall:
		b.WriteString(n.fn)
		b.WriteByte('(')
		for i, a := range n.args {
			if i > 0 {
				b.WriteString(", ")
			}
			writeQuoted(b, a)
		}
		b.WriteByte(')')
	case opNot:
		b.WriteByte('!')
		n.kids[0].write(b, precUnary)
	default:
		prec, sep := precOr, " || "
		if n.op == opAnd {
			prec, sep = precAnd, " && "
		}
		if outer > prec {
			b.WriteByte('(')
		}
		for i, k := range n.kids {
			if i > 0 {
				b.WriteString(sep)
			}
			k.write(b, prec+1)
		}
		if outer > prec {
			b.WriteByte(')')
		}
	}
}

// writeQuoted writes s as `s`, or as "s" (escaping only " and \) when it
// contains a backquote. Arguments never hold control characters or invalid
// UTF-8 (checkArg), so either form is exact and no longer than the source.
func writeQuoted(b *strings.Builder, s string) {
	if !strings.Contains(s, "`") {
		b.WriteByte('`')
		b.WriteString(s)
		b.WriteByte('`')
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}
