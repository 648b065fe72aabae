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
	"github.com/strata-edge/strata/pkg/listfilter"
)

// entry is one requested purge as the log recorded it.
type entry struct {
	purge    *purgev1.Purge // without progress fields
	expected []string       // node ids, sorted
}

// pushEntry is one requested push as the log recorded it.
type pushEntry struct {
	push     *purgev1.Push // without progress fields
	expected []string      // node ids, sorted
}

// model is the read model: purges and pushes folded from the log, and acknowledgements
// from the log and from the live collector (first one per node wins).
type model struct {
	mu sync.RWMutex
	// Position is the applied position (Applied, WaitFor), advanced under mu.
	eventstore.Position
	purges    map[string]*entry
	order     []string // purge ids, oldest first
	pushes    map[string]*pushEntry
	pushOrder []string // push ids, oldest first
	// acks is keyed by purge id, then node id. Acks may arrive before the
	// purge's event is folded (another replica created it), so it is kept
	// apart from purges.
	acks map[string]map[string]*purgev1.NodeAck
	// changed is closed (and replaced) after every change, for WatchPurge.
	changed chan struct{}
}

func newModel() *model {
	return &model{purges: map[string]*entry{}, pushes: map[string]*pushEntry{}, acks: map[string]map[string]*purgev1.NodeAck{},
		changed: make(chan struct{})}
}

// changes is closed at the next change of the model.
func (m *model) changes() <-chan struct{} {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.changed
}

func (m *model) notifyLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
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
		m.notifyLocked()
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
	case *ev.PushRequested:
		cmd := msg.GetCommand().GetPush()
		p := &purgev1.Push{
			Id: msg.GetPushId(), AppId: msg.GetAppId(), Urls: cmd.GetUrls(), UrlCount: int32(len(cmd.GetUrls())),
			ClusterIds: cmd.GetClusterIds(), Concurrency: cmd.GetConcurrency(), Actor: e.Metadata.Actor,
			CreatedAt: timestamppb.New(e.Metadata.Time), ExpiresAt: cmd.GetExpiresAt(), PartitionIds: msg.GetPartitionIds(),
		}
		if _, dup := m.pushes[p.Id]; !dup {
			m.pushOrder = append(m.pushOrder, p.Id)
		}
		m.pushes[p.Id] = &pushEntry{push: p, expected: slices.Sorted(slices.Values(msg.GetExpectedNodeIds()))}
	case *ev.PurgeAcknowledged: // of a purge or a push
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
	m.notifyLocked()
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
	p.NodesTotal = int32(len(e.expected))
	p.NodesDone, p.Acks, p.TimeToLastAck = m.progressLocked(p.Id, e.expected, p.GetCreatedAt().AsTime())
	return p
}

// progressLocked is the progress of command id (a purge or a push): the
// expected nodes done, every node's ack (oldest first) and, once every
// expected node acknowledged, the time from created to the last of them.
func (m *model) progressLocked(id string, expected []string, created time.Time) (done int32, acks []*purgev1.NodeAck, ttla *durationpb.Duration) {
	byNode := m.acks[id]
	var last time.Time
	for _, n := range expected {
		if a, ok := byNode[n]; ok {
			done++
			if t := a.GetAckedAt().AsTime(); t.After(last) {
				last = t
			}
		}
	}
	for _, a := range byNode {
		acks = append(acks, proto.Clone(a).(*purgev1.NodeAck))
	}
	slices.SortFunc(acks, func(a, b *purgev1.NodeAck) int {
		return a.GetAckedAt().AsTime().Compare(b.GetAckedAt().AsTime())
	})
	if int(done) == len(expected) {
		d := time.Duration(0)
		if !last.IsZero() {
			d = max(last.Sub(created), 0)
		}
		ttla = durationpb.New(d)
	}
	return done, acks, ttla
}

// viewPush returns a push with its progress, with its URLs when urls.
func (m *model) viewPush(id string, urls bool) (*purgev1.Push, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e := m.pushes[id]
	if e == nil {
		return nil, false
	}
	return m.viewPushLocked(e, urls), true
}

func (m *model) viewPushLocked(e *pushEntry, urls bool) *purgev1.Push {
	keep := e.push.Urls
	if !urls {
		e.push.Urls = nil // not cloned: the clone below is all a reader gets
	}
	p := proto.Clone(e.push).(*purgev1.Push)
	e.push.Urls = keep
	p.NodesTotal = int32(len(e.expected))
	p.NodesDone, p.Acks, p.TimeToLastAck = m.progressLocked(p.Id, e.expected, p.GetCreatedAt().AsTime())
	for _, a := range p.Acks {
		p.UrlsFailed += a.GetPush().GetFailed()
	}
	return p
}

// listPushes returns one page of pushes, newest first.
func (m *model) listPushes(pg *listfilter.Page[*purgev1.Push]) ([]*purgev1.Push, string) {
	m.mu.Lock() // viewPushLocked without URLs swaps a field for a moment
	defer m.mu.Unlock()
	var c listfilter.Collector[*purgev1.Push]
	for i := len(m.pushOrder) - 1; i >= 0; i-- {
		view := func() *purgev1.Push { return m.viewPushLocked(m.pushes[m.pushOrder[i]], false) }
		if !pg.Add(&c, listfilter.Desc(uint64(i)), view) {
			break
		}
	}
	return c.Result()
}

// list returns one page of purges, newest first.
func (m *model) list(pg *listfilter.Page[*purgev1.Purge]) ([]*purgev1.Purge, string) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var c listfilter.Collector[*purgev1.Purge]
	for i := len(m.order) - 1; i >= 0; i-- {
		view := func() *purgev1.Purge { return m.viewLocked(m.purges[m.order[i]]) }
		if !pg.Add(&c, listfilter.Desc(uint64(i)), view) {
			break
		}
	}
	return c.Result()
}
