package upstream

import (
	"net/textproto"
	"sort"
	"strconv"

	"github.com/strata-edge/strata/pkg/validate"
)

// pointsPerServer is the ring's resolution: the ring holds about this many
// points per server, split in proportion to the weights (ketama uses 160).
const pointsPerServer = 160

// ring is a consistent-hash (ketama-style) balancer. Every server owns points
// on a 64-bit ring derived from its address, so removing a server only moves
// the keys it owned; when a key's server is unavailable the walk continues
// clockwise to the next available server.
type ring struct {
	servers []*Server
	points  []ringPoint
	key     hashKey
}

type ringPoint struct {
	hash   uint64
	server int32
}

func newRing(servers []*Server, key hashKey) *ring {
	sum := 0
	for _, s := range servers {
		sum += s.Weight
	}
	r := &ring{servers: servers, key: key}
	total := pointsPerServer * len(servers)
	for i, s := range servers {
		n := total * s.Weight / sum
		if n < 1 {
			n = 1
		}
		for j := 0; j < n; j++ {
			h := hashString(s.Addr + "-" + strconv.Itoa(j))
			r.points = append(r.points, ringPoint{hash: h, server: int32(i)})
		}
	}
	sort.Slice(r.points, func(a, b int) bool { return r.points[a].hash < r.points[b].hash })
	return r
}

func (r *ring) pick(req Request, tried Tried) *Server {
	h := r.key.hash(req)
	pts := r.points
	// First point with hash >= h, wrapping around.
	lo, hi := 0, len(pts)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if pts[m].hash < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	var seen uint64 // servers already rejected (first 64)
	left := len(r.servers)
	for k := 0; k < len(pts) && left > 0; k++ {
		p := pts[(lo+k)%len(pts)]
		if p.server < 64 {
			bit := uint64(1) << uint(p.server)
			if seen&bit != 0 {
				continue
			}
			seen |= bit
			left--
		}
		s := r.servers[p.server]
		if !tried.Has(s) && s.Available() {
			return s
		}
	}
	return nil
}

type hashKeyKind uint8

const (
	hashClientIP hashKeyKind = iota
	hashURI
	hashPath
	hashHeader
	hashCookie
	hashQuery
)

// hashKey says what a consistent-hash upstream hashes. A header, cookie or
// query argument missing from the request falls back to the client IP, so
// those requests still spread instead of piling onto one server.
type hashKey struct {
	kind hashKeyKind
	name string
}

func parseHashKey(s string) (hashKey, error) {
	k, err := validate.ParseHashKey(s)
	if err != nil {
		return hashKey{}, err
	}
	switch k.Kind {
	case "uri":
		return hashKey{kind: hashURI}, nil
	case "path":
		return hashKey{kind: hashPath}, nil
	case "header":
		return hashKey{kind: hashHeader, name: textproto.CanonicalMIMEHeaderKey(k.Name)}, nil
	case "cookie":
		return hashKey{kind: hashCookie, name: k.Name}, nil
	case "query":
		return hashKey{kind: hashQuery, name: k.Name}, nil
	}
	return hashKey{kind: hashClientIP}, nil
}

func (k hashKey) hash(r Request) uint64 {
	var v string
	var ok bool
	switch k.kind {
	case hashURI:
		return hashString(r.RequestURI())
	case hashPath:
		return hashString(r.Path())
	case hashHeader:
		v, ok = r.Header(k.name)
	case hashCookie:
		v, ok = r.Cookie(k.name)
	case hashQuery:
		v, ok = r.Query(k.name)
	}
	if ok {
		return hashString(v)
	}
	ip := r.ClientIP().As16()
	return hashBytes(ip[:])
}

// hashString is FNV-1a with a murmur3 finalizer: stable across processes and
// nodes (every node of a cluster sends a key to the same server), no
// allocation, well spread in the high bits the ring compares.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return fmix(h)
}

func hashBytes(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return fmix(h)
}

func fmix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
