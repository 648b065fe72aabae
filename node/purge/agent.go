// Package purge is the edge node's purge agent: it applies the purge commands
// of its partition to the node's cache, in stream order, acknowledges each
// one, and keeps its stream position in a local bbolt file so that after a
// restart or an outage it applies every purge it missed before the cache
// serves again (the cache is held, all requests BYPASS, until then).
//
// The position is saved behind the acks, not before them: re-applying a
// purge only costs a miss, so after a crash the agent may replay the last
// purges, but it must never skip one. Acks are requests the purge service
// answers, sent again until it does (acks.go): an ack lost with the link
// would leave the purge waiting for this node forever. A save therefore first makes the
// cache's deletions durable (cache.Sync), then writes the position, at most
// once per SaveInterval: on a disk shared by many nodes (or with the hub),
// one fsync per purge per node queued behind each other and was most of a
// purge's latency.
package purge

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/internal/retry"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// Options configures an Agent.
type Options struct {
	NATS        *nats.Conn
	NodeID      string
	PartitionID string
	Cache       *cache.Cache
	// PositionPath is the bbolt file keeping the last applied stream sequence.
	PositionPath string
	// Domain is the JetStream domain of the hub ("" for the local server).
	Domain string
	// SaveInterval is the least time between two position saves (default
	// DefaultSaveInterval); Stop saves the last position.
	SaveInterval time.Duration
	// Logger, optional, gets the agent's warnings (default slog.Default()).
	Logger *slog.Logger
	// LinkID, when set, identifies the node's current leaf connection to
	// the hub (0 while it is down): a new link restarts the consumer, whose
	// deliveries may have been lost on the old one (nats.go's ordered
	// consumer can stay stalled after the link dropped packets).
	LinkID func() uint64
	// Push fetches one URL through the node's proxy into its cache (push
	// commands); nil acknowledges pushes with an error.
	Push PushFunc
	// ClusterID is the node's cluster: a push limited to clusters is
	// skipped by the nodes of the others.
	ClusterID string
	// Now is the clock pushes expire by (default time.Now).
	Now func() time.Time
}

// DefaultSaveInterval bounds how many purges a crashed node replays.
const DefaultSaveInterval = time.Second

// Agent applies purges to a cache.
type Agent struct {
	opts    Options
	db      *bolt.DB
	applied atomic.Uint64
	cancel  context.CancelFunc
	done    chan struct{}
	ready   chan struct{}
	once    sync.Once
	nudge   chan struct{} // a new link to the hub: restart the consumer

	kick   chan struct{} // a purge was applied or acknowledged since the last save
	acks   acks
	saveMu sync.Mutex
	saved  uint64 // position in the file; under saveMu

	runCtx  context.Context // Start's, for pushes
	pushes  sync.WaitGroup
	pushSem chan struct{}
}

func (a *Agent) now() time.Time {
	if a.opts.Now != nil {
		return a.opts.Now()
	}
	return time.Now()
}

var (
	bucketName = []byte("purge")
	seqKey     = []byte("applied_seq")
)

// New opens the position file and holds the cache until Start has caught up.
func New(opts Options) (*Agent, error) {
	switch {
	case opts.NATS == nil:
		return nil, errors.New("purge agent: NATS is required")
	case opts.Cache == nil:
		return nil, errors.New("purge agent: Cache is required")
	case opts.NodeID == "" || opts.PartitionID == "":
		return nil, errors.New("purge agent: NodeID and PartitionID are required")
	case opts.PositionPath == "":
		return nil, errors.New("purge agent: PositionPath is required")
	}
	db, err := bolt.Open(opts.PositionPath, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("purge agent: open %s: %w", opts.PositionPath, err)
	}
	if opts.SaveInterval <= 0 {
		opts.SaveInterval = DefaultSaveInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &Agent{opts: opts, db: db, done: make(chan struct{}), ready: make(chan struct{}), kick: make(chan struct{}, 1),
		nudge: make(chan struct{}, 1), pushSem: make(chan struct{}, pushParallel),
		acks: acks{kick: make(chan struct{}, 1)}}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketName)
		if err != nil {
			return err
		}
		if v := b.Get(seqKey); len(v) == 8 {
			a.applied.Store(binary.BigEndian.Uint64(v))
			a.saved = a.applied.Load()
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("purge agent: read position: %w", err)
	}
	opts.Cache.Hold()
	return a, nil
}

// Applied is the stream sequence of the last applied purge.
func (a *Agent) Applied() uint64 { return a.applied.Load() }

// Ready is closed once every purge stored before the agent started is applied
// and the cache serves again.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Start runs the agent until Stop.
func (a *Agent) Start(ctx context.Context) error {
	ctx, a.cancel = context.WithCancel(ctx)
	a.runCtx = ctx
	var wg sync.WaitGroup
	wg.Go(func() { a.saveLoop(ctx) })
	wg.Go(func() { retry.Loop(ctx, a.acks.kick, a.sendAcks) })
	if a.opts.LinkID != nil {
		wg.Go(func() { natsutil.WatchLink(ctx, a.opts.LinkID, func(uint64) { a.Nudge() }) })
	}
	go func() {
		defer close(a.done)
		defer wg.Wait()
		defer a.pushes.Wait()
		retry.Sessions(ctx, a.opts.Logger, "purge agent", a.nudge, a.session)
	}()
	return nil
}

// Stop ends the agent, saves its position and closes the position file.
func (a *Agent) Stop(ctx context.Context) error {
	if a.cancel != nil {
		a.cancel()
		select {
		case <-a.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	_, err := a.save()
	return errors.Join(err, a.db.Close())
}

// saveLoop saves the position after purges are applied, at most once per
// SaveInterval.
func (a *Agent) saveLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
		}
		wrote, err := a.save()
		if err != nil {
			a.opts.Logger.Warn("purge agent: position not saved (retrying)", "err", err)
			a.markApplied()
		} else if !wrote {
			continue // nothing to save yet (acks unanswered): no interval to keep
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.opts.SaveInterval):
		}
	}
}

func (a *Agent) markApplied() {
	select {
	case a.kick <- struct{}{}:
	default: // a save is already due
	}
}

// save makes the cache's deletions durable, then records the applied
// position, so the file never names a purge whose effect a crash could undo,
// nor one whose acknowledgement was not answered yet.
// It reports whether it wrote.
func (a *Agent) save() (bool, error) {
	a.saveMu.Lock()
	defer a.saveMu.Unlock()
	seq := a.savable()
	if seq <= a.saved {
		return false, nil
	}
	if err := a.opts.Cache.Sync(); err != nil {
		return false, fmt.Errorf("save purge position: %w", err)
	}
	err := a.db.Update(func(tx *bolt.Tx) error {
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], seq)
		return tx.Bucket(bucketName).Put(seqKey, v[:])
	})
	if err != nil {
		return false, fmt.Errorf("save purge position: %w", err)
	}
	a.saved = seq
	return true, nil
}

// Nudge tells the agent that a new link to the hub came up: it restarts its
// consumer, whose deliveries may have been lost on the old link.
func (a *Agent) Nudge() {
	select {
	case a.nudge <- struct{}{}:
	default:
	}
}

func (a *Agent) session(ctx context.Context) error {
	js, err := natsutil.JetStream(a.opts.NATS, a.opts.Domain)
	if err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{natsutil.PurgeSubject(a.opts.PartitionID)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if seq := a.applied.Load(); seq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, seq+1
	}
	cons, err := js.OrderedConsumer(ctx, natsutil.PurgeStream, cfg)
	if err != nil {
		return fmt.Errorf("purge consumer: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("purge consumer info: %w", err)
	}
	if info.NumPending == 0 {
		a.markReady()
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); it.Stop() }()
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			return err
		}
		md, err := msg.Metadata()
		if err != nil {
			return err
		}
		if err := a.apply(md.Sequence.Stream, msg.Data()); err != nil {
			return err
		}
		if md.NumPending == 0 {
			a.markReady()
		}
	}
}

func (a *Agent) markReady() {
	a.once.Do(func() {
		a.opts.Cache.Release()
		close(a.ready)
	})
}

// apply runs one command, then acknowledges it; the saver records it.
func (a *Agent) apply(seq uint64, data []byte) error {
	if seq <= a.applied.Load() {
		return nil // already applied (redelivery)
	}
	var cmd purgev1.PurgeCommand
	ack := &purgev1.PurgeAck{NodeId: a.opts.NodeID}
	if err := proto.Unmarshal(data, &cmd); err != nil {
		ack.Error = fmt.Sprintf("decode purge command: %v", err)
	} else if cmd.GetPush() != nil {
		a.startPush(a.runCtx, seq, &cmd) // acknowledged when done
		a.markApplied()
		return nil
	} else {
		ack.PurgeId = cmd.GetPurgeId()
		n, err := a.opts.Cache.Purge(ToCache(&cmd))
		ack.Objects = int64(n)
		if err != nil {
			ack.Error = err.Error()
		}
	}
	a.opts.Logger.Debug("purge agent: applied purge", "purge", ack.PurgeId, "stream_seq", seq)
	ack.AppliedAt = timestamppb.Now()
	if ack.PurgeId == "" {
		// Undecodable: nothing the purge service could record; sent once
		// for the logs.
		a.applied.Store(seq)
		b, _ := proto.Marshal(ack)
		_ = a.opts.NATS.Publish(natsutil.PurgeAckSubject(a.opts.NodeID), b)
	} else {
		a.queueAck(seq, ack) // and marks seq applied
	}
	a.markApplied() // saved behind the ack (see the package doc)
	return nil
}

// ToCache converts a purge command into the cache's terms.
func ToCache(cmd *purgev1.PurgeCommand) cache.Purge {
	p := cache.Purge{Values: cmd.GetValues(), Soft: cmd.GetSoft()}
	switch cmd.GetKind() {
	case purgev1.PurgeKind_PURGE_KIND_URL:
		p.Kind = cache.PurgeURL
	case purgev1.PurgeKind_PURGE_KIND_PREFIX:
		p.Kind = cache.PurgePrefix
	case purgev1.PurgeKind_PURGE_KIND_HOST:
		p.Kind = cache.PurgeHost
	case purgev1.PurgeKind_PURGE_KIND_TAG:
		p.Kind = cache.PurgeTag
	case purgev1.PurgeKind_PURGE_KIND_CONDITION:
		p.Kind = cache.PurgeCondition
		if c := cmd.GetCondition(); c != nil {
			p.Condition = &cache.Condition{Host: c.GetHost(), PathRegex: c.GetPathRegex(), Header: c.GetHeader(), HeaderValue: c.GetHeaderValue()}
		}
	}
	return p
}
