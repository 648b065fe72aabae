package stats

import (
	"cmp"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/sketch"
)

// The per-second aggregates of an app (metrics reports, node/stats): one
// bucket per second that saw requests, with fixed bounds whatever the
// traffic. Recorders take the app's mutex for the few dozen nanoseconds of
// an update; the reporter takes the finished buckets away (TakeSeconds)
// and turns them into protos outside the lock.

// Bounds of one bucket. What does not fit is counted under OtherName (a
// status code of 0 for codes).
const (
	MaxCodes   = 16  // distinct status codes
	MaxServers = 64  // distinct upstream servers
	MaxCaches  = 8   // distinct cache statuses
	TopPaths   = 32  // space-saving summary size
	MaxPathLen = 256 // longer paths are counted truncated
	// MaxClosed is how many finished seconds an app keeps for the
	// reporter; beyond, the oldest is dropped (and counted): the reporter
	// takes them every flush interval, so only a stalled reporter loses any.
	MaxClosed = 16
	OtherName = "other"
)

// Done is what the proxy knows of a finished request.
type Done struct {
	Status            int
	BytesIn, BytesOut int
	// Latency from the request's start to its end; <0 when not measured.
	Latency time.Duration
	Path    string // the request path (not the query)
	Cache   string // the cache status (HIT, MISS, ...); "" when not cached
	// At is when the request finished; zero when no per-second aggregates
	// run (the counters alone do not need it).
	At time.Time
}

// seconds holds an app's open and finished buckets.
type seconds struct {
	mu      sync.Mutex
	open    [2]*bucket // by second & 1: the current and the previous second
	closed  []*bucket
	free    []*bucket
	dropped uint64 // finished seconds dropped unsent (closed was full)
}

type bucket struct {
	second            int64
	requests          uint64
	bytesIn, bytesOut uint64
	codes             [MaxCodes]codeCount
	nCodes            int
	latency           *sketch.Sketch
	servers           []serverAgg
	caches            [MaxCaches + 1]nameCount // the last one is OtherName
	nCaches           int
	upErrors          [upstreamErrorKinds]uint64
	paths             topK
	waf               wafCounts
	used              bool // an attempt or a request was recorded
}

type codeCount struct {
	code  int
	count uint64
}

type nameCount struct {
	name  string
	count uint64
}

type serverAgg struct {
	addr     string
	attempts uint64
	errors   [UpstreamNoServer]uint64 // connect, timeout, response
	latency  *sketch.Sketch
}

func newBucket() *bucket {
	return &bucket{latency: sketch.New(), servers: make([]serverAgg, 0, 4)}
}

func (b *bucket) reset() {
	b.second, b.requests, b.bytesIn, b.bytesOut, b.used = 0, 0, 0, 0, false
	b.nCodes, b.nCaches = 0, 0
	b.latency.Reset()
	for i := range b.servers {
		b.servers[i].attempts, b.servers[i].errors = 0, [UpstreamNoServer]uint64{}
		b.servers[i].latency.Reset()
	}
	// Keep the server slots' sketches for reuse, forget their addresses.
	b.servers = b.servers[:0]
	b.upErrors = [upstreamErrorKinds]uint64{}
	b.paths.reset()
	b.waf.reset()
}

// at returns the bucket of second sec, closing the one its slot held.
// Called with mu held.
func (s *seconds) at(sec int64) *bucket {
	i := sec & 1
	b := s.open[i]
	if b != nil && b.second >= sec {
		// b.second > sec: a request that took over two seconds to get the
		// lock; counted in the newer second rather than reopening one.
		return b
	}
	if b != nil {
		s.close(b)
	}
	if n := len(s.free); n > 0 {
		b = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		b = newBucket()
	}
	b.second = sec
	s.open[i] = b
	return b
}

func (s *seconds) close(b *bucket) {
	if len(s.closed) == MaxClosed {
		s.dropped++
		old := s.closed[0]
		copy(s.closed, s.closed[1:])
		s.closed = s.closed[:MaxClosed-1]
		old.reset()
		s.free = append(s.free, old)
	}
	s.closed = append(s.closed, b)
}

func (s *seconds) done(d *Done) {
	sec := d.At.Unix()
	s.mu.Lock()
	b := s.at(sec)
	b.used = true
	b.requests++
	if d.BytesIn > 0 {
		b.bytesIn += uint64(d.BytesIn)
	}
	if d.BytesOut > 0 {
		b.bytesOut += uint64(d.BytesOut)
	}
	b.code(d.Status)
	if d.Latency >= 0 {
		b.latency.Add(float64(d.Latency) / float64(time.Millisecond))
	}
	if d.Cache != "" {
		b.cache(d.Cache)
	}
	b.paths.add(d.Path)
	s.mu.Unlock()
}

func (s *seconds) conn(at time.Time, bytesIn, bytesOut int64) {
	s.add(at, 1, bytesIn, bytesOut)
}

func (s *seconds) bytes(at time.Time, bytesIn, bytesOut int64) {
	s.add(at, 0, bytesIn, bytesOut)
}

func (s *seconds) add(at time.Time, requests uint64, bytesIn, bytesOut int64) {
	sec := at.Unix()
	s.mu.Lock()
	b := s.at(sec)
	b.used = true
	b.requests += requests
	if bytesIn > 0 {
		b.bytesIn += uint64(bytesIn)
	}
	if bytesOut > 0 {
		b.bytesOut += uint64(bytesOut)
	}
	s.mu.Unlock()
}

func (s *seconds) attempt(at time.Time, server string, d time.Duration, kind UpstreamError) {
	sec := at.Unix()
	s.mu.Lock()
	b := s.at(sec)
	b.used = true
	if kind >= 0 && kind < upstreamErrorKinds {
		b.upErrors[kind]++
	}
	if server != "" {
		sv := b.server(server)
		sv.attempts++
		if kind >= 0 && kind < UpstreamNoServer {
			sv.errors[kind]++
		} else if kind < 0 {
			sv.latency.Add(float64(d) / float64(time.Millisecond))
		}
	}
	s.mu.Unlock()
}

func (b *bucket) code(c int) {
	for i := range b.nCodes {
		if b.codes[i].code == c {
			b.codes[i].count++
			return
		}
	}
	if b.nCodes < MaxCodes-1 {
		b.codes[b.nCodes] = codeCount{c, 1}
		b.nCodes++
		return
	}
	// The last slot counts every code that found no room (code 0).
	if b.nCodes == MaxCodes-1 {
		b.codes[b.nCodes] = codeCount{0, 0}
		b.nCodes++
	}
	b.codes[MaxCodes-1].count++
}

func (b *bucket) cache(name string) {
	for i := range b.nCaches {
		if b.caches[i].name == name {
			b.caches[i].count++
			return
		}
	}
	if b.nCaches < MaxCaches {
		// Cache statuses are the cache package's constants: kept as is.
		b.caches[b.nCaches] = nameCount{name, 1}
		b.nCaches++
		return
	}
	b.caches[MaxCaches].name = OtherName
	b.caches[MaxCaches].count++
}

func (b *bucket) server(addr string) *serverAgg {
	for i := range b.servers {
		if b.servers[i].addr == addr {
			return &b.servers[i]
		}
	}
	n := len(b.servers)
	if n == MaxServers {
		return &b.servers[n-1] // the last slot is OtherName
	}
	if n == MaxServers-1 {
		addr = OtherName
	}
	if n < cap(b.servers) {
		b.servers = b.servers[:n+1]
		if b.servers[n].latency == nil {
			b.servers[n].latency = sketch.New()
		}
	} else {
		b.servers = append(b.servers, serverAgg{latency: sketch.New()})
	}
	sv := &b.servers[n]
	// Server addresses come from the compiled config and live as long as
	// it: kept without a copy.
	sv.addr = addr
	return sv
}

// topK is a space-saving summary (Metwally et al. 2005) of the paths: the
// TopPaths most frequent are kept, each count overestimates its path's
// true count by at most its err, and any path seen more than
// requests/TopPaths times is in it.
type topK struct {
	n     int
	slots [TopPaths]pathSlot
}

type pathSlot struct {
	hash       uint64
	count, err uint64
	path       []byte
}

var pathSeed = maphash.MakeSeed()

func (t *topK) reset() {
	for i := range t.n {
		t.slots[i].count, t.slots[i].err, t.slots[i].hash = 0, 0, 0
		t.slots[i].path = t.slots[i].path[:0]
	}
	t.n = 0
}

func (t *topK) add(path string) {
	if len(path) > MaxPathLen {
		path = path[:MaxPathLen]
	}
	h := maphash.String(pathSeed, path)
	for i := range t.n {
		if sl := &t.slots[i]; sl.hash == h && string(sl.path) == path {
			sl.count++
			return
		}
	}
	if t.n < TopPaths {
		sl := &t.slots[t.n]
		t.n++
		sl.hash, sl.count, sl.err = h, 1, 0
		sl.path = append(sl.path[:0], path...)
		return
	}
	m := 0
	for i := 1; i < TopPaths; i++ {
		if t.slots[i].count < t.slots[m].count {
			m = i
		}
	}
	sl := &t.slots[m]
	sl.hash, sl.err = h, sl.count
	sl.count++
	// The slot's buffer keeps its capacity: after warm-up no path
	// allocates.
	sl.path = append(sl.path[:0], path...)
}

// TakeSeconds hands over the app's seconds before second before (Unix
// time) as protos, appended to out, and how many finished seconds were
// dropped since the last call because nobody took them.
func (a *App) TakeSeconds(appID string, before int64, out []*metricsv1.AppSecond) ([]*metricsv1.AppSecond, uint64) {
	s := a.sec
	if s == nil {
		return out, 0
	}
	s.mu.Lock()
	for i, b := range s.open {
		if b != nil && b.second < before {
			s.close(b)
			s.open[i] = nil
		}
	}
	taken := s.closed
	s.closed = make([]*bucket, 0, 4)
	dropped := s.dropped
	s.dropped = 0
	idle := len(taken) == 0 && s.open[0] == nil && s.open[1] == nil
	if idle {
		s.free = nil // an idle app gives its memory back
	}
	s.mu.Unlock()
	slices.SortFunc(taken, func(x, y *bucket) int { return cmp.Compare(x.second, y.second) })
	for _, b := range taken {
		if b.used {
			out = append(out, b.proto(appID))
		}
		b.reset()
	}
	if len(taken) > 0 {
		s.mu.Lock()
		s.free = append(s.free, taken...)
		if len(s.free) > MaxClosed {
			s.free = s.free[:MaxClosed]
		}
		s.mu.Unlock()
	}
	return out, dropped
}

func (b *bucket) proto(appID string) *metricsv1.AppSecond {
	p := &metricsv1.AppSecond{
		AppId: appID, UnixSecond: b.second, Requests: b.requests,
		BytesIn: b.bytesIn, BytesOut: b.bytesOut, LatencyMs: b.latency.Proto(),
	}
	for _, c := range b.codes[:b.nCodes] {
		p.Status = append(p.Status, &metricsv1.CodeCount{Code: uint32(c.code), Count: c.count})
	}
	for _, c := range b.caches {
		if c.count > 0 {
			p.Cache = append(p.Cache, &metricsv1.NameCount{Name: c.name, Count: c.count})
		}
	}
	for k, n := range b.upErrors {
		if n > 0 {
			p.UpstreamErrors = append(p.UpstreamErrors, &metricsv1.NameCount{Name: UpstreamErrorNames[k], Count: n})
		}
	}
	for i := range b.servers {
		sv := &b.servers[i]
		u := &metricsv1.UpstreamSecond{Server: sv.addr, Attempts: sv.attempts, LatencyMs: sv.latency.Proto()}
		for k, n := range sv.errors {
			if n > 0 {
				u.Errors = append(u.Errors, &metricsv1.NameCount{Name: UpstreamErrorNames[k], Count: n})
			}
		}
		p.Upstreams = append(p.Upstreams, u)
	}
	for _, sl := range b.paths.slots[:b.paths.n] {
		// Decoded paths may hold any bytes, and the cut at MaxPathLen may
		// split a rune: proto strings must be UTF-8.
		p.Paths = append(p.Paths, &metricsv1.NameCount{Name: strings.ToValidUTF8(string(sl.path), "\uFFFD"), Count: sl.count, Error: sl.err})
	}
	slices.SortFunc(p.Paths, func(x, y *metricsv1.NameCount) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Name, y.Name))
	})
	b.waf.proto(p)
	return p
}
