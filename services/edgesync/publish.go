package edgesync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// Sync stream limits: deltas are kept a week and at most 10,000 per track;
// a node further behind loads the full snapshot first.
const (
	syncMaxAge            = 7 * 24 * time.Hour
	syncMaxMsgsPerSubject = 10000
	versionKey            = "version"
	// A snapshot put waits until snapshotPutRatio times the duration of the
	// previous put has passed since it, bounding snapshot work to ~10%.
	snapshotPutRatio = 10
)

// Publisher sends each new track version to the nodes: the delta to the
// track's subject in the sync stream (deduplicated by Nats-Msg-Id
// "<partition>.<track>.<to_version>"), then the full snapshot to the
// partition's Object Store bucket. After a restart the contributors replay
// the whole log and regenerates every delta; the publisher skips those not
// newer than the last delta already stored for the subject, so nodes never
// see a version twice or two different deltas for one version.
type Publisher struct {
	// Replicas of the sync stream and the snapshot buckets (0: the
	// server's default, 1); 3 on a JetStream cluster, so a release still
	// reaches the nodes with one server down.
	Replicas int

	js     jetstream.JetStream
	src    *Tracks
	check  func(*syncv1.Snapshot) error
	logger *slog.Logger
	stream jetstream.Stream

	// Counters of what was sent, for tests and logs.
	DeltasSent, SnapshotsSent atomic.Int64

	// inline and attempts override inlineLimit and publishAttempts (tests).
	inline, attempts int

	mu      sync.Mutex
	tracks  map[Key]*pubTrack
	buckets map[string]jetstream.ObjectStore
}

type pubTrack struct {
	loaded       bool
	lastDelta    uint64          // to_version of the newest delta in the stream
	lastSnapshot uint64          // version of the stored snapshot
	pending      []*syncv1.Delta // taken from the tracks, not yet published
	lastPutAt    time.Time       // when the last snapshot put finished
	lastPutCost  time.Duration   // how long it took
	failures     int             // failed attempts at pending[0]
	err          string          // see Err
}

// NewPublisher publishes tracks to js. check, when set, is run on every
// snapshot before it is stored; a failure is logged loudly (the snapshot is
// still stored: nodes validate too).
func NewPublisher(js jetstream.JetStream, tracks *Tracks, check func(*syncv1.Snapshot) error, logger *slog.Logger) *Publisher {
	return &Publisher{js: js, src: tracks, check: check, logger: logger,
		tracks: map[Key]*pubTrack{}, buckets: map[string]jetstream.ObjectStore{}}
}

// EnsureStream creates or updates the sync stream.
func (p *Publisher) EnsureStream(ctx context.Context) error {
	st, err := p.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              natsutil.SyncStream,
		Description:       "Strata config deltas per partition track",
		Subjects:          []string{natsutil.SyncSubjects},
		Storage:           jetstream.FileStorage,
		MaxAge:            syncMaxAge,
		MaxMsgsPerSubject: syncMaxMsgsPerSubject,
		Replicas:          p.Replicas,
	})
	if err != nil {
		return fmt.Errorf("edgesync: ensure stream %s: %w", natsutil.SyncStream, err)
	}
	p.stream = st
	return nil
}

// Run publishes whenever the tracks has new track versions, retrying
// failures with backoff, until ctx ends.
func (p *Publisher) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		var retry <-chan time.Time
		wake, err := p.flush(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.logger.Error("publish config snapshots", "err", err, "retry_in", backoff)
			retry = time.After(backoff)
			backoff = min(2*backoff, 10*time.Second)
		} else {
			backoff = 100 * time.Millisecond
			if wake > 0 {
				retry = time.After(wake)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-p.src.outbox.Wait():
		case <-retry:
		}
	}
}

// take moves the deltas the tracks produced into the publisher.
func (p *Publisher) take() {
	ds := p.src.takeDeltas()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range ds {
		pt := p.track(keyOf(d))
		pt.pending = append(pt.pending, d)
	}
}

func (p *Publisher) track(k Key) *pubTrack {
	pt := p.tracks[k]
	if pt == nil {
		pt = &pubTrack{}
		p.tracks[k] = pt
	}
	return pt
}

// Idle reports whether everything the tracks produced is published.
func (p *Publisher) Idle() bool {
	queued := false
	p.src.outbox.Edit(func(ds []*syncv1.Delta) { queued = len(ds) > 0 })
	if queued {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pt := range p.tracks {
		if len(pt.pending) > 0 || pt.lastDelta > pt.lastSnapshot {
			return false
		}
	}
	return true
}

// flush publishes what is pending; wake > 0 asks to be called again then
// for a snapshot put that was held back.
func (p *Publisher) flush(ctx context.Context) (wake time.Duration, err error) {
	p.take()
	p.mu.Lock()
	keys := make([]Key, 0, len(p.tracks))
	for k := range p.tracks {
		keys = append(keys, k)
	}
	p.mu.Unlock()
	var errs []error
	for _, k := range keys {
		w, err := p.flushTrack(ctx, k)
		if err != nil {
			errs = append(errs, fmt.Errorf("partition %s %s: %w", k.Partition, natsutil.Track(k.Staging), err))
		}
		if w > 0 && (wake == 0 || w < wake) {
			wake = w
		}
	}
	return wake, errors.Join(errs...)
}

// flushTrack publishes one track's pending deltas in order, then its
// snapshot. Only the run goroutine calls it and changes pubTrack; it takes
// p.mu for the writes that idle() reads.
func (p *Publisher) flushTrack(ctx context.Context, k Key) (time.Duration, error) {
	p.mu.Lock()
	pt := p.tracks[k]
	pending := pt.pending
	p.mu.Unlock()
	if !pt.loaded {
		if err := p.load(ctx, k, pt); err != nil {
			return 0, err
		}
	}
	subject := natsutil.DeltaSubject(k.Partition, k.Staging)
	done := 0
	var err error
	for _, d := range pending {
		if d.ToVersion <= pt.lastDelta {
			done++
			continue // published before a restart
		}
		if pt.lastDelta != 0 && d.FromVersion != pt.lastDelta {
			p.logger.Warn("delta does not follow the newest stored delta", "subject", subject,
				"from", d.FromVersion, "stored", pt.lastDelta)
		}
		if err = p.publish(ctx, k, subject, d); err != nil {
			if pt.failures++; pt.failures < p.maxAttempts() {
				break
			}
			// Never wedge the track: move on without d. Its reference
			// (whose object may not exist) makes nodes at its
			// from_version re-sync from the snapshot put below.
			err = fmt.Errorf("%s: delta %d given up after %d attempts, nodes re-sync from the snapshot: %w",
				time.Now().UTC().Format(time.RFC3339), d.ToVersion, pt.failures, err)
			p.logger.Error("config delta not published", "subject", subject, "err", err)
			if data, merr := proto.Marshal(reference(d, natsutil.DeltaObjectKey(k.Staging, d.ToVersion))); merr == nil {
				_, _ = p.js.Publish(ctx, subject, data, jetstream.WithMsgID(p.msgID(k, d)))
			}
			p.mu.Lock()
			pt.err = err.Error()
			p.mu.Unlock()
			err = nil
		} else {
			p.mu.Lock()
			pt.err = ""
			p.mu.Unlock()
			p.DeltasSent.Add(1)
		}
		p.mu.Lock()
		pt.lastDelta, pt.failures = d.ToVersion, 0
		p.mu.Unlock()
		done++
	}
	p.mu.Lock()
	pt.pending = pt.pending[done:]
	if len(pt.pending) == 0 {
		pt.pending = nil
	}
	if err != nil {
		pt.err = fmt.Sprintf("attempt %d of %d: %v", pt.failures, p.maxAttempts(), err)
	}
	p.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if pt.lastDelta > pt.lastSnapshot {
		// A full snapshot costs O(apps) to encode and store, and nodes need
		// it only when they are behind the retained deltas: spend at most
		// a tenth of the time on snapshot puts.
		if wait := snapshotPutRatio*pt.lastPutCost - time.Since(pt.lastPutAt); wait > 0 {
			return wait, nil
		}
		// The snapshot must be the version of the newest published delta;
		// when the track has moved on, newer deltas are waiting and the
		// next flush puts the snapshot after them.
		snap, bundle := p.src.SnapshotAt(k, pt.lastDelta)
		if snap == nil {
			return 0, nil
		}
		// Cross-object checks run per replica; a race between replicas
		// could let two apps claim one domain. Say so loudly; nodes
		// validate too.
		if err := p.checkSnapshot(snap); err != nil {
			p.logger.Error("inconsistent snapshot", "partition", k.Partition, "track", natsutil.Track(k.Staging),
				"version", snap.Version, "err", err)
		}
		start := time.Now()
		if err := p.putSnapshot(ctx, bundle); err != nil {
			p.mu.Lock()
			pt.err = err.Error()
			p.mu.Unlock()
			return 0, err
		}
		p.mu.Lock()
		pt.lastPutAt, pt.lastPutCost = time.Now(), time.Since(start)
		pt.lastSnapshot = snap.Version
		p.mu.Unlock()
		p.SnapshotsSent.Add(1)
	}
	return 0, nil
}

// publish sends one delta (by reference when it is large).
func (p *Publisher) publish(ctx context.Context, k Key, subject string, d *syncv1.Delta) error {
	data, err := p.encode(ctx, k, d)
	if err != nil {
		return err
	}
	if _, err := p.js.Publish(ctx, subject, data, jetstream.WithMsgID(p.msgID(k, d))); err != nil {
		return fmt.Errorf("publish delta %d (%d bytes): %w", d.ToVersion, len(data), err)
	}
	return nil
}

func (p *Publisher) msgID(k Key, d *syncv1.Delta) string {
	return fmt.Sprintf("%s.%s.%d", k.Partition, natsutil.Track(k.Staging), d.ToVersion)
}

func (p *Publisher) maxAttempts() int {
	if p.attempts > 0 {
		return p.attempts
	}
	return publishAttempts
}

func (p *Publisher) checkSnapshot(s *syncv1.Snapshot) error {
	if p.check == nil {
		return nil
	}
	return p.check(s)
}

// load reads what is already published for a track: the newest delta of its
// subject and the version of its stored snapshot.
func (p *Publisher) load(ctx context.Context, k Key, pt *pubTrack) error {
	subject := natsutil.DeltaSubject(k.Partition, k.Staging)
	var lastDelta, snapshotVersion uint64
	msg, err := p.stream.GetLastMsgForSubject(ctx, subject)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return fmt.Errorf("read last delta of %s: %w", subject, err)
	default:
		var d syncv1.Delta
		if err := proto.Unmarshal(msg.Data, &d); err != nil {
			return fmt.Errorf("decode last delta of %s: %w", subject, err)
		}
		lastDelta = d.ToVersion
	}
	obs, err := p.bucket(ctx, k.Partition)
	if err != nil {
		return err
	}
	info, err := obs.GetInfo(ctx, natsutil.SnapshotKey(k.Staging))
	switch {
	case errors.Is(err, jetstream.ErrObjectNotFound):
	case err != nil:
		return fmt.Errorf("read snapshot info: %w", err)
	default:
		v, err := strconv.ParseUint(info.Metadata[versionKey], 10, 64)
		if err != nil {
			return fmt.Errorf("snapshot %s has bad version %q", info.Name, info.Metadata[versionKey])
		}
		snapshotVersion = v
	}
	// Deltas expire after syncMaxAge; the snapshot then marks what was sent.
	p.mu.Lock()
	pt.lastSnapshot = snapshotVersion
	pt.lastDelta = max(lastDelta, snapshotVersion)
	pt.loaded = true
	p.mu.Unlock()
	return nil
}

func (p *Publisher) bucket(ctx context.Context, partition string) (jetstream.ObjectStore, error) {
	p.mu.Lock()
	obs := p.buckets[partition]
	p.mu.Unlock()
	if obs != nil {
		return obs, nil
	}
	name := natsutil.SnapshotBucket(partition)
	obs, err := p.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      name,
		Description: "Strata config snapshots of partition " + partition,
		Storage:     jetstream.FileStorage,
		Replicas:    p.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure bucket %s: %w", name, err)
	}
	p.mu.Lock()
	p.buckets[partition] = obs
	p.mu.Unlock()
	return obs, nil
}

func (p *Publisher) putSnapshot(ctx context.Context, snap *syncv1.Bundle) error {
	obs, err := p.bucket(ctx, snap.PartitionId)
	if err != nil {
		return err
	}
	data, err := proto.Marshal(snap)
	if err != nil {
		return fmt.Errorf("encode snapshot %d: %w", snap.Version, err)
	}
	v := strconv.FormatUint(snap.Version, 10)
	_, err = obs.Put(ctx, jetstream.ObjectMeta{
		Name:     natsutil.SnapshotKey(snap.Staging),
		Headers:  nats.Header{versionKey: []string{v}},
		Metadata: map[string]string{versionKey: v},
	}, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("put snapshot %d: %w", snap.Version, err)
	}
	return nil
}
