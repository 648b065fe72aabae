package upstream

import (
	"sync"
	"sync/atomic"
)

// balancer picks one server among a fixed list (all with weight > 0),
// skipping unavailable and tried ones; nil when none is left.
type balancer interface {
	pick(r Request, tried Tried) *Server
}

// smoothRR is nginx's smooth weighted round robin: every pick adds each
// server's weight to its current weight, takes the highest and subtracts the
// total from it. With weights 5,1,1 the order is a a b a c a a, never a
// burst. Equal weights give plain round robin. Servers that are down or
// tried are left out of the round, as in nginx.
type smoothRR struct {
	servers []*Server
	mu      sync.Mutex
	current []int
}

func newSmoothRR(servers []*Server) *smoothRR {
	return &smoothRR{servers: servers, current: make([]int, len(servers))}
}

func (b *smoothRR) pick(_ Request, tried Tried) *Server {
	if len(b.servers) == 1 { // no state to keep
		if s := b.servers[0]; !tried.Has(s) && s.Available() {
			return s
		}
		return nil
	}
	b.mu.Lock()
	total, best := 0, -1
	for i, s := range b.servers {
		if tried.Has(s) || !s.Available() {
			continue
		}
		b.current[i] += s.Weight
		total += s.Weight
		if best < 0 || b.current[i] > b.current[best] {
			best = i
		}
	}
	if best < 0 {
		b.mu.Unlock()
		return nil
	}
	b.current[best] -= total
	b.mu.Unlock()
	return b.servers[best]
}

// leastConn picks the server with the fewest requests in flight relative to
// its weight; ties go round robin (the scan starts one further each time).
type leastConn struct {
	servers []*Server
	next    atomic.Uint32
}

func (b *leastConn) pick(_ Request, tried Tried) *Server {
	n := len(b.servers)
	start := int(b.next.Add(1) % uint32(n))
	var best *Server
	var bestActive int64
	for k := 0; k < n; k++ {
		s := b.servers[(start+k)%n]
		if tried.Has(s) || !s.Available() {
			continue
		}
		a := s.active.Load()
		// a/s.Weight < bestActive/best.Weight without division.
		if best == nil || a*int64(best.Weight) < bestActive*int64(s.Weight) {
			best, bestActive = s, a
		}
	}
	return best
}
