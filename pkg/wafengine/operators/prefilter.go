package operators

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"
)

// A literal prefilter: the strings of which every match of a pattern contains
// at least one, compared without ASCII case. Entering RE2 costs about a
// microsecond and most CRS patterns never match a benign value, so a value
// that contains none of them is answered "no match" without running the
// pattern. It is used only on ASCII values: there ASCII case folding is exactly
// the regexp's (?i) (the Kelvin sign and the long s fold to k and s, but are
// not ASCII), and a class's non-ASCII members cannot match. The analysis
// only ever gives up (no prefilter) when unsure, so the answer is the
// pattern's.
const (
	maxPrefilterLits  = 16 // a longer list costs more scans than RE2's entry
	minPrefilterScore = 2  // the shortest literal; single bytes filter little
)

// prefilter returns the literals (lower case) for pattern, nil when it has none
// worth checking.
func prefilter(pattern string) []string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	lits, ok := required(re.Simplify())
	if !ok || len(lits) == 0 || len(lits) > maxPrefilterLits || shortest(lits) < minPrefilterScore {
		return nil
	}
	return lits
}

// required returns a set of lower-case ASCII strings one of which every match
// of re on an ASCII input contains; ok is false when there is none.
func required(re *syntax.Regexp) (lits []string, ok bool) {
	switch re.Op {
	case syntax.OpLiteral:
		var b strings.Builder
		for _, r := range re.Rune {
			if r >= utf8.RuneSelf {
				return nil, false // (?i) may fold it to ASCII; give up
			}
			b.WriteByte(lower(byte(r)))
		}
		return []string{b.String()}, true
	case syntax.OpCharClass:
		var set []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], min(re.Rune[i+1], utf8.RuneSelf-1)
			for r := lo; r <= hi; r++ {
				if s := string(rune(lower(byte(r)))); !slices.Contains(set, s) {
					set = append(set, s)
				}
				if len(set) > maxPrefilterLits {
					return nil, false
				}
			}
		}
		return set, len(set) > 0
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min < 1 {
			return nil, false
		}
		return required(re.Sub[0])
	case syntax.OpConcat:
		// Any one factor's set will do; the one with the longest shortest
		// literal filters best. Adjacent literals are not joined: simpler,
		// and CRS's patterns have long enough single literals.
		var best []string
		found := false
		for _, s := range re.Sub {
			if l, ok := required(s); ok && len(l) <= maxPrefilterLits && (!found || better(l, best)) {
				best, found = l, true
			}
		}
		return best, found
	case syntax.OpAlternate:
		var set []string
		for _, s := range re.Sub {
			l, ok := required(s)
			if !ok {
				return nil, false
			}
			for _, x := range l {
				if !slices.Contains(set, x) {
					set = append(set, x)
				}
			}
			if len(set) > maxPrefilterLits {
				return nil, false
			}
		}
		return set, len(set) > 0
	default: // any char, anchors, empty match, star, quest, no match
		return nil, false
	}
}

// better reports whether a filters better than b: a longer shortest literal,
// then fewer literals.
func better(a, b []string) bool {
	sa, sb := shortest(a), shortest(b)
	if sa != sb {
		return sa > sb
	}
	return len(a) < len(b)
}

func shortest(lits []string) int {
	n := -1
	for _, l := range lits {
		if n < 0 || len(l) < n {
			n = len(l)
		}
	}
	return n
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// containsAnyFold reports whether ASCII s contains one of lits (lower case)
// without regard to ASCII case.
func containsAnyFold(s string, lits []string) bool {
	for _, l := range lits {
		if indexFold(s, l) {
			return true
		}
	}
	return false
}

func indexFold(s, lit string) bool {
	if len(lit) > len(s) {
		return false
	}
	c0 := lit[0]
	up := c0
	if 'a' <= c0 && c0 <= 'z' {
		up = c0 - ('a' - 'A')
	}
	for i := 0; i+len(lit) <= len(s); i++ {
		// skip to the next candidate first byte
		j := strings.IndexByte(s[i:len(s)-len(lit)+1], c0)
		if up != c0 {
			if k := strings.IndexByte(s[i:len(s)-len(lit)+1], up); k >= 0 && (j < 0 || k < j) {
				j = k
			}
		}
		if j < 0 {
			return false
		}
		i += j
		if equalFoldTail(s[i+1:i+len(lit)], lit[1:]) {
			return true
		}
	}
	return false
}

func equalFoldTail(s, lit string) bool {
	for i := 0; i < len(lit); i++ {
		if lower(s[i]) != lit[i] {
			return false
		}
	}
	return true
}

// isASCII reports whether s has only ASCII bytes.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
