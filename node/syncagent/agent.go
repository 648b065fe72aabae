// Package syncagent is the edge node's sync agent: it keeps the node's local store
// and running config in step with the control plane's snapshots of one
// partition track, delivered as deltas over NATS JetStream.
//
// The agent serves the stored snapshot first (static stability), then catches
// up: an ordered consumer on the track's delta subject resumes at the stream
// sequence after the last applied delta. A delta is applied only when it
// starts at the running version; an older one is a duplicate and skipped; any
// other is a gap and leads to a re-sync from the full snapshot in the Object
// Store, never to an apply. See docs/sync.md.
package syncagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/pkg/background"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/validate"
)

// SnapshotVersionMeta is the Object Store metadata key under which the
// control plane records a snapshot's version, so that a node can tell
// whether the snapshot is newer without downloading it.
const SnapshotVersionMeta = "version"

// Defaults and tunings.
const (
	DefaultHeartbeat = 5 * time.Second

	// requestTimeout bounds one JetStream API request across the leaf link.
	requestTimeout = 5 * time.Second
	// snapshotBandwidth is the slowest link (bytes/s) a snapshot download
	// is given time for.
	snapshotBandwidth = 256 << 10
	// snapshotReplacedCheck is how often a running download checks that
	// the snapshot was not replaced meanwhile.
	snapshotReplacedCheck = 500 * time.Millisecond
	// consumerHeartbeat is the idle heartbeat of the delta consumer: a link
	// that died silently is noticed after twice this.
	consumerHeartbeat = 5 * time.Second
	// consumerInactive lets the hub remove a consumer the agent could not
	// delete itself (link down when the session ended).
	consumerInactive = 2 * time.Minute
	minBackoff       = 50 * time.Millisecond
	maxBackoff       = 5 * time.Second
)

// Options configures an Agent.
type Options struct {
	// NATS is the connection the agent uses: to the node's own embedded
	// leaf server, or directly to the hub. When the node has credentials it
	// must use the inbox prefix natsutil.NodeInboxPrefix(NodeID).
	NATS *nats.Conn

	PartitionID string
	// Staging nodes follow the staging track, others the stable one.
	Staging   bool
	NodeID    string
	ClusterID string

	Store *store.Store
	// Apply swaps the running config (proxy.Update). It is called with
	// immutable snapshots, one call at a time, never concurrently.
	Apply func(*syncv1.Snapshot) error

	// Heartbeat is the interval of NodeStatus messages on
	// natsutil.NodeStatusSubject(NodeID); 0 means DefaultHeartbeat.
	Heartbeat time.Duration
	// Health, when set, reports the node's health for the heartbeat.
	Health func() (healthy bool, rps float64, conns uint64)
	// Status, when set, adds the node's own fields (its DNS state) to each
	// heartbeat before it is sent.
	Status func(*syncv1.NodeStatus)
	// LinkID, when set, identifies the node's current leaf connection to
	// the hub (0 while the link is down; a new value after every
	// reconnect). The agent polls it and restarts its consumer as soon as
	// the link is back, instead of waiting for a missed consumer heartbeat
	// (up to 10 s) to notice the deliveries lost while it was down. An id
	// rather than up/down so that a drop shorter than the poll interval is
	// noticed too.
	LinkID func() uint64

	Logger *slog.Logger
}

func (o *Options) validate() error {
	switch {
	case o.NATS == nil:
		return errors.New("sync: Options.NATS: required")
	case o.Store == nil:
		return errors.New("sync: Options.Store: required")
	case o.Apply == nil:
		return errors.New("sync: Options.Apply: required")
	case o.Heartbeat < 0:
		return fmt.Errorf("sync: Options.Heartbeat %s: must not be negative", o.Heartbeat)
	}
	if err := validToken("PartitionID", o.PartitionID); err != nil {
		return err
	}
	return validToken("NodeID", o.NodeID)
}

// validToken checks that s can be one NATS subject token: it ends up in
// subjects and consumer names.
func validToken(field, s string) error {
	if s == "" {
		return fmt.Errorf("sync: Options.%s: required", field)
	}
	if r := validate.SubjectToken(s); r != "" {
		return fmt.Errorf("sync: Options.%s %q: %s", field, s, r)
	}
	return nil
}

// Stats counts what the agent did since it started.
type Stats struct {
	// Applied counts deltas applied.
	Applied uint64
	// Skipped counts duplicate deltas (to_version at or below the running
	// version).
	Skipped uint64
	// Snapshots counts full snapshots installed from the Object Store.
	Snapshots uint64
	// Gaps counts deltas that did not start at the running version.
	Gaps uint64
	// ApplyErrors counts snapshots Apply rejected and bundles or deltas the
	// store did not take (upgrade needed, write failed).
	ApplyErrors uint64
}

// Agent follows one partition track. Create it with New.
type Agent struct {
	opts    Options
	log     *slog.Logger
	js      jetstream.JetStream
	subject string

	// Owned by the run goroutine (and by Start before it runs).
	cur        *syncv1.Snapshot // the stored snapshot: deltas apply on top of it
	seq        uint64           // resume point: deltas needed next are after it
	obs        jetstream.ObjectStore
	lastDigest string // digest of the last snapshot object handled

	version atomic.Uint64 // version Apply accepted last
	stats   struct{ applied, skipped, snapshots, gaps, applyErrors atomic.Uint64 }

	mu        gosync.Mutex
	appliedAt time.Time
	applyErr  error

	synced     chan struct{}
	syncedOnce gosync.Once
	nudge      chan struct{}

	startOnce gosync.Once
	started   bool // by Start, before Stop may run
	byeOnce   gosync.Once
	bg        background.Group // run, heartbeat and the link watch
}

// New validates opts and returns an agent; Start runs it.
func New(opts Options) (*Agent, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	js, err := jetstream.NewWithDomain(opts.NATS, natsutil.HubDomain)
	if err != nil {
		return nil, fmt.Errorf("sync: jetstream: %w", err)
	}
	return &Agent{
		opts:    opts,
		log:     opts.Logger.With("component", "sync", "partition", opts.PartitionID, "track", natsutil.Track(opts.Staging)),
		js:      js,
		subject: natsutil.DeltaSubject(opts.PartitionID, opts.Staging),
		synced:  make(chan struct{}),
		nudge:   make(chan struct{}, 1),
	}, nil
}

// Start applies the stored snapshot at once, so the node serves before the
// control plane answers, then follows the track in the background until
// Stop. The background work does not end with ctx.
func (a *Agent) Start(ctx context.Context) error {
	err := errors.New("sync: agent already started")
	a.startOnce.Do(func() {
		err = nil
		snap, meta, lerr := a.opts.Store.Load()
		if lerr != nil {
			err = fmt.Errorf("sync: load stored snapshot: %w", lerr)
			return
		}
		switch {
		case snap == nil:
			a.log.Info("no stored snapshot; waiting for the control plane")
		case snap.GetPartitionId() != a.opts.PartitionID || snap.GetStaging() != a.opts.Staging:
			a.log.Warn("stored snapshot belongs to another partition track; ignoring it",
				"stored_partition", snap.GetPartitionId(), "stored_staging", snap.GetStaging())
		default:
			a.cur, a.seq = snap, meta.StreamSeq
			a.log.Info("serving stored snapshot", "version", snap.GetVersion(), "stream_seq", meta.StreamSeq, "apps", len(snap.GetApps()))
			a.install(snap)
		}
		_ = a.bg.Start(ctx) // fails only when running: not within startOnce
		a.started = true
		a.bg.Go(a.heartbeat)
		if a.opts.LinkID != nil {
			a.bg.Go(func(ctx context.Context) {
				natsutil.WatchLink(ctx, a.opts.LinkID, func(link uint64) {
					a.log.Info("link to the hub is back", "link", link)
					a.Nudge()
				})
			})
		}
		a.bg.Go(a.run)
	})
	return err
}

// Stop ends the agent and waits for it, at most until ctx is done, then
// says goodbye: one last NodeStatus with leaving set, sent as a request, so
// that the control plane takes the node out of gateway answers at once
// rather than when its heartbeats age out. Stop waits for the reply at most
// goodbyeTimeout (and not past ctx); without one (no control plane, link
// down) the node ages out as after a crash.
func (a *Agent) Stop(ctx context.Context) error {
	if !a.started {
		return nil
	}
	if err := a.bg.Stop(ctx); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	a.byeOnce.Do(func() { a.goodbye(ctx) })
	return nil
}

// goodbyeTimeout bounds how long Stop waits for the control plane to
// acknowledge the goodbye.
const goodbyeTimeout = 2 * time.Second

func (a *Agent) goodbye(ctx context.Context) {
	st := a.status()
	st.Leaving, st.Healthy = true, false
	st.Dns = configv1.NodeDnsState_NODE_DNS_STATE_OFF
	data, err := proto.Marshal(st)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, goodbyeTimeout)
	defer cancel()
	if _, err := a.opts.NATS.RequestWithContext(ctx, natsutil.NodeStatusSubject(a.opts.NodeID), data); err != nil {
		a.log.Info("goodbye not acknowledged; the control plane takes the node offline when its heartbeats age out", "err", err)
		return
	}
	a.log.Info("said goodbye: out of gateway answers")
}

// Version is the version of the snapshot last accepted by Apply (0 before
// any).
func (a *Agent) Version() uint64 { return a.version.Load() }

// Synced is closed once the agent has caught up with the track for the first
// time since Start.
func (a *Agent) Synced() <-chan struct{} { return a.synced }

// Stats returns counters since Start.
func (a *Agent) Stats() Stats {
	return Stats{
		Applied:     a.stats.applied.Load(),
		Skipped:     a.stats.skipped.Load(),
		Snapshots:   a.stats.snapshots.Load(),
		Gaps:        a.stats.gaps.Load(),
		ApplyErrors: a.stats.applyErrors.Load(),
	}
}

// LastApply reports when Apply last accepted a snapshot (zero before any)
// and the error of the latest Apply (nil when it accepted it).
func (a *Agent) LastApply() (at time.Time, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.appliedAt, a.applyErr
}

// Nudge tells the agent that the link to the hub came back: it restarts its
// consumer at once instead of waiting for a missed heartbeat (up to twice
// the 5 s consumer heartbeat) to notice the deliveries it lost.
func (a *Agent) Nudge() {
	select {
	case a.nudge <- struct{}{}:
	default:
	}
}

// errRestart ends a session that should start over at once (a snapshot was
// installed, or the agent was nudged).
var errRestart = errors.New("restart")

// run keeps one consume session going, backing off after failures.
func (a *Agent) run(ctx context.Context) {
	backoff := minBackoff
	started := time.Now()
	for {
		applied := a.stats.applied.Load() + a.stats.snapshots.Load()
		nudged, err := natsutil.UntilNudged(ctx, a.nudge, a.session)
		if ctx.Err() != nil {
			return
		}
		if nudged || errors.Is(err, errRestart) {
			backoff = minBackoff
			continue
		}
		if a.stats.applied.Load()+a.stats.snapshots.Load() != applied {
			backoff = minBackoff
		}
		a.log.Log(ctx, natsutil.RetryLevel(err, started), "sync session ended; retrying", "err", err, "in", backoff)
		wait := time.NewTimer(jitter(backoff))
		select {
		case <-ctx.Done():
			wait.Stop()
			return
		case <-a.nudge:
			wait.Stop()
			backoff = minBackoff
			continue
		case <-wait.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}
