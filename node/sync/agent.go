// Package sync is the edge node's sync agent: it keeps the node's local store
// and running config in step with the control plane's snapshots of one
// partition track, delivered as deltas over NATS JetStream.
//
// The agent serves the stored snapshot first (static stability), then catches
// up: an ordered consumer on the track's delta subject resumes at the stream
// sequence after the last applied delta. A delta is applied only when it
// starts at the running version; an older one is a duplicate and skipped; any
// other is a gap and leads to a re-sync from the full snapshot in the Object
// Store, never to an apply. See docs/sync.md.
package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/pkg/natsutil"
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
	// linkPoll is how often Options.LinkID is read.
	linkPoll   = 50 * time.Millisecond
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
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

// validToken checks that s can be one NATS subject token (and consumer name
// part): it ends up in subjects and names.
func validToken(field, s string) error {
	if s == "" {
		return fmt.Errorf("sync: Options.%s: required", field)
	}
	if i := strings.IndexAny(s, ". *>\t\r\n/\\"); i >= 0 {
		return fmt.Errorf("sync: Options.%s %q: must not contain %q", field, s, s[i:i+1])
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
	// ApplyErrors counts snapshots Apply rejected.
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
	byeOnce   gosync.Once
	cancel    context.CancelFunc
	done      chan struct{}
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
		done:    make(chan struct{}),
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
		runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		a.cancel = cancel
		go a.run(runCtx)
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
	if a.cancel == nil {
		return nil
	}
	a.cancel()
	select {
	case <-a.done:
	case <-ctx.Done():
		return fmt.Errorf("sync: stop: %w", ctx.Err())
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
	var wg gosync.WaitGroup
	defer func() {
		wg.Wait()
		close(a.done)
	}()
	wg.Go(func() { a.heartbeat(ctx) })
	if a.opts.LinkID != nil {
		wg.Go(func() { a.watchLink(ctx) })
	}
	backoff := minBackoff
	started := time.Now()
	for {
		applied := a.stats.applied.Load() + a.stats.snapshots.Load()
		err := a.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errRestart) {
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

// heartbeat publishes NodeStatus every Options.Heartbeat.
func (a *Agent) heartbeat(ctx context.Context) {
	t := time.NewTicker(a.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.publishStatus()
		}
	}
}

// watchLink nudges the agent each time Options.LinkID reports a new link.
func (a *Agent) watchLink(ctx context.Context) {
	t := time.NewTicker(linkPoll)
	defer t.Stop()
	link := a.opts.LinkID()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := a.opts.LinkID()
		if now != 0 && now != link {
			a.log.Info("link to the hub is back", "link", now)
			a.Nudge()
		}
		link = now
	}
}

func jitter(d time.Duration) time.Duration {
	return d - d/5 + rand.N(d/5*2+1)
}

// session positions a consumer on the delta subject and applies what it
// delivers until something goes wrong. It returns errRestart when it should
// start over without delay.
//
// The consumer is what nats.go calls an ordered consumer (ephemeral, in
// memory, no acks, resumed from the last applied sequence on any hiccup),
// but the agent runs it itself: nats.go's OrderedConsumer recreates itself
// with requests of its own 10 s timeout that the caller cannot cancel, which
// kept a node behind for 10 s whenever its link dropped during a reset.
func (a *Agent) session(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	go func() {
		select {
		case <-a.nudge:
			cancel()
		case <-ctx.Done():
		}
	}()
	nudged := func(err error) error {
		if ctx.Err() != nil && parent.Err() == nil {
			return errRestart
		}
		return err
	}

	if a.cur == nil {
		if err := a.bootstrap(ctx); err != nil {
			return nudged(err)
		}
	}
	cfg, err := a.position(ctx)
	if err != nil {
		return nudged(err)
	}
	cctx, ccancel := context.WithTimeout(ctx, requestTimeout)
	cons, err := a.js.CreateConsumer(cctx, natsutil.SyncStream, cfg)
	ccancel()
	if err != nil {
		return nudged(fmt.Errorf("create consumer on %s: %w", a.subject, err))
	}
	defer a.deleteConsumer(cons)
	info := cons.CachedInfo()
	a.log.Debug("consumer created", "name", info.Name, "policy", cfg.DeliverPolicy.String(), "start_seq", cfg.OptStartSeq, "pending", info.NumPending)
	if info.NumPending == 0 {
		// Nothing after our position: up to date, unless the deltas we
		// missed aged out or were purged. The snapshot's version tells;
		// whatever is published from now on is delivered either way.
		if err := a.refreshSnapshot(ctx, a.seq); err != nil {
			return nudged(err)
		}
		a.markSynced()
	}
	it, err := cons.Messages(
		jetstream.PullHeartbeat(consumerHeartbeat),
		jetstream.WithMessagesErrOnMissingHeartbeat(true),
	)
	if err != nil {
		return nudged(fmt.Errorf("consume %s: %w", a.subject, err))
	}
	defer it.Stop()
	var delivered uint64 // consumer sequence of the last delivery
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return nudged(fmt.Errorf("next delta on %s: %w", a.subject, err))
		}
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("delta metadata: %w", err)
		}
		if md.Sequence.Consumer != delivered+1 {
			// Deliveries were lost (the link dropped): start again after
			// the last delta handled.
			return fmt.Errorf("consumer delivery %d after %d: deliveries lost", md.Sequence.Consumer, delivered)
		}
		delivered = md.Sequence.Consumer
		if err := a.handle(ctx, md.Sequence.Stream, msg.Data()); err != nil {
			return nudged(err)
		}
		if md.NumPending == 0 {
			a.markSynced()
		}
	}
}

// deleteConsumer removes a finished session's consumer from the hub (best
// effort: the hub removes it after consumerInactive anyway).
func (a *Agent) deleteConsumer(cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = a.js.DeleteConsumer(ctx, natsutil.SyncStream, info.Name)
}

// bootstrap gives a node without a stored snapshot its first one: the
// track's snapshot from the Object Store, or an empty version 0 when the
// control plane has published none yet.
func (a *Agent) bootstrap(ctx context.Context) error {
	snap, digest, err := a.fetchSnapshot(ctx)
	if err != nil {
		return err
	}
	if snap == nil {
		snap = store.BundleOf(&syncv1.Snapshot{PartitionId: a.opts.PartitionID, Staging: a.opts.Staging})
	}
	if err := a.installSnapshot(snap, 0); err != nil {
		return err
	}
	a.lastDigest = digest
	return nil
}

// position decides where the consumer starts: after the last applied delta,
// or at the start of the track when the stream was recreated (its last
// sequence is below ours).
func (a *Agent) position(ctx context.Context) (jetstream.ConsumerConfig, error) {
	cfg := jetstream.ConsumerConfig{
		Name:              a.consumerName(),
		FilterSubject:     a.subject,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       a.seq + 1,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: consumerInactive,
	}
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	stream, err := a.js.Stream(rctx, natsutil.SyncStream)
	if err != nil {
		return cfg, fmt.Errorf("look up stream %s: %w", natsutil.SyncStream, err)
	}
	if last := stream.CachedInfo().State.LastSeq; last < a.seq {
		a.log.Warn("delta stream restarted its sequences; reading the track from its start",
			"stored_stream_seq", a.seq, "stream_last_seq", last)
		a.seq = 0
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverAllPolicy, 0
	}
	if a.seq == 0 && a.cur.GetVersion() > 0 {
		// Running a snapshot whose place in the stream is unknown (a fresh
		// node, or a recreated stream): when the track's newest delta is
		// not newer than the snapshot, start after it instead of replaying
		// the whole retained history only to skip it.
		seq, to, err := a.lastDelta(ctx)
		if err != nil {
			return cfg, err
		}
		if seq > 0 && to <= a.cur.GetVersion() {
			a.seq = seq
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, seq+1
		}
	}
	return cfg, nil
}

// consumerName names a consumer after its node (visible to the hub's
// operators), unique per consumer.
func (a *Agent) consumerName() string {
	return "node_" + a.opts.NodeID + "_" + nuid.Next()
}

// lastDelta returns the stream sequence and to_version of the track's newest
// delta (0, 0 when there is none), read through a short-lived consumer: the
// node may create consumers filtered on its subjects but not read arbitrary
// stream messages.
func (a *Agent) lastDelta(ctx context.Context) (seq, toVersion uint64, err error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	cons, err := a.js.CreateConsumer(ctx, natsutil.SyncStream, jetstream.ConsumerConfig{
		Name:              a.consumerName(),
		FilterSubject:     a.subject,
		DeliverPolicy:     jetstream.DeliverLastPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: consumerInactive,
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read newest delta of %s: %w", a.subject, err)
	}
	defer a.deleteConsumer(cons)
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		return 0, 0, nil
	}
	batch, err := cons.FetchNoWait(1)
	if err != nil {
		return 0, 0, fmt.Errorf("read newest delta of %s: %w", a.subject, err)
	}
	for msg := range batch.Messages() {
		md, err := msg.Metadata()
		if err != nil {
			return 0, 0, fmt.Errorf("newest delta of %s: %w", a.subject, err)
		}
		d := &syncv1.Delta{}
		if err := proto.Unmarshal(msg.Data(), d); err != nil {
			return 0, 0, nil // handle() deals with it when it is delivered
		}
		seq, toVersion = md.Sequence.Stream, d.GetToVersion()
	}
	if err := batch.Error(); err != nil {
		return 0, 0, fmt.Errorf("read newest delta of %s: %w", a.subject, err)
	}
	return seq, toVersion, nil
}

// handle applies, skips or re-syncs for one delivered delta.
func (a *Agent) handle(ctx context.Context, seq uint64, data []byte) error {
	d := &syncv1.Delta{}
	if err := proto.Unmarshal(data, d); err != nil ||
		d.GetPartitionId() != a.opts.PartitionID || d.GetStaging() != a.opts.Staging ||
		d.GetToVersion() <= d.GetFromVersion() {
		// Unusable: whatever it carried, only the snapshot can bring it.
		a.log.Error("unusable delta; re-syncing from the snapshot", "stream_seq", seq, "decode_err", err,
			"delta_partition", d.GetPartitionId(), "delta_staging", d.GetStaging(),
			"from", d.GetFromVersion(), "to", d.GetToVersion())
		a.stats.gaps.Add(1)
		return a.resync(ctx, seq+1, d.GetToVersion())
	}
	running := a.cur.GetVersion()
	switch {
	case d.GetToVersion() <= running:
		a.stats.skipped.Add(1)
		a.log.Debug("skipping duplicate delta", "stream_seq", seq, "from", d.GetFromVersion(), "to", d.GetToVersion(), "running", running)
		return nil
	case d.GetFromVersion() != running:
		a.stats.gaps.Add(1)
		a.log.Warn("gap in deltas; re-syncing from the snapshot", "stream_seq", seq,
			"from", d.GetFromVersion(), "to", d.GetToVersion(), "running", running)
		return a.resync(ctx, seq, d.GetToVersion())
	}
	if d.GetObject() != "" {
		full, err := a.fetchDelta(ctx, d)
		if err != nil {
			// Expired, superseded or given up on by the control plane:
			// the snapshot brings what it carried.
			a.stats.gaps.Add(1)
			a.log.Warn("referenced delta unavailable; re-syncing from the snapshot", "stream_seq", seq,
				"object", d.GetObject(), "err", err)
			return a.resync(ctx, seq, d.GetToVersion())
		}
		d = full
	}
	snap, err := a.opts.Store.ApplyDelta(d, seq)
	if errors.Is(err, store.ErrGap) {
		a.stats.gaps.Add(1)
		return a.resync(ctx, seq, d.GetToVersion())
	}
	if err != nil {
		a.refuse(err)
		return err
	}
	a.cur, a.seq = snap, seq
	a.stats.applied.Add(1)
	a.install(snap)
	return nil
}

// fetchDelta reads the delta ref names from the partition's bucket; it must
// be the one ref announces.
func (a *Agent) fetchDelta(ctx context.Context, ref *syncv1.Delta) (*syncv1.Delta, error) {
	obs, err := a.bucket(ctx)
	if err != nil {
		return nil, err
	}
	if obs == nil {
		return nil, jetstream.ErrBucketNotFound
	}
	ictx, cancel := context.WithTimeout(ctx, requestTimeout)
	info, err := obs.GetInfo(ictx, ref.GetObject())
	cancel()
	if err != nil {
		return nil, fmt.Errorf("info: %w", err)
	}
	data, _, err := a.download(ctx, ref.GetObject(), info)
	if err != nil {
		return nil, err
	}
	d := &syncv1.Delta{}
	if err := proto.Unmarshal(data, d); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if d.GetPartitionId() != ref.GetPartitionId() || d.GetStaging() != ref.GetStaging() ||
		d.GetFromVersion() != ref.GetFromVersion() || d.GetToVersion() != ref.GetToVersion() {
		return nil, fmt.Errorf("holds delta %s/%v %d->%d, not the one announced", d.GetPartitionId(), d.GetStaging(), d.GetFromVersion(), d.GetToVersion())
	}
	return d, nil
}

// bucket opens the partition's Object Store bucket (nil, no error, when it
// does not exist yet).
func (a *Agent) bucket(ctx context.Context) (jetstream.ObjectStore, error) {
	if a.obs != nil {
		return a.obs, nil
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	obs, err := a.js.ObjectStore(ctx, natsutil.SnapshotBucket(a.opts.PartitionID))
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open bucket: %w", err)
	}
	a.obs = obs
	return obs, nil
}

// resync installs the Object Store snapshot when it is newer than what runs.
// resumeSeq is where the consumer continues after it: every delta before it
// ends at or below the running version, hence at or below the snapshot's.
// It returns errRestart after installing one, and an error when the snapshot
// does not move the node forward yet (the run loop backs off and retries).
func (a *Agent) resync(ctx context.Context, resumeSeq, wanted uint64) error {
	before := a.cur.GetVersion()
	if err := a.refreshSnapshot(ctx, resumeSeq-1); err != nil {
		return err
	}
	if a.cur.GetVersion() == before {
		return fmt.Errorf("delta at stream seq %d (to version %d) does not follow version %d, and the snapshot is not newer yet", resumeSeq, wanted, before)
	}
	return errRestart
}

// refreshSnapshot installs the Object Store snapshot if it changed since the
// last look and is newer than the running version.
func (a *Agent) refreshSnapshot(ctx context.Context, streamSeq uint64) error {
	snap, digest, err := a.fetchSnapshot(ctx)
	if err != nil || snap == nil {
		return err
	}
	if snap.GetVersion() > a.cur.GetVersion() {
		if err := a.installSnapshot(snap, streamSeq); err != nil {
			return err
		}
	} else {
		a.log.Debug("snapshot not newer than the running version", "snapshot", snap.GetVersion(), "running", a.cur.GetVersion())
	}
	a.lastDigest = digest
	return nil
}

// fetchSnapshot reads the track's snapshot from the Object Store. It returns
// nil (and no error) when there is none, or when its digest equals the last
// one handled.
func (a *Agent) fetchSnapshot(ctx context.Context) (*syncv1.Bundle, string, error) {
	bucket, key := natsutil.SnapshotBucket(a.opts.PartitionID), natsutil.SnapshotKey(a.opts.Staging)
	for attempt := 1; ; attempt++ {
		snap, digest, err := a.fetchSnapshotOnce(ctx, key)
		if errors.Is(err, errSnapshotReplaced) && attempt < 3 {
			a.log.Debug("snapshot replaced while downloading it; reading the new one")
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("snapshot %s/%s: %w", bucket, key, err)
		}
		return snap, digest, nil
	}
}

// errSnapshotReplaced: the control plane put a newer snapshot while the
// agent was reading the previous one, whose chunks are then purged.
var errSnapshotReplaced = errors.New("replaced while downloading")

func (a *Agent) fetchSnapshotOnce(ctx context.Context, key string) (*syncv1.Bundle, string, error) {
	if obs, err := a.bucket(ctx); obs == nil || err != nil {
		return nil, "", err
	}
	ictx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	info, err := a.obs.GetInfo(ictx, key)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, "", nil
	}
	if err != nil {
		a.obs = nil // the bucket may have been recreated
		return nil, "", fmt.Errorf("info: %w", err)
	}
	if info.Digest != "" && info.Digest == a.lastDigest {
		return nil, "", nil
	}
	if v, err := strconv.ParseUint(info.Metadata[SnapshotVersionMeta], 10, 64); err == nil && a.cur != nil && v <= a.cur.GetVersion() {
		// Not newer: no need to download it.
		return nil, "", nil
	}
	data, digest, err := a.download(ctx, key, info)
	if err != nil {
		return nil, "", err
	}
	snap := &syncv1.Bundle{}
	if err := proto.Unmarshal(data, snap); err != nil {
		return nil, "", fmt.Errorf("decode: %w", err)
	}
	if snap.GetPartitionId() != a.opts.PartitionID || snap.GetStaging() != a.opts.Staging {
		return nil, "", fmt.Errorf("holds partition_id %q staging %v", snap.GetPartitionId(), snap.GetStaging())
	}
	return snap, digest, nil
}

// download reads the object described by info. The read is bounded by a
// timeout that grows with the size (at least snapshotBandwidth), abandoned
// at once when ctx ends (the client's object reader only honours
// deadlines), and abandoned with errSnapshotReplaced when the object is
// replaced meanwhile.
func (a *Agent) download(ctx context.Context, key string, info *jetstream.ObjectInfo) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout+time.Duration(info.Size/snapshotBandwidth)*time.Second)
	defer cancel()
	res, err := a.obs.Get(ctx, key)
	if err != nil {
		return nil, "", fmt.Errorf("get: %w", err)
	}
	reading := info
	if ri, err := res.Info(); err == nil {
		reading = ri
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		defer res.Close()
		data, err := io.ReadAll(res)
		done <- result{data, err}
	}()
	check := time.NewTicker(snapshotReplacedCheck)
	defer check.Stop()
	for {
		select {
		case r := <-done:
			if r.err != nil {
				return nil, "", fmt.Errorf("read: %w", r.err)
			}
			return r.data, reading.Digest, nil
		case <-check.C:
			ictx, icancel := context.WithTimeout(ctx, requestTimeout)
			now, err := a.obs.GetInfo(ictx, key)
			icancel()
			if err == nil && now.NUID != reading.NUID {
				return nil, "", errSnapshotReplaced
			}
		case <-ctx.Done():
			return nil, "", fmt.Errorf("read: %w", ctx.Err())
		}
	}
}

// installSnapshot stores snap (in one transaction) and applies it.
func (a *Agent) installSnapshot(snap *syncv1.Bundle, streamSeq uint64) error {
	if err := a.opts.Store.SaveBundle(snap, streamSeq); err != nil {
		a.refuse(err)
		return err
	}
	stored, _, err := a.opts.Store.Load()
	if err != nil {
		return err
	}
	a.log.Info("installed snapshot", "version", stored.GetVersion(), "from", a.cur.GetVersion(), "apps", len(stored.GetApps()))
	a.cur, a.seq = stored, streamSeq
	a.stats.snapshots.Add(1)
	a.install(stored)
	return nil
}

// install hands snap to Apply and reports the outcome.
func (a *Agent) install(snap *syncv1.Snapshot) {
	err := a.opts.Apply(snap)
	a.mu.Lock()
	a.applyErr = err
	if err == nil {
		a.appliedAt = time.Now()
		a.version.Store(snap.GetVersion())
	}
	a.mu.Unlock()
	if err != nil {
		a.stats.applyErrors.Add(1)
		a.log.Error("apply rejected the snapshot; still running the previous one", "version", snap.GetVersion(), "err", err)
	}
	a.publishStatus()
}

// refuse reports a bundle or delta the store refused because one side must
// be upgraded (store.ErrUpgrade): the node keeps running what it runs and
// says so in its status (apply_error, shown by strata node list).
func (a *Agent) refuse(err error) {
	if !errors.Is(err, store.ErrUpgrade) {
		return
	}
	a.mu.Lock()
	a.applyErr = err
	a.mu.Unlock()
	a.stats.applyErrors.Add(1)
	a.log.Error("refused what the control plane sent; still running the previous version", "err", err)
	a.publishStatus()
}

// markSynced records the first catch-up.
func (a *Agent) markSynced() {
	a.syncedOnce.Do(func() {
		a.log.Info("in sync", "version", a.cur.GetVersion())
		close(a.synced)
	})
}

// publishStatus sends a NodeStatus heartbeat (fire and forget: the next one
// follows).
func (a *Agent) publishStatus() {
	data, err := proto.Marshal(a.status())
	if err != nil {
		a.log.Error("encode node status", "err", err)
		return
	}
	if err := a.opts.NATS.Publish(natsutil.NodeStatusSubject(a.opts.NodeID), data); err != nil {
		a.log.Debug("publish node status", "err", err)
	}
}

// status is the node's NodeStatus now.
func (a *Agent) status() *syncv1.NodeStatus {
	a.mu.Lock()
	appliedAt, applyErr := a.appliedAt, a.applyErr
	a.mu.Unlock()
	st := &syncv1.NodeStatus{
		NodeId:      a.opts.NodeID,
		ClusterId:   a.opts.ClusterID,
		PartitionId: a.opts.PartitionID,
		Version:     a.version.Load(),
		Healthy:     applyErr == nil,
		Time:        timestamppb.Now(),
	}
	if applyErr != nil {
		st.ApplyError = applyErr.Error()
	}
	if !appliedAt.IsZero() {
		st.AppliedAt = timestamppb.New(appliedAt)
	}
	if a.opts.Health != nil {
		healthy, rps, conns := a.opts.Health()
		st.Healthy = st.Healthy && healthy
		st.RequestsPerSecond, st.Connections = rps, conns
	}
	if a.opts.Status != nil {
		a.opts.Status(st)
	}
	return st
}
