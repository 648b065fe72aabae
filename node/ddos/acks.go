package ddos

import (
	"context"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	ddosv1 "github.com/strata-edge/strata/gen/strata/ddos/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// Acknowledgements are requests the ddos service answers once it has
// recorded them; the agent sends again what was not answered, backing off.
const (
	ackTimeout = 2 * time.Second
	// maxPendingAcks bounds the queue while the hub is unreachable: the
	// next session sends the dropped ones again.
	maxPendingAcks = 10_000
)

type ackQueue struct {
	mu      sync.Mutex
	pending [][]byte
	kick    chan struct{}
}

func (a *Agent) queueAck(ack *ddosv1.BlockAck) {
	b, _ := proto.Marshal(ack)
	a.acks.mu.Lock()
	if len(a.acks.pending) < maxPendingAcks {
		a.acks.pending = append(a.acks.pending, b)
	}
	a.acks.mu.Unlock()
	select {
	case a.acks.kick <- struct{}{}:
	default:
	}
}

// sendAcks sends the pending acks in order and keeps the unanswered ones;
// it reports whether none is left.
func (a *Agent) sendAcks(ctx context.Context) bool {
	a.acks.mu.Lock()
	batch := a.acks.pending
	a.acks.mu.Unlock()
	answered := 0
	for _, b := range batch {
		rctx, cancel := context.WithTimeout(ctx, ackTimeout)
		_, err := a.opts.NATS.RequestWithContext(rctx, natsutil.DdosAckSubject(a.opts.NodeID), b)
		cancel()
		if err != nil {
			break
		}
		answered++
	}
	a.acks.mu.Lock()
	defer a.acks.mu.Unlock()
	a.acks.pending = a.acks.pending[answered:]
	return len(a.acks.pending) == 0
}
