package rules

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"sync"
)

// Set evaluates many compiled expressions against one request, with the
// same result as calling Match on each, but reading each request field that
// regexps test once for all of them: the regexps of every expression are
// grouped by the field they read (host, path, a header, a cookie, a query
// parameter), and each field is scanned once by an Aho-Corasick prefilter
// over the literals the regexps require and then by one combined RE2
// automaton (or Go's regexp when at most a few regexps remain candidates);
// see fieldScan.
//
// Expressions are indexed by the regexps they need: an expression that can
// only be true when one of some regexps matches (`PathRegexp(a) && ...`,
// `PathRegexp(a) || HeaderRegexp(h, b)`) is evaluated only when the scan
// found one of them, so a request that no regexp matches costs the field
// scans plus the expressions without such a regexp. Those, and the
// candidates, are evaluated in order as Match would, with regexp results
// read from the scan.
//
// A Set is immutable and safe for concurrent use.
type Set struct {
	rules  []*snode // nil: the empty expression, which matches everything
	fields []*fieldScan
	slots  int        // regexps over all fields
	idx    setIndex   // which expressions a request may satisfy
	plain  []*Matcher // non-nil: so few that Match on each is cheapest
	states sync.Pool  // *Scan, for Match and First
}

// snode is an expression tree with each regexp condition replaced by its
// slot in the per-request results.
type snode struct {
	op    op
	kids  []*snode
	cond  condition // opCall without a regexp
	field int       // opCall with a regexp: index in Set.fields
	slot  int       // and its index among the field's regexps; -1 for cond
}

// fieldKey names a request field regexps read.
type fieldKey struct {
	kind fieldKind
	name string // header (canonical), cookie or query parameter
}

type fieldKind int

const (
	fieldHost fieldKind = iota
	fieldPath
	fieldHeader
	fieldCookie
	fieldQuery
)

func (k fieldKey) value(r Request) (string, bool) {
	switch k.kind {
	case fieldHost:
		return r.Host(), true
	case fieldPath:
		return r.Path(), true
	case fieldHeader:
		return r.Header(k.name)
	case fieldCookie:
		return r.Cookie(k.name)
	}
	return r.Query(k.name)
}

// setState holds one request's field results and candidate expressions.
// The per-slot flags hold the generation (one per Start) that set them, so
// nothing is cleared between requests: a flag from an earlier request is
// an older generation, which reads as false.
type setState struct {
	gen     uint32
	scanned []uint32 // per field: == gen, scanned for this request
	hit     []uint32 // per slot: == gen, the regexp matched
	cand    []uint32 // per slot, scratch of fieldScan: a candidate
	pre     []uint32 // per slot, scratch of fieldScan: anchored prefix seen
	ids     []int    // scratch: candidate slots (field-local) of the last scan
	marks   []uint64 // per expression: a candidate
}

// reset sizes st for s and starts a new generation; marks are sized and
// cleared by Start only when it falls back to them.
func (st *setState) reset(s *Set) {
	st.scanned = resize(st.scanned, len(s.fields), false)
	st.hit = resize(st.hit, s.slots, false)
	st.cand = resize(st.cand, s.slots, false)
	st.pre = resize(st.pre, s.slots, false)
	if st.gen++; st.gen == 0 { // wrapped: old flags could read as current
		// The whole capacity: a larger Set later reslices into it.
		clear(st.scanned[:cap(st.scanned)])
		clear(st.hit[:cap(st.hit)])
		clear(st.cand[:cap(st.cand)])
		clear(st.pre[:cap(st.pre)])
		st.gen = 1
	}
}

func resize[T any](b []T, n int, zero bool) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	b = b[:n]
	if zero {
		clear(b)
	}
	return b
}

// maxPlain is the most expressions without regexps a Set evaluates one by
// one, as they are: below it the index costs more than it saves. (With a
// regexp the literal prefilter pays even for one: Go's regexp takes
// microseconds over a User-Agent.)
const maxPlain = 4

// NewSet builds a Set of ms, in order; Match reports indices into ms. A nil
// entry is the empty expression. Building compiles the combined automata, so
// do it once per configuration, not per request.
func NewSet(ms []*Matcher) *Set {
	s := &Set{rules: make([]*snode, len(ms))}
	s.states.New = func() any { return new(Scan) }
	b := setBuilder{s: s, fields: map[fieldKey]*fieldBuild{}}
	for i, m := range ms {
		if m != nil && m.root != nil {
			s.rules[i] = b.convert(m.root)
		}
	}
	if len(ms) <= maxPlain && len(b.order) == 0 {
		s.plain = slices.Clone(ms)
		return s
	}
	for _, fb := range b.order {
		s.fields = append(s.fields, newFieldScan(fb, s.slots))
		s.slots += len(fb.res)
	}
	s.idx.build(s)
	return s
}

// Len is the number of expressions in the set.
func (s *Set) Len() int { return len(s.rules) }

func (s *Set) eval(n *snode, r Request, st *setState) bool {
	switch n.op {
	case opCall:
		if n.slot < 0 {
			return n.cond.match(r)
		}
		if st.scanned[n.field] != st.gen {
			st.scanned[n.field] = st.gen
			s.fields[n.field].scan(r, st)
		}
		return st.hit[s.fields[n.field].first+n.slot] == st.gen
	case opNot:
		return !s.eval(n.kids[0], r, st)
	case opAnd:
		for _, k := range n.kids {
			if !s.eval(k, r, st) {
				return false
			}
		}
		return true
	default: // opOr
		for _, k := range n.kids {
			if s.eval(k, r, st) {
				return true
			}
		}
		return false
	}
}

type setBuilder struct {
	s      *Set
	fields map[fieldKey]*fieldBuild
	order  []*fieldBuild
}

// fieldBuild collects the distinct regexps of one field.
type fieldBuild struct {
	key   fieldKey
	index int // in Set.fields
	res   []*regexp.Regexp
	bySrc map[string]int // regexp source -> index in res
}

func (b *setBuilder) convert(n *node) *snode {
	if n.op != opCall {
		out := &snode{op: n.op, slot: -1, kids: make([]*snode, len(n.kids))}
		for i, k := range n.kids {
			out.kids[i] = b.convert(k)
		}
		return out
	}
	var key fieldKey
	var re *regexp.Regexp
	switch c := n.cond.(type) {
	case *hostRegexpCond:
		key, re = fieldKey{kind: fieldHost}, c.re
	case *pathRegexpCond:
		key, re = fieldKey{kind: fieldPath}, c.re
	case *kvCond:
		if c.re == nil {
			break
		}
		key, re = fieldKey{kind: fieldHeader + fieldKind(c.from), name: c.name}, c.re
	}
	if re == nil {
		return &snode{op: opCall, cond: n.cond, slot: -1}
	}
	return b.regexpSlot(key, re)
}

// regexpSlot returns the node for re over key, sharing the slot of an equal
// regexp over the same field.
func (b *setBuilder) regexpSlot(key fieldKey, re *regexp.Regexp) *snode {
	fb := b.fields[key]
	if fb == nil {
		fb = &fieldBuild{key: key, index: len(b.order), bySrc: map[string]int{}}
		b.fields[key] = fb
		b.order = append(b.order, fb)
	}
	i, ok := fb.bySrc[re.String()]
	if !ok {
		i = len(fb.res)
		fb.bySrc[re.String()] = i
		fb.res = append(fb.res, re)
	}
	return &snode{op: opCall, field: fb.index, slot: i}
}

// parseRegexp re-parses a compiled regexp as regexp.Compile did.
func parseRegexp(re *regexp.Regexp) *syntax.Regexp {
	p, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return nil // cannot happen: re compiled from this source
	}
	return p
}
