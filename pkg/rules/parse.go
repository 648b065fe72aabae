package rules

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

type op int

const (
	opCall op = iota
	opNot
	opAnd
	opOr
)

type node struct {
	op   op
	kids []*node // opNot: one; opAnd, opOr: two or more, never of the same op

	// opCall
	fn   string
	args []string // canonical
	cond condition
}

type parser struct {
	lex   lexer
	tok   token
	depth int
	calls int
}

func (p *parser) advance() *Error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// parse parses a whole non-empty expression.
func (p *parser) parse() (*node, *Error) {
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	switch p.tok.kind {
	case tokEOF:
		return n, nil
	case tokIdent, tokNot, tokLParen:
		return nil, &Error{p.tok.off, fmt.Sprintf(`expected "&&" or "||" before %s`, p.tok.describe())}
	}
	return nil, &Error{p.tok.off, fmt.Sprintf("unexpected %s after a complete condition", p.tok.describe())}
}

func (p *parser) parseOr() (*node, *Error) {
	return p.parseList(opOr, tokOr, p.parseAnd)
}

func (p *parser) parseAnd() (*node, *Error) {
	return p.parseList(opAnd, tokAnd, p.parseUnary)
}

// parseList parses operand (sep operand)* into one flat node of kind o.
func (p *parser) parseList(o op, sep tokKind, operand func() (*node, *Error)) (*node, *Error) {
	first, err := operand()
	if err != nil || p.tok.kind != sep {
		return first, err
	}
	n := &node{op: o}
	n.add(first)
	for p.tok.kind == sep {
		if err := p.advance(); err != nil {
			return nil, err
		}
		k, err := operand()
		if err != nil {
			return nil, err
		}
		n.add(k)
	}
	return n, nil
}

// add appends k to n's operands, flattening "a && (b && c)" to "a && b && c".
func (n *node) add(k *node) {
	if k.op == n.op {
		n.kids = append(n.kids, k.kids...)
	} else {
		n.kids = append(n.kids, k)
	}
}

func (p *parser) parseUnary() (*node, *Error) {
	switch p.tok.kind {
	case tokNot, tokLParen:
		open := p.tok
		if p.depth++; p.depth > MaxDepth {
			return nil, &Error{open.off, fmt.Sprintf("nesting deeper than %d levels of \"!\" and \"(\"", MaxDepth)}
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		var n *node
		var err *Error
		if open.kind == tokNot {
			n, err = p.parseUnary()
			if err != nil {
				return nil, err
			}
			n = &node{op: opNot, kids: []*node{n}}
		} else {
			n, err = p.parseOr()
			if err != nil {
				return nil, err
			}
			if p.tok.kind != tokRParen {
				return nil, &Error{p.tok.off, fmt.Sprintf(`expected ")" to close "(" from column %d, found %s`, open.off+1, p.tok.describe())}
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
		}
		p.depth--
		return n, nil
	case tokIdent:
		return p.parseCall()
	}
	return nil, &Error{p.tok.off, fmt.Sprintf(`expected a condition like Host(...), "!" or "(", found %s`, p.tok.describe())}
}

func (p *parser) parseCall() (*node, *Error) {
	name := p.tok
	spec, ok := funcs[name.text]
	if !ok {
		return nil, &Error{name.off, unknownFunction(name.text)}
	}
	if p.calls++; p.calls > MaxCalls {
		return nil, &Error{name.off, fmt.Sprintf("more than %d function calls", MaxCalls)}
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind != tokLParen {
		return nil, &Error{p.tok.off, fmt.Sprintf(`expected "(" after %s, found %s`, name.text, p.tok.describe())}
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	var args []arg
	for p.tok.kind != tokRParen {
		if p.tok.kind != tokString {
			return nil, &Error{p.tok.off, fmt.Sprintf("%s: expected a quoted argument (\"...\" or `...`), found %s", name.text, p.tok.describe())}
		}
		if err := checkArg(name.text, p.tok); err != nil {
			return nil, err
		}
		args = append(args, arg{p.tok.val, p.tok.off})
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind == tokComma {
			if err := p.advance(); err != nil {
				return nil, err
			}
			if p.tok.kind == tokRParen {
				return nil, &Error{p.tok.off, fmt.Sprintf(`%s: expected an argument after ",", found ")"`, name.text)}
			}
			continue
		}
		if p.tok.kind != tokRParen {
			return nil, &Error{p.tok.off, fmt.Sprintf(`%s: expected "," or ")" after an argument, found %s`, name.text, p.tok.describe())}
		}
	}
	if spec.maxArgs >= 0 && len(args) > spec.maxArgs {
		return nil, &Error{args[spec.maxArgs].off, fmt.Sprintf("%s: %s, got %d", name.text, argCount(spec), len(args))}
	}
	if len(args) < spec.minArgs {
		return nil, &Error{p.tok.off, fmt.Sprintf("%s: %s, got %d", name.text, argCount(spec), len(args))}
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	cond, canon, err := spec.build(name.text, args)
	if err != nil {
		return nil, err
	}
	return &node{op: opCall, fn: name.text, args: canon, cond: cond}, nil
}

// checkArg rejects argument values no condition can use; keeping arguments
// valid UTF-8 without control characters also keeps String() re-parsable.
func checkArg(fn string, t token) *Error {
	if !utf8.ValidString(t.val) {
		return &Error{t.off, fmt.Sprintf("%s: argument is not valid UTF-8", fn)}
	}
	for _, r := range t.val {
		if r < 0x20 || r == 0x7f {
			return &Error{t.off, fmt.Sprintf("%s: argument contains control character %U (in a regexp, write \\t, \\n or \\x..)", fn, r)}
		}
	}
	return nil
}

func argCount(s funcSpec) string {
	plural := func(n int) string {
		if n == 1 {
			return "1 argument"
		}
		return fmt.Sprintf("%d arguments", n)
	}
	switch {
	case s.maxArgs < 0:
		return "needs at least " + plural(s.minArgs)
	case s.minArgs == s.maxArgs:
		return "takes " + plural(s.minArgs)
	}
	return fmt.Sprintf("takes %d or %s", s.minArgs, plural(s.maxArgs))
}

func unknownFunction(name string) string {
	if best := suggest(name); best != "" {
		return fmt.Sprintf("unknown function %q; did you mean %s?", name, best)
	}
	return fmt.Sprintf("unknown function %q (known: %s)", name, strings.Join(funcNames, ", "))
}

// suggest returns the known function closest to name, if close enough.
func suggest(name string) string {
	if name == "HostHeader" { // Traefik v2
		return "Host"
	}
	best, bestDist := "", 3
	for _, f := range funcNames {
		d := editDistance(strings.ToLower(name), strings.ToLower(f))
		if d < bestDist && d < len(name) {
			best, bestDist = f, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
