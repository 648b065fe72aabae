package cache

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// index finds stored keys by host, URL path prefix and surrogate key, so a
// purge costs O(objects purged), never O(objects cached). Paths are kept in a
// trie of '/'-separated segments per host.
type index struct {
	mu     sync.Mutex
	hosts  map[string]*pathNode
	tags   map[string]map[string]struct{}
	recs   map[string]*rec
	varyOf map[string][]string // primary key -> Vary header names
	vcount map[string]int      // primary key -> stored variants
}

type rec struct {
	key, primary string
	// keyQuery is the stored request's query as its key spec normalised it
	// (kept args only, sorted, decoded); noQuery and args are that spec.
	keyQuery string
	noQuery  bool
	args     []string
	tags     []string
	node     *pathNode
}

type pathNode struct {
	parent   *pathNode
	name     string
	children map[string]*pathNode
	keys     map[string]struct{}
}

func newIndex() *index {
	return &index{hosts: map[string]*pathNode{}, tags: map[string]map[string]struct{}{},
		recs: map[string]*rec{}, varyOf: map[string][]string{}, vcount: map[string]int{}}
}

func segments(path string) []string {
	return strings.Split(strings.TrimPrefix(path, "/"), "/")
}

func (ix *index) add(m *Meta) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.removeLocked(m.Key)
	host := strings.ToLower(m.Host)
	n := ix.hosts[host]
	if n == nil {
		n = &pathNode{name: host}
		ix.hosts[host] = n
	}
	for _, s := range segments(m.Path) {
		c := n.children[s]
		if c == nil {
			if n.children == nil {
				n.children = map[string]*pathNode{}
			}
			c = &pathNode{parent: n, name: s}
			n.children[s] = c
		}
		n = c
	}
	if n.keys == nil {
		n.keys = map[string]struct{}{}
	}
	n.keys[m.Key] = struct{}{}
	vals, _ := url.ParseQuery(m.RawQuery)
	r := &rec{key: m.Key, primary: m.Primary, keyQuery: keyQuery(vals, m.KeyNoQuery, m.KeyArgs),
		noQuery: m.KeyNoQuery, args: m.KeyArgs, tags: m.Tags, node: n}
	ix.recs[m.Key] = r
	for _, t := range m.Tags {
		set := ix.tags[t]
		if set == nil {
			set = map[string]struct{}{}
			ix.tags[t] = set
		}
		set[m.Key] = struct{}{}
	}
	if m.Primary != "" && len(m.Vary) > 0 {
		ix.varyOf[m.Primary] = m.Vary
		ix.vcount[m.Primary]++
	}
}

func (ix *index) remove(key string) {
	ix.mu.Lock()
	ix.removeLocked(key)
	ix.mu.Unlock()
}

func (ix *index) removeLocked(key string) {
	r := ix.recs[key]
	if r == nil {
		return
	}
	delete(ix.recs, key)
	n := r.node
	delete(n.keys, key)
	for n != nil && len(n.keys) == 0 && len(n.children) == 0 {
		if n.parent == nil {
			if ix.hosts[n.name] == n {
				delete(ix.hosts, n.name)
			}
			break
		}
		delete(n.parent.children, n.name)
		n = n.parent
	}
	for _, t := range r.tags {
		if set := ix.tags[t]; set != nil {
			delete(set, key)
			if len(set) == 0 {
				delete(ix.tags, t)
			}
		}
	}
	if _, ok := ix.varyOf[r.primary]; ok {
		if ix.vcount[r.primary]--; ix.vcount[r.primary] <= 0 {
			delete(ix.vcount, r.primary)
			delete(ix.varyOf, r.primary)
		}
	}
}

func (ix *index) vary(primary string) []string {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.varyOf[primary]
}

// varyBytes is vary for a key held in a buffer (the map lookup does not copy it).
func (ix *index) varyBytes(primary []byte) []string {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.varyOf[string(primary)]
}

func (ix *index) len() int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return len(ix.recs)
}

// node returns the trie node for an exact host and path.
func (ix *index) nodeLocked(host, path string) *pathNode {
	n := ix.hosts[strings.ToLower(host)]
	for _, s := range segments(path) {
		if n == nil {
			return nil
		}
		n = n.children[s]
	}
	return n
}

// url returns the keys stored for host+path whose key query equals rawQuery
// normalised by that object's key spec: with key args [v], "?v=1" selects an
// object stored by "?utm=a&v=1"; every header, cookie and Vary variant goes.
func (ix *index) url(host, path, rawQuery string) []string {
	vals, _ := url.ParseQuery(rawQuery) // same leniency as KeySpec.Build
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := ix.nodeLocked(host, path)
	if n == nil {
		return nil
	}
	var out []string
	for k := range n.keys {
		r := ix.recs[k]
		if r.keyQuery == keyQuery(vals, r.noQuery, r.args) {
			out = append(out, k)
		}
	}
	return out
}

// prefix returns the keys of host whose path starts with prefix (a string
// prefix: "/img" matches "/img/a" and "/images").
func (ix *index) prefix(host, prefix string) []string {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := ix.hosts[strings.ToLower(host)]
	if n == nil {
		return nil
	}
	segs := segments(prefix)
	for _, s := range segs[:len(segs)-1] {
		if n = n.children[s]; n == nil {
			return nil
		}
	}
	last := segs[len(segs)-1]
	var out []string
	for name, c := range n.children {
		if strings.HasPrefix(name, last) {
			out = collect(c, out)
		}
	}
	return out
}

func (ix *index) host(host string) []string {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if n := ix.hosts[strings.ToLower(host)]; n != nil {
		return collect(n, nil)
	}
	return nil
}

func (ix *index) tag(tag string) []string {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return slices.Collect(maps.Keys(ix.tags[tag]))
}

func collect(n *pathNode, out []string) []string {
	out = slices.AppendSeq(out, maps.Keys(n.keys))
	for _, c := range n.children {
		out = collect(c, out)
	}
	return out
}
