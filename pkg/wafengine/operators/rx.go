package operators

import (
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	re2 "github.com/wasilibs/go-re2"
	"rsc.io/binaryregexp"
)

// Entering RE2 costs about a microsecond, which its DFA wins back at once on CRS's big
// alternations but not on small patterns over short input (BenchmarkRX): a pattern of
// more than complexInsts instructions always runs on RE2, a smaller one from
// re2MinLen bytes of input.
const (
	complexInsts = 64
	re2MinLen    = 16
)

// rx is Coraza's @rx: the pattern runs in (?sm) mode (Coraza v3's default, kept for
// ModSecurity compatibility), the capture groups are stored when the rule
// captures (Coraza stores groups 0-8). Both compiled forms give the same answer on valid UTF-8; RE2 stops at
// invalid UTF-8 where Go's regexp reads U+FFFD, so such input always goes to Go's regexp.
type rx struct {
	std    *regexp.Regexp
	fast   *re2.Regexp // nil when RE2 rejects the pattern: Go's regexp alone then
	minLen int         // no input shorter than this can match
	re2At  int         // inputs from this length run on RE2
	lits   []string    // an ASCII input matching contains one of these (prefilter.go); nil: none
}

type rxCompiled struct {
	std    *regexp.Regexp
	fast   *re2.Regexp
	minLen int
	re2At  int
	lits   []string
}

func newRX(options plugintypes.OperatorOptions) (plugintypes.Operator, error) {
	data := "(?sm)" + options.Arguments
	if matchesArbitraryBytes(data) {
		return newBinaryRX(options)
	}
	c, err := memoize(options.Memoizer, "strata-rx:"+data, func() (any, error) {
		std, err := regexp.Compile(data)
		if err != nil {
			return nil, err
		}
		c := &rxCompiled{std: std, minLen: minMatchLength(data), re2At: re2MinLen, lits: prefilter(data)}
		if progLen(data) > complexInsts {
			c.re2At = 0
		}
		// RE2 and Go's regexp read the same syntax; a pattern RE2 refuses (none in CRS)
		// simply keeps Go's regexp.
		if fast, err := re2.Compile(data); err == nil {
			c.fast = fast
		}
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	cc := c.(*rxCompiled)
	return &rx{std: cc.std, fast: cc.fast, minLen: cc.minLen, re2At: cc.re2At, lits: cc.lits}, nil
}

func (o *rx) Evaluate(tx plugintypes.TransactionState, value string) bool {
	if len(value) < o.minLen {
		return false
	}
	if o.lits != nil && isASCII(value) && !containsAnyFold(value, o.lits) {
		return false
	}
	useRE2 := o.fast != nil && len(value) >= o.re2At && utf8.ValidString(value)
	var matched bool
	if useRE2 {
		matched = o.fast.MatchString(value)
	} else {
		matched = o.std.MatchString(value)
	}
	// Most inputs do not match: the capture groups, costly to track, are found only
	// for those that do.
	if !matched || !tx.Capturing() {
		return matched
	}
	var match []int
	if useRE2 {
		match = o.fast.FindStringSubmatchIndex(value)
	} else {
		match = o.std.FindStringSubmatchIndex(value)
	}
	if match == nil {
		return false
	}
	for i := 0; i < len(match)/2 && i < 9; i++ { // Coraza stores groups 0-8
		if match[2*i] >= 0 {
			tx.CaptureField(i, value[match[2*i]:match[2*i+1]])
		} else {
			tx.CaptureField(i, "")
		}
	}
	return true
}

// binaryRX is @rx for patterns that match bytes outside UTF-8 (e.g. \xff): Coraza runs
// those on rsc.io/binaryregexp without the (?sm) flags, and so does this.
type binaryRX struct {
	re *binaryregexp.Regexp
}

func newBinaryRX(options plugintypes.OperatorOptions) (plugintypes.Operator, error) {
	re, err := memoize(options.Memoizer, "strata-binrx:"+options.Arguments, func() (any, error) {
		return binaryregexp.Compile(options.Arguments)
	})
	if err != nil {
		return nil, err
	}
	return &binaryRX{re: re.(*binaryregexp.Regexp)}, nil
}

func (o *binaryRX) Evaluate(tx plugintypes.TransactionState, value string) bool {
	if !tx.Capturing() {
		return o.re.MatchString(value)
	}
	match := o.re.FindStringSubmatch(value)
	if len(match) == 0 {
		return false
	}
	for i, c := range match {
		if i == 9 { // Coraza stores groups 0-8
			break
		}
		tx.CaptureField(i, c)
	}
	return true
}

func memoize(m plugintypes.Memoizer, key string, fn func() (any, error)) (any, error) {
	if m != nil {
		return m.Do(key, fn)
	}
	return fn()
}

// progLen is the size of pattern's compiled program, a measure of its matching cost.
func progLen(pattern string) int {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 0
	}
	p, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0
	}
	return len(p.Inst)
}

// minMatchLength is the fewest bytes any match of pattern spans (0 when unknown).
func minMatchLength(pattern string) int {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 0
	}
	return minLen(re.Simplify())
}

func minLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 {
				n += minFoldLen(r)
			} else {
				n += utf8.RuneLen(r)
			}
		}
		return n
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return 0
		}
		n := utf8.RuneLen(re.Rune[0])
		for i := 0; i < len(re.Rune); i += 2 {
			if l := utf8.RuneLen(re.Rune[i]); l > 0 && l < n {
				n = l
			}
		}
		if n < 1 {
			n = 1
		}
		return n
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minLen(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min * minLen(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n += minLen(s)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, s := range re.Sub {
			if l := minLen(s); n < 0 || l < n {
				n = l
			}
		}
		if n < 0 {
			return 0
		}
		return n
	default: // empty match, anchors, star, quest, no match
		return 0
	}
}

// minFoldLen is the shortest UTF-8 length among r's case-fold variants (K and the
// Kelvin sign differ in length).
func minFoldLen(r rune) int {
	n := utf8.RuneLen(r)
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if l := utf8.RuneLen(f); l < n {
			n = l
		}
	}
	if n < 1 {
		n = 1
	}
	return n
}

// matchesArbitraryBytes tells whether the pattern's \xNN escapes spell bytes that are
// not UTF-8: Coraza sends those patterns to the binary matcher, and so must we.
func matchesArbitraryBytes(expr string) bool {
	decoded := make([]byte, 0, len(expr))
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		if c != '\\' {
			decoded = append(decoded, c)
			continue
		}
		if i+3 >= len(expr) {
			decoded = append(decoded, expr[i:]...)
			break
		}
		if expr[i+1] != 'x' {
			decoded = append(decoded, expr[i])
			continue
		}
		sub := expr[i:]
		advance := 3
		if len(sub) >= 6 && sub[2] == '{' {
			if end := strings.IndexByte(sub, '}'); end != -1 {
				sub = `\x` + sub[3:end]
				advance = end
			}
		}
		v, mb, _, err := strconv.UnquoteChar(sub, 0)
		if err != nil || mb {
			decoded = append(decoded, expr[i])
			continue
		}
		decoded = append(decoded, byte(v))
		i += advance
	}
	return !utf8.Valid(decoded)
}
