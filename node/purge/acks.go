package purge

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// Acknowledgements are requests: the purge service answers each once it has
// recorded it, and the agent sends again what was not answered (the link
// dropped, or the hub could reach the node but not hear it). Until a purge's
// ack is answered the saved position stays before it, so a restart applies
// and acknowledges it again (a purge applied twice only costs a miss).
const (
	ackTimeout = 2 * time.Second
	// ackParallel bounds the requests in flight: acks of a burst of purges
	// do not wait for each other's round trips.
	ackParallel = 64
)

// pendingAck is an acknowledgement not answered yet.
type pendingAck struct {
	seq  uint64
	data []byte
}

// acks holds the unanswered acknowledgements in stream order.
type acks struct {
	mu      sync.Mutex
	pending []pendingAck // by stream sequence
	running []uint64     // pushes applied but not acknowledged yet
	kick    chan struct{}
}

// queueAck queues ack, found at stream sequence seq, for sending, and marks
// seq applied: both under acks.mu, so that savable never sees the purge
// applied before its ack is queued (a save then would record a purge whose
// ack may never be answered).
func (a *Agent) queueAck(seq uint64, ack *purgev1.PurgeAck) {
	b, _ := proto.Marshal(ack)
	a.acks.mu.Lock()
	a.acks.pending = append(a.acks.pending, pendingAck{seq: seq, data: b})
	a.applied.Store(seq)
	a.acks.mu.Unlock()
	a.kickAcks()
}

// insertAckLocked queues the ack of a command applied earlier (a push that
// ran beside later purges) in stream order; under acks.mu.
func (a *Agent) insertAckLocked(seq uint64, ack *purgev1.PurgeAck) {
	b, _ := proto.Marshal(ack)
	i, _ := slices.BinarySearchFunc(a.acks.pending, seq, func(p pendingAck, s uint64) int { return cmp.Compare(p.seq, s) })
	a.acks.pending = slices.Insert(a.acks.pending, i, pendingAck{seq: seq, data: b})
}

func (a *Agent) kickAcks() {
	select {
	case a.acks.kick <- struct{}{}:
	default:
	}
}

// savable is the position a save may record: the last applied purge, but
// none at or after the oldest unanswered ack.
func (a *Agent) savable() uint64 {
	a.acks.mu.Lock()
	defer a.acks.mu.Unlock()
	seq := a.applied.Load()
	if len(a.acks.pending) > 0 {
		seq = min(seq, a.acks.pending[0].seq-1)
	}
	for _, r := range a.acks.running {
		seq = min(seq, r-1)
	}
	return seq
}

// sendAcks sends every pending ack (up to ackParallel at once) and drops the
// answered ones. It reports whether none is left.
func (a *Agent) sendAcks(ctx context.Context) bool {
	a.acks.mu.Lock()
	batch := slices.Clone(a.acks.pending) // a push's ack may be inserted meanwhile
	a.acks.mu.Unlock()
	if len(batch) == 0 {
		return true
	}
	answered := make(map[uint64]bool, len(batch))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, ackParallel)
	subject := natsutil.PurgeAckSubject(a.opts.NodeID)
	for _, p := range batch {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(ctx, ackTimeout)
			defer cancel()
			if _, err := a.opts.NATS.RequestWithContext(rctx, subject, p.data); err == nil {
				mu.Lock()
				answered[p.seq] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	a.acks.mu.Lock()
	defer a.acks.mu.Unlock()
	kept := a.acks.pending[:0]
	for _, p := range a.acks.pending {
		if !answered[p.seq] {
			kept = append(kept, p)
		}
	}
	a.acks.pending = kept
	if len(answered) > 0 {
		a.markApplied() // the saved position may move on
	}
	if len(kept) > 0 {
		a.opts.Logger.Debug("purge agent: acknowledgements not answered yet; sending again", "pending", len(kept))
	}
	return len(kept) == 0
}
