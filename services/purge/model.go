package purge

import (
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ev "github.com/strata-edge/strata/gen/strata/events/purge/v1"
	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/pkg/eventstore"
)

// entry is one requested purge as the log recorded it.
type entry struct {
	purge    *purgev1.Purge // without progress fields
	expected []string       // node ids, sorted
}

// model is the read model: purges folded from the log, and acknowledgements
// from the log and from the live collector (first one per node wins).
type model struct {
	mu sync.RWMutex
	// Position is the applied position (Applied, WaitFor), advanced under mu.
	eventstore.Position
	purges map[string]*entry
	order  []string // purge ids, oldest first
	// acks is keyed by purge id, then node id. Acks may arrive before the
	// purge's event is folded (another replica created it), so it is kept
	// apart from purges.
	acks map[string]map[string]*purgev1.NodeAck
}

func newModel() *model {
	return &model{purges: map[string]*entry{}, acks: map[string]map[string]*purgev1.NodeAck{}}
}

// handle folds one event of the global log.
func (m *model) handle(e eventstore.Event) error {
	msg, err := registry.Fold(e.Type, e.Data)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer func() {
		m.Advance(e.Position)
		m.mu.Unlock()
	}()
	switch msg := msg.(type) {
	case *ev.PurgeRequested:
		cmd := msg.GetCommand()
		p := &purgev1.Purge{
			Id: msg.GetPurgeId(), Kind: cmd.GetKind(), Values: cmd.GetValues(), Condition: cmd.GetCondition(),
			Soft: cmd.GetSoft(), Scope: msg.GetScope(), Actor: e.Metadata.Actor,
			CreatedAt: timestamppb.New(e.Metadata.Time), PartitionIds: msg.GetPartitionIds(),
		}
		if _, dup := m.purges[p.Id]; !dup {
			m.order = append(m.order, p.Id)
		}
		m.purges[p.Id] = &entry{purge: p, expected: slices.Sorted(slices.Values(msg.GetExpectedNodeIds()))}
	case *ev.PurgeAcknowledged:
		if a := msg.GetAck(); a != nil {
			m.addAckLocked(msg.GetPurgeId(), a)
		}
		for _, a := range msg.GetAcks() {
			m.addAckLocked(msg.GetPurgeId(), a)
		}
	}
	return nil
}

// addAck records a node's acknowledgement; it reports false when that node
// had already acknowledged the purge.
func (m *model) addAck(purgeID string, ack *purgev1.NodeAck) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addAckLocked(purgeID, ack)
}

func (m *model) addAckLocked(purgeID string, ack *purgev1.NodeAck) bool {
	byNode := m.acks[purgeID]
	if byNode == nil {
		byNode = map[string]*purgev1.NodeAck{}
		m.acks[purgeID] = byNode
	}
	if _, ok := byNode[ack.GetNodeId()]; ok {
		return false
	}
	byNode[ack.GetNodeId()] = ack
	return true
}

// view returns a purge with its progress.
func (m *model) view(id string) (*purgev1.Purge, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e := m.purges[id]
	if e == nil {
		return nil, false
	}
	return m.viewLocked(e), true
}

func (m *model) viewLocked(e *entry) *purgev1.Purge {
	p := proto.Clone(e.purge).(*purgev1.Purge)
	byNode := m.acks[p.Id]
	p.NodesTotal = int32(len(e.expected))
	var last time.Time
	for _, n := range e.expected {
		if a, ok := byNode[n]; ok {
			p.NodesDone++
			if t := a.GetAckedAt().AsTime(); t.After(last) {
				last = t
			}
		}
	}
	for _, a := range byNode {
		p.Acks = append(p.Acks, proto.Clone(a).(*purgev1.NodeAck))
	}
	slices.SortFunc(p.Acks, func(a, b *purgev1.NodeAck) int {
		return a.GetAckedAt().AsTime().Compare(b.GetAckedAt().AsTime())
	})
	if p.NodesDone == p.NodesTotal {
		d := time.Duration(0)
		if !last.IsZero() {
			d = max(last.Sub(p.GetCreatedAt().AsTime()), 0)
		}
		p.TimeToLastAck = durationpb.New(d)
	}
	return p
}

// list returns purges newest first, from offset, at most n.
func (m *model) list(offset, n int) (out []*purgev1.Purge, more bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for i := len(m.order) - 1 - offset; i >= 0 && len(out) < n; i-- {
		out = append(out, m.viewLocked(m.purges[m.order[i]]))
	}
	return out, len(m.order)-offset > n
}
