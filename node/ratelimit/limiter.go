package ratelimit

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-edge/strata/pkg/rules"
)

// DefaultMaxKeys is how many keys a Limiter keeps counters for without
// Options.MaxKeys: about 40 bytes each plus the map's overhead, some 20 MB.
const DefaultMaxKeys = 1 << 18

const numShards = 64

// Options configure a Limiter.
type Options struct {
	// MaxKeys bounds the counters kept (all rules together). Past it the
	// least recently used keys are forgotten first: a flood of distinct
	// keys costs the flooder's keys and, at worst, gives forgotten clients
	// a fresh allowance; it never grows memory or stops traffic.
	MaxKeys int
}

// Limiter holds the counters of every rule of a node. Its methods are safe
// for concurrent use; the proxy keeps one across config updates.
type Limiter struct {
	shards   [numShards]shard
	perShard int // entries per generation of a shard (two generations)

	exceeded, delayed, evicted, dropped atomic.Uint64
	byLimit                             sync.Map // LimitID -> *limitCounts
	// kick asks Sync to publish now: a cluster key's deltas reached its
	// rule's flushAt.
	kick chan struct{}
}

// LimitID names a limit: its app and name.
type LimitID struct{ App, Name string }

// LimitCounts are one limit's outcomes on this node.
type LimitCounts struct {
	Exceeded uint64 // over the limit, whatever on_exceed did with them
	Delayed  uint64
}

type limitCounts struct {
	exceeded, delayed atomic.Uint64
	reported          atomic.Int64 // Unix ns of the last Report that said yes
}

// ReportEvery is how often Report lets one limit's exceeded requests into
// the hit log: a flood rejected by a limit must not become a flood of hits.
const ReportEvery = 100 * time.Millisecond

// Report says whether an exceeded request of r at now goes to the hit log:
// at most one per ReportEvery per limit (the counters count them all).
func (l *Limiter) Report(r *Rule, now time.Time) bool {
	c := l.limitCounts(r)
	ns := now.UnixNano()
	last := c.reported.Load()
	return ns-last >= int64(ReportEvery) && c.reported.CompareAndSwap(last, ns)
}

func (l *Limiter) limitCounts(r *Rule) *limitCounts {
	if c, ok := l.byLimit.Load(r.id); ok {
		return c.(*limitCounts)
	}
	c, _ := l.byLimit.LoadOrStore(r.id, new(limitCounts))
	return c.(*limitCounts)
}

// shard is one lock's share of the keys. The two maps are generations:
// new keys go to cur; when cur is full it becomes old and the keys only in
// the previous old are forgotten. A key found in old moves to cur. This
// keeps at most 2*perShard keys, the recently used ones, without a list.
type shard struct {
	mu       sync.Mutex
	cur, old map[uint64]entry
	// pending counts this node's accepted requests of cluster rules since
	// the last Sync flush, by key and window.
	pending map[pendKey]uint32
	_       [64]byte // keep shards on their own cache lines
}

type pendKey struct {
	h   uint64
	win int64 // the window index; 0 for a token bucket
}

// entry is one key's counters.
//
// Token bucket: t is the time of the last update (Unix ns), a the excess
// in thousandths of a request (nginx limit_req's "excess"), b the rate
// (float64 bits, thousandths per second) of the rule that last counted (0
// while only peers have counted the key).
// Windows: t is the window index (time / period), a the count in window t,
// b the count in window t-1.
type entry struct{ t, a, b int64 }

// New returns an empty Limiter.
func New(opts Options) *Limiter {
	keys := opts.MaxKeys
	if keys <= 0 {
		keys = DefaultMaxKeys
	}
	l := &Limiter{perShard: max(1, keys/numShards/2), kick: make(chan struct{}, 1)}
	for i := range l.shards {
		s := &l.shards[i]
		s.cur = make(map[uint64]entry)
		s.old = make(map[uint64]entry)
		s.pending = make(map[pendKey]uint32)
	}
	return l
}

// shard picks by the top bits of a Fibonacci hash of h, spread whatever h.
func (l *Limiter) shard(h uint64) *shard { return &l.shards[(h*0x9E3779B97F4A7C15)>>58] }

// get returns the entry of h (moving it to the current generation).
func (s *shard) get(h uint64) (entry, bool) {
	if e, ok := s.cur[h]; ok {
		return e, true
	}
	e, ok := s.old[h]
	if ok {
		delete(s.old, h)
	}
	return e, ok
}

// put stores e for h, rotating the generations when cur is full; it
// reports how many keys the rotation forgot.
func (s *shard) put(h uint64, e entry, per int) int {
	if _, ok := s.cur[h]; !ok && len(s.cur) >= per {
		forgot := len(s.old)
		s.old, s.cur = s.cur, make(map[uint64]entry, per)
		s.cur[h] = e
		return forgot
	}
	s.cur[h] = e
	return 0
}

// Outcome is what Take decided.
type Outcome uint8

const (
	Pass     Outcome = iota // under the limit (or not counted)
	Delayed                 // passes after Decision.Wait (token bucket DELAY)
	Exceeded                // over the limit: the rule's OnExceed applies; Wait is the Retry-After
)

func (o Outcome) String() string { return [...]string{"pass", "delayed", "exceeded"}[o] }

// Decision is Take's answer.
type Decision struct {
	Outcome Outcome
	// Wait is how long a Delayed request waits, or when an Exceeded one
	// may try again.
	Wait time.Duration
}

// Take counts one request with key hash h (Rule.Key) under r at now. An
// exceeded request is not counted (as nginx: rejected requests do not
// drain the allowance), also when the rule only logs.
func (l *Limiter) Take(r *Rule, h uint64, now time.Time) Decision {
	ns := now.UnixNano()
	s := l.shard(h)
	s.mu.Lock()
	e, found := s.get(h)
	var d Decision
	var win int64
	if r.Algorithm == TokenBucket {
		d, e = r.bucket(e, found, ns)
	} else {
		win = ns / int64(r.Period)
		d, e = r.window(e, found, ns, win)
	}
	forgot := s.put(h, e, l.perShard)
	kick := false
	if d.Outcome != Exceeded && r.Cluster {
		k := pendKey{h, win}
		if n, ok := s.pending[k]; ok || len(s.pending) < 2*l.perShard {
			s.pending[k] = n + 1
			kick = n+1 == r.flushAt
		} else {
			l.dropped.Add(1)
		}
	}
	s.mu.Unlock()
	if kick {
		select {
		case l.kick <- struct{}{}:
		default: // one is pending already
		}
	}
	if forgot > 0 {
		l.evicted.Add(uint64(forgot))
	}
	switch d.Outcome {
	case Exceeded:
		l.exceeded.Add(1)
		l.limitCounts(r).exceeded.Add(1)
	case Delayed:
		l.delayed.Add(1)
		l.limitCounts(r).delayed.Add(1)
	}
	return d
}

// bucket is nginx limit_req: the excess grows by one request per request
// and drains at the rate; a request that would take it above the burst is
// over the limit. The first request of a key starts at excess 0.
func (r *Rule) bucket(e entry, found bool, ns int64) (Decision, entry) {
	excess := int64(0)
	if found {
		excess = e.a + 1000 - leak(r.rate, ns-e.t)
		if excess < 0 {
			excess = 0
		}
	}
	burst := int64(r.Burst) * 1000
	if excess > burst {
		return Decision{Outcome: Exceeded, Wait: r.drain(excess - burst)}, e
	}
	d := Decision{Outcome: Pass}
	if r.OnExceed == Delay {
		if over := excess - int64(r.NoDelay)*1000; over > 0 {
			wait := r.drain(over)
			if wait > r.DelayMax {
				return Decision{Outcome: Exceeded, Wait: wait - r.DelayMax}, e
			}
			d = Decision{Outcome: Delayed, Wait: wait}
		}
	}
	return d, entry{t: ns, a: excess, b: int64(math.Float64bits(r.rate))}
}

// leak is how many thousandths of a request rate (per second) drains in ns
// nanoseconds.
func leak(rate float64, ns int64) int64 {
	if ns <= 0 {
		return 0 // the clock went back: nothing drains
	}
	f := rate * float64(ns) / 1e9
	if f > math.MaxInt64/4 {
		return math.MaxInt64 / 4
	}
	return int64(f)
}

// drain is how long the rule's rate takes to drain milli thousandths of a
// request.
func (r *Rule) drain(milli int64) time.Duration {
	if milli <= 0 {
		return 0
	}
	return time.Duration(float64(milli) / r.rate * float64(time.Second))
}

// window counts in fixed windows aligned on the Unix epoch (every node of
// a cluster agrees on them), and for the sliding window adds the previous
// window's count weighted by how much of it the sliding period still
// covers.
func (r *Rule) window(e entry, found bool, ns, win int64) (Decision, entry) {
	switch {
	case !found || e.t < win-1:
		e = entry{t: win}
	case e.t == win-1:
		e = entry{t: win, b: e.a}
	case e.t > win:
		// The clock went back past a window: count in the newer one.
		win = e.t
	}
	period := int64(r.Period)
	end := (win + 1) * period
	limit := int64(r.Requests)
	if r.Algorithm == FixedWindow {
		if e.a >= limit {
			return Decision{Outcome: Exceeded, Wait: time.Duration(end - ns)}, e
		}
	} else {
		left := float64(end-ns) / float64(period) // share of the previous window still covered
		if left > 1 {
			left = 1
		}
		if float64(e.b)*left+float64(e.a)+1 > float64(limit) {
			return Decision{Outcome: Exceeded, Wait: r.slideWait(e, ns, end)}, e
		}
	}
	e.a++
	return Decision{Outcome: Pass}, e
}

// slideWait is when a sliding window has room for one more request: when
// the previous window's weighted count has dropped enough, or else after
// this window, when the current count becomes the weighted one.
func (r *Rule) slideWait(e entry, ns, end int64) time.Duration {
	limit := float64(r.Requests)
	period := float64(r.Period)
	if room := limit - float64(e.a) - 1; room >= 0 && e.b > 0 {
		// b * (end-t)/period + a + 1 <= limit  <=>  t >= end - room*period/b
		t := float64(end) - room*period/float64(e.b)
		return time.Duration(math.Max(0, t-float64(ns)))
	}
	wait := float64(end - ns)
	if e.a > 0 {
		if room := limit - 1; room >= 0 {
			wait += math.Max(0, period-room*period/float64(e.a))
		}
	}
	return time.Duration(wait)
}

// Counts are a Limiter's counters since New.
type Counts struct {
	Exceeded, Delayed uint64
	Evicted           uint64 // keys forgotten to stay under MaxKeys
	Dropped           uint64 // cluster deltas not kept (table of deltas full)
	Keys              int    // keys kept now
	// Limits are the outcomes per limit (those with any).
	Limits map[LimitID]LimitCounts
}

// Counts returns the counters.
func (l *Limiter) Counts() Counts {
	c := Counts{Exceeded: l.exceeded.Load(), Delayed: l.delayed.Load(), Evicted: l.evicted.Load(), Dropped: l.dropped.Load()}
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		c.Keys += len(s.cur) + len(s.old)
		s.mu.Unlock()
	}
	l.byLimit.Range(func(k, v any) bool {
		if c.Limits == nil {
			c.Limits = map[LimitID]LimitCounts{}
		}
		lc := v.(*limitCounts)
		c.Limits[k.(LimitID)] = LimitCounts{Exceeded: lc.exceeded.Load(), Delayed: lc.delayed.Load()}
		return true
	})
	return c
}

// Check counts req under r at now: Key, then Take; a request without a
// key passes uncounted.
func (l *Limiter) Check(r *Rule, req rules.Request, now time.Time) Decision {
	h, ok := r.Key(req)
	if !ok {
		return Decision{}
	}
	return l.Take(r, h, now)
}
