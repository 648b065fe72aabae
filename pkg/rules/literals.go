package rules

import (
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Literal prefilter: for each regexp a set of strings one of which every
// match contains, so that a request field none of them occurs in needs no
// regexp run at all. The strings are ASCII lower-cased and the field is
// read ASCII-case-insensitively (foldAC), which can only add hits (a
// prefilter may say "maybe" wrongly, never "no" wrongly).

const (
	maxRequiredLiterals = 32 // more alternatives than this: no prefilter
	minRequiredLiteral  = 2  // shorter literals would hit nearly every field
)

// requiredLiterals returns strings such that every match of re contains
// (after ASCII lower-casing) one of them, or ok false when it knows none.
func requiredLiterals(re *syntax.Regexp) (lits []string, ok bool) {
	lits, ok = required(re)
	if !ok || len(lits) == 0 {
		return nil, false
	}
	for _, l := range lits {
		if len(l) < minRequiredLiteral {
			return nil, false
		}
	}
	return lits, true
}

func required(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		s := longestSafeRun(re.Rune, re.Flags&syntax.FoldCase != 0)
		if s == "" {
			return nil, false
		}
		return []string{s}, true
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
	case syntax.OpConcat:
		var best []string
		for _, sub := range re.Sub {
			if l, ok := required(sub); ok && better(l, best) {
				best = l
			}
		}
		return best, best != nil
	case syntax.OpAlternate:
		var all []string
		for _, sub := range re.Sub {
			l, ok := required(sub)
			if !ok {
				return nil, false
			}
			all = append(all, l...)
		}
		slices.Sort(all)
		all = slices.Compact(all)
		return all, len(all) <= maxRequiredLiterals
	}
	return nil, false
}

// anchoredPrefix returns bytes, ASCII lower-cased, every field re matches
// begins with (re starts with \A, or ^ outside (?m), and a literal), or "".
// Matched against the field's first bytes it narrows as much as a long
// literal, however short it is: `^7\.` leaves only fields starting "7.".
func anchoredPrefix(re *syntax.Regexp) string {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	if re.Op != syntax.OpConcat || len(re.Sub) < 2 || re.Sub[0].Op != syntax.OpBeginText {
		return ""
	}
	lit := re.Sub[1]
	for lit.Op == syntax.OpCapture {
		lit = lit.Sub[0]
	}
	if lit.Op != syntax.OpLiteral {
		return ""
	}
	fold := lit.Flags&syntax.FoldCase != 0
	var b strings.Builder
	for _, r := range lit.Rune { // the safe runes from the start, as longestSafeRun
		if r == utf8.RuneError || fold && !asciiFold(r) {
			break
		}
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// better prefers the set whose shortest literal is longest, then the smaller
// set: long literals hit less often.
func better(a, b []string) bool {
	if b == nil {
		return true
	}
	ma, mb := shortest(a), shortest(b)
	return ma > mb || ma == mb && len(a) < len(b)
}

func shortest(l []string) int {
	n := len(l[0])
	for _, s := range l[1:] {
		n = min(n, len(s))
	}
	return n
}

// longestSafeRun returns the longest run of runes whose bytes, lower-cased,
// must appear in a field the literal matches. U+FFFD is unsafe (Go's regexp
// matches it against any invalid byte); under case folding so is every rune
// whose fold orbit leaves ASCII (k matches U+212A KELVIN SIGN, s U+017F).
func longestSafeRun(runes []rune, fold bool) string {
	var best, cur strings.Builder
	flush := func() {
		if cur.Len() > best.Len() {
			best.Reset()
			best.WriteString(cur.String())
		}
		cur.Reset()
	}
	for _, r := range runes {
		if r == utf8.RuneError || fold && !asciiFold(r) {
			flush()
			continue
		}
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		cur.WriteRune(r)
	}
	flush()
	return best.String()
}

// asciiFold reports whether r and everything it case-folds to are ASCII.
func asciiFold(r rune) bool {
	if r >= utf8.RuneSelf {
		return false
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// re2Pattern prints re for RE2 with Go's case folding spelled out as
// character classes, so both engines read one meaning: folding (k, s,
// Unicode versions) is Go's, not RE2's. It prints itself rather than with
// syntax.Regexp.String, which walks every rune of large classes.
func re2Pattern(re *syntax.Regexp) string {
	var b strings.Builder
	writeRE2(&b, re)
	return b.String()
}

func writeRE2(b *strings.Builder, re *syntax.Regexp) {
	switch re.Op {
	case syntax.OpNoMatch:
		b.WriteString(`[^\x00-\x{10FFFF}]`)
	case syntax.OpEmptyMatch:
		b.WriteString(`(?:)`)
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 {
				writeClass(b, foldOrbit(r))
			} else {
				writeRune(b, r)
			}
		}
	case syntax.OpCharClass:
		writeClass(b, re.Rune)
	case syntax.OpAnyCharNotNL:
		b.WriteString(`[^\n]`)
	case syntax.OpAnyChar:
		b.WriteString(`(?s:.)`)
	case syntax.OpBeginLine:
		b.WriteString(`(?m:^)`)
	case syntax.OpEndLine:
		b.WriteString(`(?m:$)`)
	case syntax.OpBeginText:
		b.WriteString(`\A`)
	case syntax.OpEndText:
		b.WriteString(`\z`)
	case syntax.OpWordBoundary:
		b.WriteString(`\b`)
	case syntax.OpNoWordBoundary:
		b.WriteString(`\B`)
	case syntax.OpCapture:
		writeGroup(b, re.Sub[0])
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		writeGroup(b, re.Sub[0])
		switch re.Op {
		case syntax.OpStar:
			b.WriteByte('*')
		case syntax.OpPlus:
			b.WriteByte('+')
		case syntax.OpQuest:
			b.WriteByte('?')
		default:
			b.WriteString("{" + strconv.Itoa(re.Min) + ",")
			if re.Max >= 0 {
				b.WriteString(strconv.Itoa(re.Max))
			}
			b.WriteByte('}')
		}
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			writeGroup(b, sub)
		}
	case syntax.OpAlternate:
		for i, sub := range re.Sub {
			if i > 0 {
				b.WriteByte('|')
			}
			writeGroup(b, sub)
		}
	}
}

func writeGroup(b *strings.Builder, re *syntax.Regexp) {
	b.WriteString("(?:")
	writeRE2(b, re)
	b.WriteByte(')')
}

// writeRune writes r as itself when it is an ASCII letter or digit, else
// as \x{...}, which RE2 reads the same in and out of classes.
func writeRune(b *strings.Builder, r rune) {
	if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
		b.WriteRune(r)
		return
	}
	b.WriteString(`\x{` + strconv.FormatInt(int64(r), 16) + "}")
}

// writeClass writes pairs of rune ranges as a class; no ranges never match.
func writeClass(b *strings.Builder, ranges []rune) {
	if len(ranges) == 0 {
		b.WriteString(`[^\x00-\x{10FFFF}]`)
		return
	}
	b.WriteByte('[')
	for i := 0; i+1 < len(ranges); i += 2 {
		writeRune(b, ranges[i])
		if ranges[i+1] != ranges[i] {
			b.WriteByte('-')
			writeRune(b, ranges[i+1])
		}
	}
	b.WriteByte(']')
}

// foldOrbit is the class of runes a FoldCase literal rune matches in Go.
func foldOrbit(r rune) []rune {
	out := []rune{r, r}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		out = append(out, f, f)
	}
	return out
}
