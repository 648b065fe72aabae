package rules

// foldAC is an Aho-Corasick automaton over lower-case literals that reads
// its input ASCII-case-insensitively, with every transition precomputed (a
// DFA): one table load per byte, no lower-cased copy of the input, and all
// literals found, overlapping ones included ("min" inside "admin").
type foldAC struct {
	class  [256]uint16 // byte -> column; 'A' reads as 'a'; 0: no literal has it
	stride int
	delta  []int32   // state*stride + column -> state
	own    [][]int32 // per state: literals ending here
	dict   []int32   // per state: the next state on its failure chain with literals, or -1
	hasOut []bool    // own or dict
	// start: the bytes some literal begins with; at the root the others
	// are skipped with one independent load each rather than a chain of
	// dependent table loads.
	start [256]bool
}

// maxACCells bounds the transition table (4 bytes a cell): 4M cells, 16 MB.
const maxACCells = 4 << 20

// newFoldAC builds the automaton of lits (lower-case ASCII in their letters),
// or returns nil when it would be too large.
func newFoldAC(lits []string) *foldAC {
	a := &foldAC{}
	cols := 1
	for _, l := range lits {
		for i := 0; i < len(l); i++ {
			if a.class[l[i]] == 0 {
				a.class[l[i]] = uint16(cols)
				cols++
			}
		}
	}
	for c := 'A'; c <= 'Z'; c++ {
		a.class[c] = a.class[c+'a'-'A']
	}
	for _, l := range lits {
		if l != "" {
			a.start[l[0]] = true
			if 'a' <= l[0] && l[0] <= 'z' {
				a.start[l[0]-'a'+'A'] = true
			}
		}
	}
	a.stride = cols
	// The trie, with goto edges in delta (0: none yet; state 0 is the root,
	// which no edge enters).
	a.delta = make([]int32, cols)
	a.own = [][]int32{nil}
	for id, l := range lits {
		s := 0
		for i := 0; i < len(l); i++ {
			c := int(a.class[l[i]])
			next := int(a.delta[s*cols+c])
			if next == 0 {
				if (len(a.own)+1)*cols > maxACCells {
					return nil
				}
				next = len(a.own)
				a.own = append(a.own, nil)
				a.delta = append(a.delta, make([]int32, cols)...)
				a.delta[s*cols+c] = int32(next)
			}
			s = next
		}
		a.own[s] = append(a.own[s], int32(id))
	}
	n := len(a.own)
	fail := make([]int32, n)
	a.dict = make([]int32, n)
	a.hasOut = make([]bool, n)
	a.dict[0] = -1
	// Breadth first: a state's failure target is shallower, so complete.
	queue := make([]int32, 0, n)
	for c := 0; c < cols; c++ {
		if t := a.delta[c]; t != 0 {
			fail[t], a.dict[t] = 0, -1
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		f := int(fail[s])
		if len(a.own[f]) > 0 {
			a.dict[s] = int32(f)
		} else {
			a.dict[s] = a.dict[f]
		}
		a.hasOut[s] = len(a.own[s]) > 0 || a.dict[s] >= 0
		for c := 0; c < cols; c++ {
			t := a.delta[int(s)*cols+c]
			if t == 0 {
				a.delta[int(s)*cols+c] = a.delta[f*cols+c]
				continue
			}
			fail[t] = a.delta[f*cols+c]
			queue = append(queue, t)
		}
	}
	return a
}

// each calls fn with the id of every literal occurrence in v (a literal
// once per occurrence).
func (a *foldAC) each(v string, fn func(lit int32)) {
	s := 0
	for i := 0; i < len(v); i++ {
		if s == 0 {
			for i < len(v) && !a.start[v[i]] {
				i++
			}
			if i == len(v) {
				break
			}
		}
		s = int(a.delta[s*a.stride+int(a.class[v[i]])])
		if !a.hasOut[s] {
			continue
		}
		for t := s; t >= 0; t = int(a.dict[t]) {
			for _, id := range a.own[t] {
				fn(id)
			}
		}
	}
}
