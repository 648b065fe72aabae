package operators

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"unsafe"

	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	"github.com/coregx/ahocorasick"
	petar "github.com/petar-dambovaliev/aho-corasick"
)

// pm is Coraza's @pm and @pmFromFile: case-insensitive (ASCII) phrase match, leftmost-
// longest, up to ten non-overlapping matches captured. Whether any phrase occurs is
// answered by one flat-table DFA (github.com/coregx/ahocorasick, with a first-byte skip
// scan) over the input folded to ASCII lower case; Coraza runs an interpreted automaton,
// and for @pmFromFile (CRS's biggest phrase lists) not even a DFA. The matches a rule
// captures come from Coraza's own automaton, built as a DFA: coregx's leftmost-longest
// is not Coraza's (FuzzPM found "a ab a00" on "aab": Coraza captures "a" then "ab",
// coregx "ab" alone). A list with an empty phrase (it matches every input) keeps
// Coraza's engine only.
type pm struct {
	dfa    *ahocorasick.Automaton // nil: slow alone
	slow   petar.AhoCorasick
	minLen int
}

func newPM(options plugintypes.OperatorOptions) (plugintypes.Operator, error) {
	data := strings.ToLower(options.Arguments)
	return buildPM(options.Memoizer, "strata-pm:"+data, strings.Split(data, " "))
}

func newPMFromFile(options plugintypes.OperatorOptions) (plugintypes.Operator, error) {
	data, err := loadFromFile(options.Arguments, options.Path, options.Root)
	if err != nil {
		return nil, err
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' {
			continue
		}
		lines = append(lines, strings.ToLower(l))
	}
	return buildPM(options.Memoizer, "strata-pmf:"+strings.Join(options.Path, ",")+options.Arguments, lines)
}

func buildPM(m plugintypes.Memoizer, key string, dict []string) (plugintypes.Operator, error) {
	min := minPatternLen(dict)
	v, err := memoize(m, key, func() (any, error) {
		b := petar.NewAhoCorasickBuilder(petar.Opts{AsciiCaseInsensitive: true, MatchKind: petar.LeftMostLongestMatch, DFA: true})
		p := &pm{slow: b.Build(dict)}
		if min == 0 || len(dict) == 0 {
			return p, nil
		}
		a, err := ahocorasick.NewBuilder().SetMatchKind(ahocorasick.LeftmostLongest).AddStrings(dict).Build()
		if err != nil {
			return nil, err
		}
		p.dfa = a
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	p := *v.(*pm)
	p.minLen = min
	return &p, nil
}

func (o *pm) Evaluate(tx plugintypes.TransactionState, value string) bool {
	if len(value) < o.minLen {
		return false
	}
	if o.dfa == nil {
		return petarEvaluate(o.slow, tx, value)
	}
	if !o.dfa.IsMatch(asciiLower(value)) {
		return false
	}
	if !tx.Capturing() {
		return true
	}
	return petarEvaluate(o.slow, tx, value)
}

func petarEvaluate(matcher petar.AhoCorasick, tx plugintypes.TransactionState, value string) bool {
	iter := matcher.Iter(value)
	if !tx.Capturing() {
		return iter.Next() != nil
	}
	n := 0
	for n < 10 {
		m := iter.Next()
		if m == nil {
			break
		}
		tx.CaptureField(n, value[m.Start():m.End()])
		n++
	}
	return n > 0
}

// asciiLower returns s's bytes with A-Z folded to a-z, without copying when s has no
// upper-case ASCII letter. Byte offsets stay those of s. The result is read-only.
func asciiLower(s string) []byte {
	i := 0
	for ; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			break
		}
	}
	if i == len(s) {
		return unsafe.Slice(unsafe.StringData(s), len(s))
	}
	b := make([]byte, len(s))
	copy(b, s)
	for ; i < len(b); i++ {
		if c := b[i]; 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return b
}

func minPatternLen(patterns []string) int {
	min := 0
	for _, p := range patterns {
		if p == "" {
			return 0
		}
		if min == 0 || len(p) < min {
			min = len(p)
		}
	}
	return min
}

var errEmptyDirs = errors.New("empty dirs")

// loadFromFile finds a data file the way Coraza does: an absolute name in root, a
// relative one in each directory of dirs (CRS keeps its .data files beside the rules).
func loadFromFile(name string, dirs []string, root fs.FS) ([]byte, error) {
	if path.IsAbs(name) {
		return fs.ReadFile(root, name)
	}
	if len(dirs) == 0 {
		return nil, errEmptyDirs
	}
	var err error
	for _, d := range dirs {
		var content []byte
		content, err = fs.ReadFile(root, path.Join(d, name))
		if err == nil {
			return content, nil
		}
		if !os.IsNotExist(err) {
			return nil, err
		}
	}
	return nil, err
}
