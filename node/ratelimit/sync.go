package ratelimit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/strata-edge/strata/pkg/natsutil"
)

// Cluster-wide counters: every Interval each node publishes the requests
// its cluster rules accepted since the last flush (per key hash and
// window) on natsutil.RateLimitSubject, and adds what its peers publish to
// its own counters. A node therefore sees its peers' requests at most
// about Interval plus the network's delay late (the staleness bound), and
// a peer it cannot hear simply stops adding: the node falls back to
// counting alone (fails open to a per-node limit) and never waits on NATS
// to answer a request.

// DefaultInterval is how often a node publishes its deltas.
const DefaultInterval = 100 * time.Millisecond

// DefaultMaxAge drops peers' deltas sent longer ago than this (by the
// sender's clock): late counts of a token bucket would land as a burst.
const DefaultMaxAge = 2 * time.Second

// wire format of one message: version byte, sent time (Unix ns, int64 LE),
// then records of key hash (8), window (8, 0 for a token bucket) and count
// (4), little-endian.
const (
	wireVersion = 1
	headerSize  = 9
	recordSize  = 20
	maxRecords  = 32 << 10 // 640 KiB per message, under NATS's 1 MiB default
)

// SyncOptions configure Sync.
type SyncOptions struct {
	NATS                           *nats.Conn
	PartitionID, ClusterID, NodeID string
	Interval                       time.Duration // DefaultInterval when 0
	MaxAge                         time.Duration // DefaultMaxAge when 0
	Logger                         *slog.Logger
}

// Sync shares a Limiter's cluster counters with the nodes of its cluster.
type Sync struct {
	l    *Limiter
	opts SyncOptions
	self string
	sub  *nats.Subscription
	stop chan struct{}
	done sync.WaitGroup
	buf  []byte
}

// NewSync validates opts; Start begins the exchange.
func NewSync(l *Limiter, opts SyncOptions) (*Sync, error) {
	if opts.NATS == nil {
		return nil, errors.New("ratelimit: SyncOptions.NATS: required")
	}
	if opts.PartitionID == "" || opts.ClusterID == "" || opts.NodeID == "" {
		return nil, errors.New("ratelimit: SyncOptions.PartitionID, ClusterID and NodeID: required")
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Sync{l: l, opts: opts, self: natsutil.RateLimitSubject(opts.PartitionID, opts.ClusterID, opts.NodeID)}, nil
}

// Start subscribes to the peers' counters and starts publishing.
func (s *Sync) Start() error {
	sub, err := s.opts.NATS.Subscribe(natsutil.RateLimitClusterSubjects(s.opts.PartitionID, s.opts.ClusterID), s.receive)
	if err != nil {
		return fmt.Errorf("ratelimit: subscribe: %w", err)
	}
	// Drops rather than queues when this node falls behind: old counts are
	// worth little.
	_ = sub.SetPendingLimits(4096, 64<<20)
	s.sub = sub
	s.stop = make(chan struct{})
	s.done.Add(1)
	go s.run()
	return nil
}

// Stop ends the exchange (the Limiter goes on counting alone).
func (s *Sync) Stop() {
	if s.stop == nil {
		return
	}
	close(s.stop)
	s.done.Wait()
	_ = s.sub.Unsubscribe()
	s.stop = nil
}

func (s *Sync) run() {
	defer s.done.Done()
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	minGap := s.opts.Interval / 20
	var last time.Time
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.flush(now)
			last = now
		case <-s.l.kick:
			// A hot key: publish now, but not more often than minGap.
			if wait := minGap - time.Since(last); wait > 0 {
				select {
				case <-s.stop:
					return
				case <-time.After(wait):
				}
			}
			last = time.Now()
			s.flush(last)
		}
	}
}

// flush publishes the deltas since the last flush. When the connection is
// down they are dropped: NATS would replay them late, as a burst.
func (s *Sync) flush(now time.Time) {
	connected := s.opts.NATS.IsConnected()
	s.buf = s.buf[:0]
	n := 0
	send := func() {
		if n == 0 {
			return
		}
		if err := s.opts.NATS.Publish(s.self, s.buf); err != nil {
			s.opts.Logger.Debug("ratelimit: publish counters", "err", err)
		}
		s.buf, n = s.buf[:0], 0
	}
	for i := range s.l.shards {
		sh := &s.l.shards[i]
		sh.mu.Lock()
		for k, c := range sh.pending {
			if !connected {
				break
			}
			if n == 0 {
				s.buf = append(s.buf, wireVersion)
				s.buf = binary.LittleEndian.AppendUint64(s.buf, uint64(now.UnixNano()))
			}
			s.buf = binary.LittleEndian.AppendUint64(s.buf, k.h)
			s.buf = binary.LittleEndian.AppendUint64(s.buf, uint64(k.win))
			s.buf = binary.LittleEndian.AppendUint32(s.buf, c)
			if n++; n == maxRecords {
				sh.mu.Unlock()
				send()
				sh.mu.Lock()
			}
		}
		clear(sh.pending)
		sh.mu.Unlock()
	}
	send()
}

func (s *Sync) receive(m *nats.Msg) {
	if m.Subject == s.self {
		return
	}
	if err := s.l.apply(m.Data, time.Now(), s.opts.MaxAge); err != nil {
		s.opts.Logger.Debug("ratelimit: peer counters", "subject", m.Subject, "err", err)
	}
}

// apply adds a peer's message of deltas to the counters.
func (l *Limiter) apply(data []byte, now time.Time, maxAge time.Duration) error {
	if len(data) < headerSize || data[0] != wireVersion || (len(data)-headerSize)%recordSize != 0 {
		return errors.New("malformed message")
	}
	ns := now.UnixNano()
	sent := int64(binary.LittleEndian.Uint64(data[1:]))
	if age := ns - sent; age > int64(maxAge) || age < -int64(maxAge) {
		return fmt.Errorf("sent %s ago, more than %s: dropped", time.Duration(age), maxAge)
	}
	for p := data[headerSize:]; len(p) > 0; p = p[recordSize:] {
		h := binary.LittleEndian.Uint64(p)
		win := int64(binary.LittleEndian.Uint64(p[8:]))
		n := int64(binary.LittleEndian.Uint32(p[16:]))
		s := l.shard(h)
		s.mu.Lock()
		e, found := s.get(h)
		if win == 0 {
			e = addBucket(e, found, n, ns)
		} else {
			e = addWindow(e, found, n, win)
		}
		forgot := s.put(h, e, l.perShard)
		s.mu.Unlock()
		if forgot > 0 {
			l.evicted.Add(uint64(forgot))
		}
	}
	return nil
}

// addBucket adds n peer requests to a token bucket's excess, drained to
// now first when the rate is known (a key this node counted before).
func addBucket(e entry, found bool, n, ns int64) entry {
	switch {
	case !found:
		// The sender's first request of the key was free (excess 0, as
		// every key's first is): the cluster's first is, once.
		return entry{t: ns, a: (n - 1) * 1000}
	case e.b > 0:
		e.a -= leak(math.Float64frombits(uint64(e.b)), ns-e.t)
		if e.a < 0 {
			e.a = 0
		}
		e.t = ns
	}
	e.a += n * 1000
	return e
}

// addWindow adds n peer requests to window win.
func addWindow(e entry, found bool, n, win int64) entry {
	switch {
	case !found || win > e.t+1:
		return entry{t: win, a: n}
	case win == e.t+1:
		return entry{t: win, a: n, b: e.a}
	case win == e.t:
		e.a += n
	case win == e.t-1:
		e.b += n
	}
	return e
}
