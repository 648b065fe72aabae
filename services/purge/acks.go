package purge

import (
	"context"
	"time"

	"github.com/strata-edge/strata/pkg/eventstore"
	"google.golang.org/protobuf/types/known/timestamppb"

	ev "github.com/strata-edge/strata/gen/strata/events/purge/v1"
	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
)

type (
	purgeAck     = purgev1.PurgeAck
	purgeNodeAck = purgev1.NodeAck
)

func timestamp(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// writeAcks records acknowledgements as purge.purge.acknowledged events, one
// per node, in batches: progress is served from memory at once, and the log
// (the audit trail, and progress after a restart) gets one append per purge
// for all the acks that arrived meanwhile instead of one fsync per node.
func (s *Service) writeAcks(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		s.flushAcks(ctx)
	}
}

func (s *Service) flushAcks(ctx context.Context) {
	s.pendingMu.Lock()
	batch := s.pending
	s.pending = nil
	s.pendingMu.Unlock()
	if len(batch) == 0 {
		return
	}
	byPurge := map[string][]eventstore.Event{}
	var order []string
	for _, p := range batch {
		data, err := encode(TypePurgeAcknowledged, &ev.PurgeAcknowledged{PurgeId: p.purgeID, Ack: p.ack})
		if err != nil {
			s.log.Error("purge: encode ack", "err", err)
			continue
		}
		if _, ok := byPurge[p.purgeID]; !ok {
			order = append(order, p.purgeID)
		}
		byPurge[p.purgeID] = append(byPurge[p.purgeID], eventstore.Event{
			// Stable per purge and node: a retried append stores it once.
			ID:       "ack_" + p.purgeID + "_" + p.ack.GetNodeId(),
			Type:     TypePurgeAcknowledged,
			Data:     data,
			Metadata: eventstore.Metadata{Actor: "node:" + p.ack.GetNodeId(), Time: p.ack.GetAckedAt().AsTime()},
		})
	}
	// Appends outlive a cancelled run context: Stop still flushes.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, id := range order {
		if _, err := s.opts.Store.Append(ctx, streamOf(id), eventstore.AnyVersion, byPurge[id]...); err != nil {
			s.log.Error("purge: record acknowledgements", "purge", id, "acks", len(byPurge[id]), "err", err)
		}
	}
}
