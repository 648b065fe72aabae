package rules

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/wasilibs/go-re2/experimental"
)

const (
	// minRE2 is the fewest regexps on one field worth a combined RE2
	// automaton: one RE2 call costs about as much as three Go regexp runs
	// over a short field.
	minRE2 = 4
	// maxGoCandidates: when the prefilter leaves at most this many
	// candidates, Go's regexp runs them; more, the combined automaton runs.
	maxGoCandidates = 3
)

// fieldScan matches all the regexps of a Set that read one request field.
//
// A scan has three steps, each exact:
//  1. Prefilter: a regexp anchored at the start with a literal (`^/api/`,
//     `^7\.`) is a candidate only when the field begins with that literal,
//     found by one walk down a trie of those prefixes that stops at the
//     first byte no prefix continues with. An Aho-Corasick automaton over the literals the regexps
//     require (requiredLiterals) finds which of them occur in the field,
//     read ASCII-case-insensitively (foldAC); a regexp none of whose literals occurs cannot
//     match. Regexps without required literals are always candidates.
//  2. Combined automaton: with more than maxGoCandidates candidates, one
//     RE2 set (github.com/wasilibs/go-re2, pure Go, no cgo) over all the
//     field's regexps reports which match, in one pass. RE2 reads each
//     regexp as Go's parser printed it with case folding spelled out, so
//     folding is Go's; a field that is not valid UTF-8 (where Go's regexp
//     reads U+FFFD and RE2 does not) or an RE2 evaluation error falls back
//     to step 3.
//  3. Go's regexp confirms every match RE2 reports and runs the candidates
//     directly when they are few or RE2 cannot: what Match would have run.
type fieldScan struct {
	key    fieldKey
	first  int // slot of res[0] in setState.hit
	res    []*regexp.Regexp
	always []int32 // regexps without required literals or anchored prefix

	anchors  *trie  // anchored prefixes (anchoredPrefix) -> regexps; nil: none
	needsLit []bool // per regexp: anchored, and one of its literals must occur too
	acAlways bool   // a regexp with literals has no anchored prefix

	ac     *foldAC   // nil: no regexp has required literals
	litRes [][]int32 // literal id -> regexps requiring it

	re2    *experimental.Set // nil: too few regexps, or RE2 refused them
	re2Res []int32           // RE2 pattern id -> regexp
	goOnly []int32           // regexps RE2 refused: Go runs them
}

func newFieldScan(fb *fieldBuild, first int) *fieldScan {
	f := &fieldScan{key: fb.key, first: first, res: fb.res, needsLit: make([]bool, len(fb.res))}
	var lits []string
	litID := map[string]int{}
	var re2Pats []string
	for i, re := range fb.res {
		parsed := parseRegexp(re)
		req, ok := []string(nil), false
		if parsed != nil {
			req, ok = requiredLiterals(parsed)
		}
		prefix := ""
		if parsed != nil {
			prefix = anchoredPrefix(parsed)
		}
		if prefix != "" {
			if f.anchors == nil {
				f.anchors = &trie{}
			}
			f.anchors.add(prefix, int32(i))
			// A literal inside the prefix adds nothing to it.
			if slices.ContainsFunc(req, func(l string) bool { return strings.Contains(prefix, l) }) {
				req = nil
			}
			f.needsLit[i] = len(req) > 0
		} else if !ok {
			f.always = append(f.always, int32(i))
		} else {
			f.acAlways = true
		}
		for _, l := range req {
			id, seen := litID[l]
			if !seen {
				id = len(lits)
				litID[l] = id
				lits = append(lits, l)
				f.litRes = append(f.litRes, nil)
			}
			f.litRes[id] = append(f.litRes[id], int32(i))
		}
		if parsed == nil {
			f.goOnly = append(f.goOnly, int32(i))
			continue
		}
		re2Pats = append(re2Pats, re2Pattern(parsed))
		f.re2Res = append(f.re2Res, int32(i))
	}
	if len(lits) > 0 {
		if f.ac = newFoldAC(lits); f.ac == nil { // too large: no prefilter
			f.always, f.litRes, f.anchors = allIndexes(len(fb.res)), nil, nil
		}
	}
	if len(fb.res) >= minRE2 {
		f.compileRE2(re2Pats)
	}
	return f
}

// compileRE2 builds the combined automaton; patterns RE2 refuses on their
// own are left to Go.
func (f *fieldScan) compileRE2(pats []string) {
	set, err := experimental.CompileSet(pats)
	if err != nil {
		var keep []string
		var keepRes []int32
		for j, p := range pats {
			if _, err := experimental.CompileSet([]string{p}); err != nil {
				f.goOnly = append(f.goOnly, f.re2Res[j])
				continue
			}
			keep = append(keep, p)
			keepRes = append(keepRes, f.re2Res[j])
		}
		f.re2Res = keepRes
		if len(keep) < minRE2 {
			f.re2, f.re2Res, f.goOnly = nil, nil, nil
			return
		}
		if set, err = experimental.CompileSet(keep); err != nil {
			f.re2, f.re2Res, f.goOnly = nil, nil, nil
			return
		}
	}
	f.re2 = set
}

func allIndexes(n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}

// scan sets st.hit to st.gen for every regexp of the field that matches
// and leaves in st.ids the candidates (field-local), the only regexps that
// may have hit.
func (f *fieldScan) scan(r Request, st *setState) {
	g := st.gen
	hit := st.hit[f.first : f.first+len(f.res)]
	st.ids = st.ids[:0]
	v, ok := f.key.value(r)
	if !ok {
		return // the field is absent: every condition on it is false
	}
	cand := st.cand[f.first : f.first+len(f.res)]
	ids := st.ids[:0]
	for _, i := range f.always {
		cand[i] = g
		ids = append(ids, int(i))
	}
	needAC := f.acAlways
	if t := f.anchors; t != nil {
		pre := st.pre[f.first : f.first+len(f.res)] // anchored, waiting for a literal
		for j := 0; ; j++ {
			for _, i := range t.rules {
				if f.needsLit[i] {
					pre[i], needAC = g, true
				} else if cand[i] != g {
					cand[i] = g
					ids = append(ids, int(i))
				}
			}
			if j == len(v) {
				break
			}
			c := v[j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			k := slices.Index(t.labels, c)
			if k < 0 {
				break
			}
			t = t.kids[k]
		}
	}
	if a := f.ac; a != nil && needAC { // foldAC.each, inlined
		pre := st.pre[f.first : f.first+len(f.res)]
		s := 0
		for j := 0; j < len(v); j++ {
			if s == 0 {
				for j < len(v) && !a.start[v[j]] {
					j++
				}
				if j == len(v) {
					break
				}
			}
			s = int(a.delta[s*a.stride+int(a.class[v[j]])])
			if !a.hasOut[s] {
				continue
			}
			for t := s; t >= 0; t = int(a.dict[t]) {
				for _, lit := range a.own[t] {
					for _, i := range f.litRes[lit] {
						if cand[i] != g && (!f.needsLit[i] || pre[i] == g) {
							cand[i] = g
							ids = append(ids, int(i))
						}
					}
				}
			}
		}
	}
	st.ids = ids
	if len(ids) == 0 {
		return
	}
	if f.re2 != nil && len(ids) > maxGoCandidates && utf8.ValidString(v) {
		if matched, err := f.re2.FindAllStringWithError(v, -1); err == nil {
			for _, j := range matched {
				if i := f.re2Res[j]; cand[i] == g && f.res[i].MatchString(v) {
					hit[i] = g
				}
			}
			for _, i := range f.goOnly {
				if cand[i] == g && f.res[i].MatchString(v) {
					hit[i] = g
				}
			}
			return
		}
	}
	for _, i := range ids {
		if f.res[i].MatchString(v) {
			hit[i] = g
		}
	}
}
