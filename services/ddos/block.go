package ddos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ddosv1 "github.com/strata-edge/strata/gen/strata/ddos/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/ddos/v1"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/ids"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// Limits of a block.
const (
	MinBlockTTL    = time.Second
	MaxBlockTTL    = 7 * 24 * time.Hour
	MaxBlockCIDRs  = 1000
	prefixBlock    = "blk_"
	maxListedBlock = 10_000 // blocks the read model keeps (newest)
)

// EnsureStream creates or updates STRATA_DDOS: one subject per partition,
// commands kept for the longest ttl (a node applies the blocks still
// running when it comes back).
func EnsureStream(ctx context.Context, js jetstream.JetStream, replicas int) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        natsutil.DdosStream,
		Description: "ddos block commands, one subject per partition",
		Subjects:    []string{natsutil.DdosSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      MaxBlockTTL,
		Duplicates:  2 * time.Minute,
		Replicas:    max(replicas, 1),
	})
	if err != nil {
		return fmt.Errorf("ddos: stream %s: %w", natsutil.DdosStream, err)
	}
	return nil
}

// checkBlock validates a block request and returns its canonical prefixes.
func checkBlock(req *ddosv1.BlockRequest) ([]string, error) {
	var f apierr.Fields
	cidrs := req.GetCidrs()
	switch {
	case len(cidrs) == 0:
		f.Add("cidrs", "at least one CIDR is required")
	case len(cidrs) > MaxBlockCIDRs:
		f.Addf("cidrs", "%d entries, more than the limit of %d per block (a policy's deny list takes %d)", len(cidrs), MaxBlockCIDRs, MaxDenyCIDRs)
		cidrs = nil
	}
	out := prefixes(&f, "cidrs", cidrs, MaxBlockCIDRs)
	switch ttl := req.GetTtl(); {
	case ttl == nil:
		f.Add("ttl", "is required (1s to 168h)")
	case ttl.CheckValid() != nil || ttl.AsDuration() < MinBlockTTL || ttl.AsDuration() > MaxBlockTTL:
		f.Addf("ttl", "%s is outside 1s to 168h", ttl.AsDuration())
	}
	switch t := req.GetScope().GetTarget().(type) {
	case *ddosv1.BlockScope_Cluster:
		if t.Cluster == "" {
			f.Add("scope.cluster", "is empty")
		}
	case *ddosv1.BlockScope_All:
		if !t.All {
			f.Add("scope.all", "must be true (or name a cluster)")
		}
	default:
		f.Add("scope", "name a cluster or all")
	}
	return out, f.Err()
}

// block validates a block, records it, and publishes its command to the
// partitions of its scope; it waits for the nodes of the scope online now.
func (s *Service) block(ctx context.Context, req *ddosv1.BlockRequest) (*ddosv1.Block, error) {
	if s.opts.JetStream == nil {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("ddos: blocks need the control plane's NATS connection, which this process does not have"))
	}
	cidrs, err := checkBlock(req)
	if err != nil {
		return nil, err
	}
	scope := proto.Clone(req.GetScope()).(*ddosv1.BlockScope)
	var cluster string
	var parts []string
	if ref := req.GetScope().GetCluster(); ref != "" {
		id, partition, ok := s.opts.Clusters.ResolveCluster(ref)
		if !ok {
			return nil, apierr.Invalid(apierr.FieldViolation{Field: "scope.cluster", Reason: fmt.Sprintf("no cluster %q", ref)})
		}
		cluster, parts = id, []string{partition}
		scope.Target = &ddosv1.BlockScope_Cluster{Cluster: id}
	} else if parts = s.opts.Clusters.PartitionIDs(); len(parts) == 0 {
		return nil, apierr.FailedPrecondition("there is no partition: no node to block on")
	}
	var expected []string
	for id, st := range s.opts.Nodes.NodeStatuses() {
		if c, ok := s.opts.Clusters.NodeCluster(id); ok && st.Online && (cluster == "" || c == cluster) {
			expected = append(expected, id)
		}
	}
	slices.Sort(expected)
	id := ids.New(prefixBlock)
	now := s.now().UTC()
	cmd := &ddosv1.BlockCommand{BlockId: id, Cidrs: cidrs, Ttl: durationpb.New(req.GetTtl().AsDuration()), RequestedAt: timestamppb.New(now), ClusterId: cluster}
	msg := &ev.BlockRequested{BlockId: id, Command: cmd, Scope: scope, ExpectedNodeIds: expected}
	typ, data, err := registry.Encode(msg)
	if err != nil {
		return nil, err
	}
	stored, err := s.opts.Store.Append(ctx, BlockStream(id), 0, eventstore.Event{
		ID: "req_" + id, Type: typ, Data: data,
		Metadata: eventstore.Metadata{Actor: apiauth.Actor(ctx), RequestID: apiauth.RequestID(ctx), Time: now},
	})
	if err != nil {
		return nil, fmt.Errorf("record block: %w", err)
	}
	b, err := proto.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		// The message id makes a retried publish land once.
		if _, err := s.opts.JetStream.Publish(ctx, natsutil.DdosSubject(p), b, jetstream.WithMsgID(id+"."+p)); err != nil {
			return nil, fmt.Errorf("block %s recorded but not sent to partition %s: %w", id, p, err)
		}
	}
	if err := s.proj.WaitFor(ctx, stored[0].Position); err != nil {
		return nil, err
	}
	s.log.Info("ddos block sent", "block", id, "cidrs", len(cidrs), "ttl", req.GetTtl().AsDuration(), "partitions", len(parts), "nodes", len(expected))
	var v *ddosv1.Block
	s.proj.Read(func(st *state) { v = st.blocks.view(id) })
	return v, nil
}

// blocks is the read model of blocks: requests folded from the log, and
// acknowledgements from the log and from the live collector (the first one
// per node wins). Guarded by the projection's lock.
type blocks struct {
	byID  map[string]*blockEntry
	order []string // oldest first
	// dropped counts the blocks trimmed off order's front: dropped+i is a
	// block's stable place (ListBlocks' page key).
	dropped uint64
	// acks by block then node; an ack may arrive before its block is folded.
	acks map[string]map[string]*ddosv1.NodeAck
}

type blockEntry struct {
	block    *ddosv1.Block // without progress
	expected []string
}

func newBlocks() blocks {
	return blocks{byID: map[string]*blockEntry{}, acks: map[string]map[string]*ddosv1.NodeAck{}}
}

func (b *blocks) fold(e eventstore.Event, msg proto.Message) {
	switch m := msg.(type) {
	case *ev.BlockRequested:
		cmd := m.GetCommand()
		at := e.Metadata.Time
		blk := &ddosv1.Block{Id: m.GetBlockId(), Cidrs: cmd.GetCidrs(), Ttl: cmd.GetTtl(), Scope: m.GetScope(), Actor: e.Metadata.Actor,
			CreatedAt: timestamppb.New(at), ExpiresAt: timestamppb.New(cmd.GetRequestedAt().AsTime().Add(cmd.GetTtl().AsDuration()))}
		if _, dup := b.byID[blk.Id]; !dup {
			b.order = append(b.order, blk.Id)
		}
		b.byID[blk.Id] = &blockEntry{block: blk, expected: m.GetExpectedNodeIds()}
		if len(b.order) > maxListedBlock {
			old := b.order[0]
			b.order = b.order[1:]
			b.dropped++
			delete(b.byID, old)
			delete(b.acks, old)
		}
	case *ev.BlockAcknowledged:
		for _, a := range m.GetAcks() {
			b.addAck(m.GetBlockId(), a)
		}
	}
}

// addAck records a node's acknowledgement; false when that node had
// acknowledged the block already.
func (b *blocks) addAck(id string, a *ddosv1.NodeAck) bool {
	byNode := b.acks[id]
	if byNode == nil {
		byNode = map[string]*ddosv1.NodeAck{}
		b.acks[id] = byNode
	}
	if _, ok := byNode[a.GetNodeId()]; ok {
		return false
	}
	byNode[a.GetNodeId()] = a
	return true
}

// view is a block with its progress (nil: unknown).
func (b *blocks) view(id string) *ddosv1.Block {
	e := b.byID[id]
	if e == nil {
		return nil
	}
	out := proto.Clone(e.block).(*ddosv1.Block)
	out.NodesTotal = int32(len(e.expected))
	byNode := b.acks[id]
	for _, n := range e.expected {
		if _, ok := byNode[n]; ok {
			out.NodesDone++
		}
	}
	for _, a := range byNode {
		out.Acks = append(out.Acks, a)
	}
	slices.SortFunc(out.Acks, func(x, y *ddosv1.NodeAck) int { return strings.Compare(x.GetNodeId(), y.GetNodeId()) })
	return out
}

// list returns at most n blocks, newest first.
func (b *blocks) list(n int) []*ddosv1.Block {
	var out []*ddosv1.Block
	for i := len(b.order) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, b.view(b.order[i]))
	}
	return out
}

// --- acknowledgements --------------------------------------------------------

// jsAckPrefix starts the reply subject of JetStream deliveries: such a
// message on an ack subject is a redirected delivery, not an ack.
const jsAckPrefix = "$JS.ACK."

type pendingAck struct {
	block string
	ack   *ddosv1.NodeAck
	reply string
}

// ackQueue holds acknowledgements not yet in the log.
type ackQueue struct {
	mu      sync.Mutex
	pending []pendingAck
	wake    chan struct{}
}

func (s *Service) subscribe() error {
	for _, sub := range []struct {
		subject string
		f       nats.MsgHandler
	}{{natsutil.DdosAckAll, s.onAck}, {natsutil.DdosReportAll, s.onReport}} {
		x, err := s.opts.Conn.Subscribe(sub.subject, sub.f)
		if err != nil {
			s.unsubscribe()
			return fmt.Errorf("ddos: subscribe %s: %w", sub.subject, err)
		}
		s.subs = append(s.subs, x)
	}
	if err := s.opts.Conn.Flush(); err != nil {
		s.unsubscribe()
		return fmt.Errorf("ddos: subscribe: %w", err)
	}
	return nil
}

func (s *Service) unsubscribe() {
	for _, x := range s.subs {
		_ = x.Unsubscribe()
	}
	s.subs = nil
}

// onAck records one node's acknowledgement; the node id is the subject's,
// the only one its credentials may publish on. A node sends its ack as a
// request, again until answered: the answer comes once the ack is in the
// log, at once for one recorded before.
func (s *Service) onAck(m *nats.Msg) {
	if strings.HasPrefix(m.Reply, jsAckPrefix) {
		return
	}
	nodeID := strings.TrimPrefix(m.Subject, natsutil.DdosAckPrefix)
	if nodeID == "" || strings.Contains(nodeID, ".") {
		return
	}
	var in ddosv1.BlockAck
	if err := proto.Unmarshal(m.Data, &in); err != nil || in.GetBlockId() == "" {
		s.log.Warn("ddos: bad acknowledgement", "node", nodeID, "err", err)
		return
	}
	ack := &ddosv1.NodeAck{NodeId: nodeID, AckedAt: timestamppb.New(s.now()), Error: truncate(in.GetError(), 1000)}
	var added bool
	s.proj.Write(func(st *state) { added = st.blocks.addAck(in.GetBlockId(), ack) })
	if !added {
		if m.Reply != "" {
			_ = m.Respond(nil)
		}
		return
	}
	s.acks.mu.Lock()
	s.acks.pending = append(s.acks.pending, pendingAck{block: in.GetBlockId(), ack: ack, reply: m.Reply})
	s.acks.mu.Unlock()
	select {
	case s.acks.wake <- struct{}{}:
	default:
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// ackLinger gathers the acks of one block, which arrive within
// milliseconds, into one event.
const ackLinger = 10 * time.Millisecond

// writeAcks records acknowledgements as ddos.block.acknowledged events, one
// per block for the acks that arrived together.
func (s *Service) writeAcks(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.acks.wake:
		}
		select {
		case <-ctx.Done(): // Stop flushes what is pending
			return
		case <-time.After(ackLinger):
		}
		s.flushAcks(ctx)
	}
}

func (s *Service) flushAcks(ctx context.Context) {
	s.acks.mu.Lock()
	batch := s.acks.pending
	s.acks.pending = nil
	s.acks.mu.Unlock()
	byBlock := map[string][]pendingAck{}
	var order []string
	for _, p := range batch {
		if _, ok := byBlock[p.block]; !ok {
			order = append(order, p.block)
		}
		byBlock[p.block] = append(byBlock[p.block], p)
	}
	// Appends outlive a cancelled run context: Stop still flushes.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, id := range order {
		ps := byBlock[id]
		msg := &ev.BlockAcknowledged{BlockId: id}
		for _, p := range ps {
			msg.Acks = append(msg.Acks, p.ack)
		}
		typ, data, err := registry.Encode(msg)
		if err != nil {
			s.log.Error("ddos: encode acks", "block", id, "err", err)
			continue
		}
		first := ps[0].ack
		e := eventstore.Event{
			// A node acknowledges a block once: its first node names the
			// batch, so a retried append stores it once.
			ID: "ack_" + id + "_" + first.GetNodeId(), Type: typ, Data: data,
			Metadata: eventstore.Metadata{Actor: ackActor(ps), Time: first.GetAckedAt().AsTime()},
		}
		if _, err := s.opts.Store.Append(ctx, BlockStream(id), eventstore.AnyVersion, e); err != nil {
			s.log.Error("ddos: record acknowledgements (the nodes send them again)", "block", id, "acks", len(ps), "err", err)
			s.proj.Write(func(st *state) {
				for _, p := range ps { // unrecorded: the resent ack must be taken again
					delete(st.blocks.acks[id], p.ack.GetNodeId())
				}
			})
			continue
		}
		for _, p := range ps {
			if p.reply != "" {
				_ = s.opts.Conn.Publish(p.reply, nil)
			}
		}
	}
}

// ackActor names the nodes of a batch of acks, as the purge service does.
func ackActor(ps []pendingAck) string {
	actor := "node:" + ps[0].ack.GetNodeId()
	if len(ps) > 1 {
		actor = fmt.Sprintf("%s and %d more nodes", actor, len(ps)-1)
	}
	return actor
}
