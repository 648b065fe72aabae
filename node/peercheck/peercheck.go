// Package peercheck probes the other nodes of the node's gateway set: a
// TCP connect to each peer's tier address (its plain HTTP listener) every
// round, at most PerRound peers per round (rotating through larger sets),
// Concurrency at a time, each bounded by Timeout. The heartbeat carries the
// latest result per peer (NodeStatus.peer_checks); the nodes service fails
// a node a majority of its reporting peers cannot reach (docs/gslb.md).
package peercheck

import (
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

// Defaults of Options.
const (
	DefaultInterval    = 2 * time.Second
	DefaultTimeout     = time.Second
	DefaultPerRound    = 32
	DefaultConcurrency = 8
)

// Target is one peer to probe.
type Target struct {
	NodeID, Address string
}

// Options configure a Checker.
type Options struct {
	// Self is this node's id: never probed.
	Self string
	// Interval between rounds, Timeout of one probe, PerRound peers at most
	// per round and Concurrency probes at once; zero means the defaults.
	Interval, Timeout     time.Duration
	PerRound, Concurrency int
	// MaxAge drops results older than this from Report; 0 means three
	// rounds (so a heartbeat carries at most 3*PerRound results, and in a
	// set larger than PerRound each peer is reported by a rotating subset
	// of its peers).
	MaxAge time.Duration
}

type result struct {
	ok  bool
	err string
	at  time.Time
}

// Checker probes peers; safe for concurrent use.
type Checker struct {
	opts Options

	mu      sync.Mutex
	targets []Target          // sorted by node id, Self excluded
	next    int               // rotation offset into targets
	results map[string]result // by node id, only current targets

	stop context.CancelFunc
	done chan struct{}
}

// New returns a checker with no targets.
func New(o Options) *Checker {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.PerRound <= 0 {
		o.PerRound = DefaultPerRound
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 3*o.Interval + o.Timeout
	}
	return &Checker{opts: o, results: map[string]result{}}
}

// SetTargets replaces the peers (the gateway set's check nodes); results of
// peers no longer listed are forgotten.
func (c *Checker) SetTargets(ts []Target) {
	out := make([]Target, 0, len(ts))
	for _, t := range ts {
		if t.NodeID != "" && t.NodeID != c.opts.Self && t.Address != "" {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b Target) int { return strings.Compare(a.NodeID, b.NodeID) })
	out = slices.CompactFunc(out, func(a, b Target) bool { return a.NodeID == b.NodeID })
	c.mu.Lock()
	defer c.mu.Unlock()
	c.targets = out
	for id := range c.results {
		if !slices.ContainsFunc(out, func(t Target) bool { return t.NodeID == id }) {
			delete(c.results, id)
		}
	}
}

// Start runs rounds until Stop.
func (c *Checker) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.stop, c.done = cancel, make(chan struct{})
	go func() {
		defer close(c.done)
		t := time.NewTicker(c.opts.Interval)
		defer t.Stop()
		for {
			c.Round(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Stop ends the rounds and waits for the running one.
func (c *Checker) Stop() {
	if c.stop != nil {
		c.stop()
		<-c.done
	}
}

// Round probes the next PerRound peers (wrapping around) and records the
// results.
func (c *Checker) Round(ctx context.Context) {
	c.mu.Lock()
	n := min(len(c.targets), c.opts.PerRound)
	batch := make([]Target, 0, n)
	for i := range n {
		batch = append(batch, c.targets[(c.next+i)%len(c.targets)])
	}
	if len(c.targets) > 0 {
		c.next = (c.next + n) % len(c.targets)
	}
	c.mu.Unlock()
	sem := make(chan struct{}, c.opts.Concurrency)
	var wg sync.WaitGroup
	for _, t := range batch {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := c.probe(ctx, t.Address)
			c.mu.Lock()
			if slices.Contains(c.targets, t) {
				c.results[t.NodeID] = r
			}
			c.mu.Unlock()
		}()
	}
	wg.Wait()
}

func (c *Checker) probe(ctx context.Context, addr string) result {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	r := result{ok: err == nil, at: time.Now()}
	if err != nil {
		r.err = err.Error()
		return r
	}
	_ = conn.Close()
	return r
}

// Report is the latest result of each current peer, newer than MaxAge,
// sorted by node id: what the heartbeat carries.
func (c *Checker) Report() []*syncv1.PeerCheck {
	c.mu.Lock()
	defer c.mu.Unlock()
	maxAge := c.opts.MaxAge
	now := time.Now()
	out := make([]*syncv1.PeerCheck, 0, len(c.results))
	for _, t := range c.targets {
		r, ok := c.results[t.NodeID]
		if !ok || now.Sub(r.at) > maxAge {
			continue
		}
		out = append(out, &syncv1.PeerCheck{NodeId: t.NodeID, Ok: r.ok, Error: r.err, Time: timestamppb.New(r.at)})
	}
	return out
}
