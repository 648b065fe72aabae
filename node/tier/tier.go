// Package tier is tiered caching's parent selection: a cluster may name
// parent clusters (config Cluster.parent_cluster_ids, in order of
// preference), and on a cache miss a node asks a node of a parent cluster
// before the origin. Tier keeps the node's parent clusters (from its
// snapshot) and their healthy nodes' tier addresses (from the nodes
// service's gateway sets) and orders the candidates for one cache key:
// the clusters in preference order, skipping those without healthy nodes,
// each cluster's nodes ranked by rendezvous (highest random weight)
// hashing on the key, so every child node asks the same parent node for a
// key and a node leaving moves only the keys it had.
package tier

import (
	"cmp"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
)

// Headers of a request from a child node to a parent-tier node.
const (
	// HopsHeader counts the tiers a request has passed: a child sends its
	// own count plus one; at MaxHops a node goes to the origin directly.
	HopsHeader = "Strata-Tier-Hops"
	// ParentHeader, on a response filled from a parent, names the parent
	// node and that node's cache status: "node-x; status=HIT".
	ParentHeader = "Strata-Cache-Parent"
	// AcceptedHeader is set (to "1") by a parent on its response to a tier
	// request it honoured (one from a peer, see Tier.Peer). A child takes a
	// response without it as a failed attempt: the parent handled the
	// request as a client's (e.g. as plain http), so its answer is not
	// what the child's client asked for.
	AcceptedHeader = "Strata-Tier-Accepted"
)

// MaxHops bounds the tiers one request passes (edge -> shield -> super
// shield -> origin is 2 hops), a guard against a parent loop a stale
// config could hold.
const MaxHops = 3

// Node is a parent-tier node: its id and the host:port of its plain HTTP
// listener.
type Node struct {
	ID, Addr string
}

// Tier is safe for concurrent use; Candidates does not lock.
type Tier struct {
	self string

	mu      sync.Mutex
	parents []string          // cluster ids, in order of preference
	nodes   map[string][]Node // healthy nodes by cluster id
	cur     atomic.Pointer[[][]Node]
	peers   atomic.Pointer[map[netip.Addr]struct{}]

	tr                           *http.Transport
	fetches, failures, fallbacks atomic.Uint64
}

// New returns a Tier for the node self (never its own candidate).
func New(self string) *Tier {
	t := &Tier{self: self, nodes: map[string][]Node{}, tr: newTransport()}
	t.cur.Store(new([][]Node))
	t.peers.Store(&map[netip.Addr]struct{}{})
	return t
}

// SetPeers sets the addresses the partition's nodes connect from (their
// tier and public addresses): a request's tier headers are honoured only
// when its TCP peer is one of them.
func (t *Tier) SetPeers(addrs []netip.Addr) {
	m := make(map[netip.Addr]struct{}, len(addrs))
	for _, a := range addrs {
		m[a.Unmap().WithZone("")] = struct{}{}
	}
	t.peers.Store(&m)
}

// Peer reports whether ip (a request's TCP peer address) is another node
// of the partition, whose tier headers count. Only requests carrying
// HopsHeader ask.
func (t *Tier) Peer(ip netip.Addr) bool {
	_, ok := (*t.peers.Load())[ip.Unmap().WithZone("")]
	return ok
}

// SetParents sets the node's parent clusters, in order of preference.
func (t *Tier) SetParents(clusterIDs []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if slices.Equal(t.parents, clusterIDs) {
		return
	}
	t.parents = slices.Clone(clusterIDs)
	t.rebuild()
}

// SetNodes sets the healthy nodes of every cluster, by cluster id (a
// cluster absent from the map has none).
func (t *Tier) SetNodes(byCluster map[string][]Node) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nodes = byCluster
	t.rebuild()
}

func (t *Tier) rebuild() {
	var v [][]Node
	for _, id := range t.parents {
		var ns []Node
		for _, n := range t.nodes[id] {
			if n.ID != t.self && n.Addr != "" {
				ns = append(ns, n)
			}
		}
		if len(ns) > 0 {
			v = append(v, ns)
		}
	}
	t.cur.Store(&v)
}

// Any reports whether a parent cluster has a healthy node to ask.
func (t *Tier) Any() bool { return len(*t.cur.Load()) > 0 }

// Parents reports whether the node has parent clusters configured.
func (t *Tier) Parents() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.parents) > 0
}

// Candidates lists whom to ask for key, in order: up to perCluster nodes
// of each parent cluster that has healthy nodes (perCluster <= 0: all),
// clusters in preference order, nodes by rendezvous rank. Empty when the
// node has no parent with a healthy node: go to the origin.
func (t *Tier) Candidates(key string, perCluster int) []Node {
	v := *t.cur.Load()
	if len(v) == 0 {
		return nil
	}
	kh := hashString(key)
	var out []Node
	for _, ns := range v {
		ranked := Rank(kh, ns)
		if perCluster > 0 && len(ranked) > perCluster {
			ranked = ranked[:perCluster]
		}
		out = append(out, ranked...)
	}
	return out
}

// Rank orders nodes by their rendezvous weight for the key hash kh,
// highest first (ties by id), in a new slice.
func Rank(kh uint64, nodes []Node) []Node {
	type scored struct {
		n Node
		w uint64
	}
	s := make([]scored, len(nodes))
	for i, n := range nodes {
		s[i] = scored{n, mix(kh ^ mix(hashString(n.ID)))}
	}
	slices.SortFunc(s, func(a, b scored) int { return cmp.Or(cmp.Compare(b.w, a.w), cmp.Compare(a.n.ID, b.n.ID)) })
	out := make([]Node, len(s))
	for i := range s {
		out[i] = s[i].n
	}
	return out
}

// HashKey is the key hash Rank takes (FNV-1a, 64 bits: the same on every
// node, unlike hash/maphash).
func HashKey(key string) uint64 { return hashString(key) }

func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix is splitmix64's finaliser: FNV's low bits are weak for rendezvous.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
