package syncagent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"google.golang.org/protobuf/proto"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// session positions a consumer on the delta subject and applies what it
// delivers until something goes wrong. It returns errRestart when it should
// start over without delay (run restarts it at once when nudged, too).
//
// The consumer is what nats.go calls an ordered consumer (ephemeral, in
// memory, no acks, resumed from the last applied sequence on any hiccup),
// but the agent runs it itself: nats.go's OrderedConsumer recreates itself
// with requests of its own 10 s timeout that the caller cannot cancel, which
// kept a node behind for 10 s whenever its link dropped during a reset.
func (a *Agent) session(ctx context.Context) error {
	if a.cur == nil {
		if err := a.bootstrap(ctx); err != nil {
			return err
		}
	}
	cfg, err := a.position(ctx)
	if err != nil {
		return err
	}
	cctx, ccancel := context.WithTimeout(ctx, requestTimeout)
	cons, err := a.js.CreateConsumer(cctx, natsutil.SyncStream, cfg)
	ccancel()
	if err != nil {
		return fmt.Errorf("create consumer on %s: %w", a.subject, err)
	}
	defer a.deleteConsumer(cons)
	info := cons.CachedInfo()
	a.log.Debug("consumer created", "name", info.Name, "policy", cfg.DeliverPolicy.String(), "start_seq", cfg.OptStartSeq, "pending", info.NumPending)
	if info.NumPending == 0 {
		// Nothing after our position: up to date, unless the deltas we
		// missed aged out or were purged. The snapshot's version tells;
		// whatever is published from now on is delivered either way.
		if err := a.refreshSnapshot(ctx, a.seq); err != nil {
			return err
		}
		a.markSynced()
	}
	it, err := cons.Messages(
		jetstream.PullHeartbeat(consumerHeartbeat),
		jetstream.WithMessagesErrOnMissingHeartbeat(true),
	)
	if err != nil {
		return fmt.Errorf("consume %s: %w", a.subject, err)
	}
	defer it.Stop()
	var delivered uint64 // consumer sequence of the last delivery
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("next delta on %s: %w", a.subject, err)
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
			return err
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
	cfg := a.consumerConfig(jetstream.DeliverByStartSequencePolicy)
	cfg.OptStartSeq = a.seq + 1
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

// consumerConfig is an ephemeral consumer of the track's deltas (in memory,
// no acks, removed by the hub when left behind), named after its node
// (visible to the hub's operators) and unique.
func (a *Agent) consumerConfig(deliver jetstream.DeliverPolicy) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Name:              "node_" + a.opts.NodeID + "_" + nuid.Next(),
		FilterSubject:     a.subject,
		DeliverPolicy:     deliver,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: consumerInactive,
	}
}

// lastDelta returns the stream sequence and to_version of the track's newest
// delta (0, 0 when there is none), read through a short-lived consumer: the
// node may create consumers filtered on its subjects but not read arbitrary
// stream messages.
func (a *Agent) lastDelta(ctx context.Context) (seq, toVersion uint64, err error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	cons, err := a.js.CreateConsumer(ctx, natsutil.SyncStream, a.consumerConfig(jetstream.DeliverLastPolicy))
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
	a.log.Debug("applied delta", "stream_seq", seq, "from", d.GetFromVersion(), "to", d.GetToVersion())
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
