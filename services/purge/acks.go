package purge

import (
	"context"
	"time"

	"github.com/strata-edge/strata/pkg/eventstore"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
)

type (
	purgeAck     = purgev1.PurgeAck
	purgeNodeAck = purgev1.NodeAck
)

func timestamp(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// writeAcks records acknowledgements as purge.purge.acknowledged events, in
// batches: progress is served from memory at once, and the log (the audit
// trail, and progress after a restart) gets one event per purge for all the
// acks that arrived meanwhile. JetStream fsyncs every stored message, so one
// event per node cost the hub one fsync per node per purge, and those
// queued before the next purge's own appends.
//
// After the first ack of a batch the writer lingers ackLinger, so that the
// acks of one purge, which arrive within milliseconds, make one event; the
// progress readers see comes from memory and does not wait for it.
func (s *Service) writeAcks(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		select {
		case <-ctx.Done(): // Stop flushes what is pending
			return
		case <-time.After(ackLinger):
		}
		s.flushAcks(ctx)
	}
}

// ackLinger is how long the ack writer gathers acknowledgements.
const ackLinger = 10 * time.Millisecond

func (s *Service) flushAcks(ctx context.Context) {
	s.pendingMu.Lock()
	batch := s.pending
	s.pending = nil
	s.pendingMu.Unlock()
	if len(batch) == 0 {
		return
	}
	byPurge := map[string][]*purgev1.NodeAck{}
	replies := map[string][]string{}
	var order []string
	for _, p := range batch {
		if _, ok := byPurge[p.purgeID]; !ok {
			order = append(order, p.purgeID)
		}
		byPurge[p.purgeID] = append(byPurge[p.purgeID], p.ack)
		if p.reply != "" {
			replies[p.purgeID] = append(replies[p.purgeID], p.reply)
		}
	}
	// Appends outlive a cancelled run context: Stop still flushes.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var ids []string
	var chunks [][]*purgev1.NodeAck
	for _, id := range order {
		for _, c := range chunkAcks(byPurge[id]) {
			ids, chunks = append(ids, id), append(chunks, c)
		}
	}
	for i, id := range ids {
		acks := chunks[i]
		first := acks[0]
		msg, actor := acknowledged(id, acks)
		typ, data, err := registry.Encode(msg)
		if err != nil {
			s.log.Error("purge: encode acks", "purge", id, "err", err)
			continue
		}
		e := eventstore.Event{
			// A node acknowledges a purge once, so its first node names the
			// batch: a retried append stores it once.
			ID:       "ack_" + id + "_" + first.GetNodeId(),
			Type:     typ,
			Data:     data,
			Metadata: eventstore.Metadata{Actor: actor, Time: first.GetAckedAt().AsTime()},
		}
		if _, err := s.opts.Store.Append(ctx, streamOf(id), eventstore.AnyVersion, e); err != nil {
			// Unanswered: the nodes send these acks again.
			s.log.Error("purge: record acknowledgements", "purge", id, "acks", len(acks), "err", err)
			continue
		}
		if i+1 < len(ids) && ids[i+1] == id {
			continue // answered once the purge's last chunk is in
		}
		for _, reply := range replies[id] {
			_ = s.opts.Conn.Publish(reply, nil)
		}
	}
}

// maxAckEventBytes bounds the acks of one event: a push's acks carry failed
// URLs, and the acks of many nodes together may not fit in one event.
const maxAckEventBytes = eventstore.MaxDataLen / 2

// chunkAcks splits acks into batches of at most maxAckEventBytes encoded.
func chunkAcks(acks []*purgev1.NodeAck) [][]*purgev1.NodeAck {
	var out [][]*purgev1.NodeAck
	start, size := 0, 0
	for i, a := range acks {
		n := proto.Size(a) + 8
		if i > start && size+n > maxAckEventBytes {
			out = append(out, acks[start:i])
			start, size = i, 0
		}
		size += n
	}
	return append(out, acks[start:])
}
