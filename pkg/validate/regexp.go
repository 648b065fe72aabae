package validate

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
)

// Bounds of every regexp Strata accepts (rules, rewrites, purges): RE2 keeps
// matching linear in the input, these keep the constant and memory small on
// every node.
const (
	// MaxRegexpLength bounds the pattern, in bytes.
	MaxRegexpLength = 1024
	// MaxRegexpInstructions bounds the compiled program.
	MaxRegexpInstructions = 5000
)

// Regexp compiles pattern as an RE2 regexp (Go syntax) within
// MaxRegexpLength and MaxRegexpInstructions. The error says why without a
// prefix: "regexp is 1025 bytes long, more than 1024", `invalid regexp "(":
// missing closing )`, "regexp too large (more than 5000 instructions)".
func Regexp(pattern string) (*regexp.Regexp, error) {
	if len(pattern) > MaxRegexpLength {
		return nil, fmt.Errorf("regexp is %d bytes long, more than %d", len(pattern), MaxRegexpLength)
	}
	parsed, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, invalidRegexp(pattern, err)
	}
	tooLarge := fmt.Errorf("regexp too large (more than %d instructions)", MaxRegexpInstructions)
	// Repeats make programs up to ~100x the source; estimate first so that a
	// huge program is never built.
	if estimateSize(parsed, 4*MaxRegexpInstructions) > 4*MaxRegexpInstructions {
		return nil, tooLarge
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return nil, invalidRegexp(pattern, err)
	}
	if len(prog.Inst) > MaxRegexpInstructions {
		return nil, tooLarge
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, invalidRegexp(pattern, err)
	}
	return re, nil
}

// invalidRegexp words a syntax error without repeating the pattern twice.
func invalidRegexp(pattern string, err error) error {
	msg := err.Error()
	var se *syntax.Error
	if errors.As(err, &se) {
		msg = se.Code.String()
		if se.Expr != "" && se.Expr != pattern {
			msg += fmt.Sprintf(" at %q", se.Expr)
		}
	}
	return fmt.Errorf("invalid regexp %q: %s", pattern, msg)
}

// estimateSize approximates the number of instructions re compiles to,
// saturating just above limit.
func estimateSize(re *syntax.Regexp, limit int) int {
	sub := func(i int) int { return estimateSize(re.Sub[i], limit) }
	n := 1
	switch re.Op {
	case syntax.OpLiteral:
		n = len(re.Rune)
	case syntax.OpCapture, syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		n = 2 + sub(0)
	case syntax.OpConcat, syntax.OpAlternate:
		n = len(re.Sub)
		for i := range re.Sub {
			n += sub(i)
			if n > limit {
				break
			}
		}
	case syntax.OpRepeat:
		count := re.Max
		if count < 0 {
			count = re.Min + 1
		}
		n = 1 + min(count, limit+1)*sub(0) // both factors are bounded, no overflow
	}
	return min(n, limit+1)
}
