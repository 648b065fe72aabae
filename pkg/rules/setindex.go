package rules

import (
	"math/bits"
	"slices"
	"unicode/utf8"
)

// The index of a Set: for each expression, conditions one of which must
// hold for it to be true ("atoms": an exact path, a path prefix, a host or
// host wildcard, a regexp), looked up per request in maps, a prefix trie
// and the regexp scans, so that only the expressions a request may satisfy
// are evaluated. The atoms only narrow the candidates: each candidate is
// still evaluated whole, so results are exactly Match's.

type atomKind int

// Atom kinds, in the order an && prefers them: the ones that narrow most
// within one app's rules first (its rules tend to share their hosts).
const (
	atomPathExact atomKind = iota
	atomPathPrefix
	atomSlot
	atomHost
	atomHostSuffix // ".example.com" for *.example.com
)

type atom struct {
	kind atomKind
	key  string
	slot int
}

type setIndex struct {
	slotRules  [][]int32 // per regexp slot
	paths      trie      // exact paths and path prefixes: one walk along the path finds both
	hostExact  map[string][]int32
	hostSuffix map[string][]int32
	hostLens   uint64  // bit min(len, 63) set: hostExact has a key that long
	suffixLens uint64  // the same for hostSuffix: most lookups are skipped unhashed
	hostRules  []int32 // every host-indexed expression, for non-ASCII hosts
	hasPath    bool
	unindexed  []int32      // evaluated on every request
	eager      []int        // fields regexp atoms need, scanned before evaluation
	count      map[atom]int // while building: how many conditions use an atom
}

func (ix *setIndex) build(s *Set) {
	ix.slotRules = make([][]int32, s.slots)
	ix.hostExact = map[string][]int32{}
	ix.hostSuffix = map[string][]int32{}
	add := func(m map[string][]int32, k string, i int32) {
		if l := m[k]; len(l) == 0 || l[len(l)-1] != i {
			m[k] = append(l, i)
		}
	}
	ix.count = map[atom]int{}
	for _, n := range s.rules {
		s.countAtoms(n, ix.count)
	}
	for i, n := range s.rules {
		ri := int32(i)
		atoms, ok := s.needs(n)
		if n == nil || !ok {
			ix.unindexed = append(ix.unindexed, ri)
			continue
		}
		host := false
		for _, a := range atoms {
			switch a.kind {
			case atomPathExact:
				ix.paths.node(a.key).addExact(ri)
				ix.hasPath = true
			case atomPathPrefix:
				ix.paths.node(a.key).addRule(ri)
				ix.hasPath = true
			case atomSlot:
				if l := ix.slotRules[a.slot]; len(l) == 0 || l[len(l)-1] != ri {
					ix.slotRules[a.slot] = append(l, ri)
				}
			case atomHost:
				add(ix.hostExact, a.key, ri)
				ix.hostLens |= lenBit(len(a.key))
				host = true
			case atomHostSuffix:
				add(ix.hostSuffix, a.key, ri)
				ix.suffixLens |= lenBit(len(a.key))
				host = true
			}
		}
		if host {
			ix.hostRules = append(ix.hostRules, ri)
		}
	}
	ix.count = nil
	ix.paths.accumulate(nil)
	for fi, f := range s.fields {
		for slot := f.first; slot < f.first+len(f.res); slot++ {
			if len(ix.slotRules[slot]) > 0 {
				ix.eager = append(ix.eager, fi)
				break
			}
		}
	}
}

// needs returns atoms one of which holds whenever n is true, or ok false.
func (s *Set) needs(n *snode) (atoms []atom, ok bool) {
	if n == nil {
		return nil, false
	}
	switch n.op {
	case opCall:
		if n.slot >= 0 {
			return []atom{{kind: atomSlot, slot: s.fields[n.field].first + n.slot}}, true
		}
		switch c := n.cond.(type) {
		case *pathCond:
			k := atomPathExact
			if c.prefix {
				k = atomPathPrefix
			}
			for _, p := range c.paths {
				atoms = append(atoms, atom{kind: k, key: p})
			}
			return atoms, true
		case *hostCond:
			if len(c.ips) > 0 {
				return nil, false
			}
			for _, h := range slices.Concat(c.exact, c.suffixes) {
				if !isLowerASCII(h) { // looked up as is: only lower-case ASCII folds like that
					return nil, false
				}
			}
			for _, h := range c.exact {
				atoms = append(atoms, atom{kind: atomHost, key: h})
			}
			for _, h := range c.suffixes {
				atoms = append(atoms, atom{kind: atomHostSuffix, key: h})
			}
			return atoms, true
		}
	case opAnd:
		// One operand's atoms will do: take those the fewest other
		// conditions share (a prefix every rule of an app repeats narrows
		// nothing), then the most selective kind.
		best, bestCost, bestRank := []atom(nil), 0, atomKind(0)
		for _, k := range n.kids {
			a, ok := s.needs(k)
			if !ok {
				continue
			}
			cost, rank := 0, atomKind(0)
			for _, x := range a {
				cost += s.idx.count[x]
				rank = max(rank, x.kind)
			}
			if best == nil || cost < bestCost || cost == bestCost && rank < bestRank {
				best, bestCost, bestRank = a, cost, rank
			}
		}
		return best, best != nil
	case opOr: // every operand needs atoms
		for _, k := range n.kids {
			a, ok := s.needs(k)
			if !ok {
				return nil, false
			}
			atoms = append(atoms, a...)
		}
		return atoms, true
	}
	return nil, false // opNot, and conditions not indexed
}

// countAtoms counts the atoms of every condition of n.
func (s *Set) countAtoms(n *snode, count map[atom]int) {
	if n == nil {
		return
	}
	if n.op != opCall {
		for _, k := range n.kids {
			s.countAtoms(k, count)
		}
		return
	}
	if atoms, ok := s.needs(n); ok {
		for _, a := range atoms {
			count[a]++
		}
	}
}

func lenBit(n int) uint64 { return 1 << min(n, 63) }

// trie maps strings to expressions: rules for the prefixes, exact for the
// whole strings; a walk along a string collects every prefix of it, and the
// string itself when the walk reaches its end.
type trie struct {
	rules  []int32
	exact  []int32
	labels []byte
	kids   []*trie
	// Built once per Set (accumulate): the rules of this node and of every
	// node above it, so a walk reads one list at its end instead of
	// collecting one per byte; accExact adds exact. accBig: longer than
	// maxAcc, left to the walk that marks per node.
	acc, accExact []int32
	accBig        bool
}

// maxAcc bounds a trie node's accumulated lists (memory: a node copies
// its ancestors' rules; a prefix most rules share makes every node below
// it big).
const maxAcc = 16

// accumulate fills acc and accExact below t, given the rules above it.
func (t *trie) accumulate(above []int32) {
	t.acc = union(above, t.rules)
	t.accExact = union(t.acc, t.exact)
	t.accBig = len(t.accExact) > maxAcc
	if t.accBig {
		t.acc, t.accExact = nil, nil
	}
	for _, k := range t.kids {
		if t.accBig {
			k.markBig()
		} else {
			k.accumulate(t.acc)
		}
	}
}

func (t *trie) markBig() {
	t.accBig = true
	for _, k := range t.kids {
		k.markBig()
	}
}

// walk follows p down from t: the deepest node reached, and whether it is
// p's own (the walk consumed all of p).
func (t *trie) walk(p string) (*trie, bool) {
	for i := 0; i < len(p); i++ {
		j := slices.Index(t.labels, p[i])
		if j < 0 {
			return t, false
		}
		t = t.kids[j]
	}
	return t, true
}

// union merges two ascending lists without duplicates; it returns a
// itself when b adds nothing (no copy per trie node without rules).
func union(a, b []int32) []int32 {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]int32, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i] < b[j]:
			out = append(out, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i, j = i+1, j+1
		}
	}
	return out
}

// node returns the node of p, adding the missing ones.
func (t *trie) node(p string) *trie {
	for i := 0; i < len(p); i++ {
		j := slices.Index(t.labels, p[i])
		if j < 0 {
			t.labels = append(t.labels, p[i])
			t.kids = append(t.kids, &trie{})
			j = len(t.kids) - 1
		}
		t = t.kids[j]
	}
	return t
}

func (t *trie) add(p string, ri int32) { t.node(p).addRule(ri) }

func (t *trie) addRule(ri int32) {
	if len(t.rules) == 0 || t.rules[len(t.rules)-1] != ri {
		t.rules = append(t.rules, ri)
	}
}

func (t *trie) addExact(ri int32) {
	if len(t.exact) == 0 || t.exact[len(t.exact)-1] != ri {
		t.exact = append(t.exact, ri)
	}
}

// Scan is one request's pass over a Set: the expressions the request
// satisfies, in ascending order, one Next at a time, so a caller that stops
// at the first deciding expression evaluates no more than it needs. Keep a
// Scan in per-request (or per-goroutine) memory and reuse it: Start resets
// it and reuses its buffers. Not safe for concurrent use.
type Scan struct {
	s     *Set
	r     Request
	st    setState
	lists [][]int32 // the candidate lists the index found, ascending each
	merge bool      // Next merges lists; false: it steps over st.marks
	w     int       // next word of st.marks
	bits  uint64
}

// maxMerge is the most candidate lists Next merges directly; with more
// (a request many regexps match) a bitset of candidates is cheaper.
const maxMerge = 6

func appendList(ls [][]int32, l []int32) [][]int32 {
	if len(l) == 0 {
		return ls
	}
	return append(ls, l)
}

// Start begins a scan of r over s. The index gives a few ascending lists
// of candidates (the unindexed expressions, the path trie node the walk
// ends at, the host's, each matched regexp's); Next merges them, so the
// common request that only the catch-all matches costs its lookups and one
// short list, however many expressions the set has. Many lists, or a path
// under a prefix too many expressions share, fall back to a bitset.
func (s *Set) Start(r Request, sc *Scan) {
	sc.s, sc.r, sc.w, sc.bits = s, r, 0, 0
	if s.plain != nil {
		return
	}
	st := &sc.st
	if len(s.fields) > 0 { // without regexps no flag is read
		st.reset(s)
	}
	ix := &s.idx
	ls := appendList(sc.lists[:0], ix.unindexed)
	bigPath := false
	if ix.hasPath {
		t, whole := ix.paths.walk(r.Path())
		switch {
		case t.accBig:
			bigPath = true
		case whole:
			ls = appendList(ls, t.accExact)
		default:
			ls = appendList(ls, t.acc)
		}
	}
	if len(ix.hostRules) > 0 {
		h := r.Host()
		if !isLowerASCII(h) { // Host matches with EqualFold: K is k
			ls = appendList(ls, ix.hostRules)
		} else {
			if ix.hostLens&lenBit(len(h)) != 0 {
				ls = appendList(ls, ix.hostExact[h])
			}
			for i := 1; i < len(h); i++ {
				if h[i] == '.' && ix.suffixLens&lenBit(len(h)-i) != 0 {
					ls = appendList(ls, ix.hostSuffix[h[i:]])
				}
			}
		}
	}
	for _, fi := range ix.eager {
		f := s.fields[fi]
		st.scanned[fi] = st.gen
		f.scan(r, st)
		for _, i := range st.ids {
			if slot := f.first + i; st.hit[slot] == st.gen {
				ls = appendList(ls, ix.slotRules[slot])
			}
		}
	}
	sc.lists = ls
	if sc.merge = !bigPath && len(ls) <= maxMerge; sc.merge {
		return
	}
	st.marks = resize(st.marks, (len(s.rules)+63)/64, true)
	mark := func(l []int32) {
		for _, i := range l {
			st.marks[i/64] |= 1 << (i % 64)
		}
	}
	for _, l := range ls {
		mark(l)
	}
	if bigPath { // the walk again, marking each node's own rules
		p := r.Path()
		t := &ix.paths
		mark(t.rules)
		i := 0
		for ; i < len(p); i++ {
			j := slices.Index(t.labels, p[i])
			if j < 0 {
				break
			}
			t = t.kids[j]
			mark(t.rules)
		}
		if i == len(p) {
			mark(t.exact)
		}
	}
	if len(st.marks) > 0 {
		sc.bits = st.marks[0]
	}
}

func isLowerASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}

// Next returns the index of the next expression the request satisfies, or
// -1 when there is none.
func (sc *Scan) Next() int {
	if p := sc.s.plain; p != nil {
		for sc.w < len(p) {
			i := sc.w
			if sc.w++; p[i] == nil || p[i].Match(sc.r) {
				return i
			}
		}
		return -1
	}
	if sc.merge {
		return sc.nextMerged()
	}
	st := &sc.st
	for {
		for sc.bits != 0 {
			i := sc.w*64 + bits.TrailingZeros64(sc.bits)
			sc.bits &= sc.bits - 1
			if n := sc.s.rules[i]; n == nil || sc.s.eval(n, sc.r, st) {
				return i
			}
		}
		if sc.w++; sc.w >= len(st.marks) {
			sc.w = len(st.marks)
			return -1
		}
		sc.bits = st.marks[sc.w]
	}
}

// nextMerged takes the least head of sc.lists (dropping it from every list
// it heads) until an expression is true.
func (sc *Scan) nextMerged() int {
	ls := sc.lists
	for len(ls) > 0 {
		m := ls[0][0]
		for _, l := range ls[1:] {
			m = min(m, l[0])
		}
		for j := 0; j < len(ls); {
			if ls[j][0] == m {
				if ls[j] = ls[j][1:]; len(ls[j]) == 0 {
					ls[j] = ls[len(ls)-1]
					ls = ls[:len(ls)-1]
					continue
				}
			}
			j++
		}
		if n := sc.s.rules[m]; n == nil || sc.s.eval(n, sc.r, &sc.st) {
			sc.lists = ls
			return int(m)
		}
	}
	sc.lists = ls
	return -1
}

// Match appends to dst the indices of the expressions r satisfies, in
// ascending order, and returns the extended slice. With room in dst it
// allocates nothing on requests that match no literal of a regexp.
func (s *Set) Match(r Request, dst []int) []int {
	sc := s.states.Get().(*Scan)
	s.Start(r, sc)
	for i := sc.Next(); i >= 0; i = sc.Next() {
		dst = append(dst, i)
	}
	sc.r = nil
	s.states.Put(sc)
	return dst
}

// First returns the index of the first expression r satisfies, or -1.
func (s *Set) First(r Request) int {
	sc := s.states.Get().(*Scan)
	s.Start(r, sc)
	i := sc.Next()
	sc.r = nil
	s.states.Put(sc)
	return i
}
