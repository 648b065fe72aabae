package operators

import (
	"regexp"
	"testing"

	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
)

// FuzzPrefilter: whenever a pattern matches an ASCII input, the input contains
// one of the pattern's prefilter literals (the prefilter never drops a match).
func FuzzPrefilter(f *testing.F) {
	for _, c := range [][2]string{
		{`(?i)union\s+select`, "1 UNION  select"}, {`(?i)k(?:ey|ick)`, "KICK"}, {`<(?:script|img)\b`, "<img src"},
		{`a+b{2,}|x(?:yz)+`, "xyzyz"}, {`[a-c]de`, "Cde"}, {`(?i)[^a]bc`, "xBC"}, {`(?:ab)*cd`, "cd"}, {`^$|foo`, ""},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, pattern, in string) {
		if len(pattern) > 200 || len(in) > 1000 || !isASCII(in) { // bounded: Go's regexp is linear in both
			return
		}
		re, err := regexp.Compile("(?sm)" + pattern)
		if err != nil {
			return
		}
		lits := prefilter("(?sm)" + pattern)
		if lits != nil && re.MatchString(in) && !containsAnyFold(in, lits) {
			t.Fatalf("%q matches %q, which contains none of its prefilter literals %q", pattern, in, lits)
		}
	})
}

func TestPrefilterCoversCRS(t *testing.T) {
	rxs, _ := crsArgs()
	with := 0
	for _, arg := range rxs {
		if prefilter("(?sm)"+arg) != nil {
			with++
		}
	}
	t.Logf("%d of %d CRS @rx patterns have a literal prefilter", with, len(rxs))
	if with == 0 {
		t.Fatal("no CRS pattern has a prefilter")
	}
}

func TestPrefilterLiterals(t *testing.T) {
	for _, c := range []struct {
		re   string
		want []string // nil: no prefilter
	}{
		{`(?i)union\s+select`, []string{"select"}},
		{`<(?:script|iframe)`, []string{"script", "iframe"}},
		{`(?i)\x{212a}elvin`, []string{"kelvin"}}, // the parser folds the Kelvin sign to k
		{`a*b?`, nil},
		{`(?:ab|c)x`, nil}, // "c" and "x": single bytes
		{`[^a]bc`, []string{"bc"}},
	} {
		got := prefilter("(?sm)" + c.re)
		if len(got) != len(c.want) {
			t.Errorf("prefilter(%q) = %q, want %q", c.re, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("prefilter(%q) = %q, want %q", c.re, got, c.want)
			}
		}
	}
	op, err := newRX(plugintypes.OperatorOptions{Arguments: `(?i)k`})
	if err != nil {
		t.Fatal(err)
	}
	checkRX(t, op.(*rx), "\u212a") // the Kelvin sign: not ASCII, the pattern runs
}
