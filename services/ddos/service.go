// Package ddos is the DDoS service: each cluster's DDoS policy (the XDP
// filter of its nodes) as an event-sourced aggregate with releases and
// reverts, sent to the cluster's partition through services/edgesync
// (sync.go, kind "ddos_policy"); immediate blocks, which are commands
// acknowledged per node like purges (block.go); and the filter counters the
// nodes report (stats.go). See docs/ddos.md.
package ddos

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	ddosv1 "github.com/strata-edge/strata/gen/strata/ddos/v1"
	"github.com/strata-edge/strata/gen/strata/ddos/v1/ddosv1connect"
	cfgev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/ddos/v1"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/background"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/readmodel"
	"github.com/strata-edge/strata/pkg/release"
	"github.com/strata-edge/strata/services/edgesync"
)

// Clusters is what the service needs of clusters and nodes (the config
// service implements it).
type Clusters interface {
	// ResolveCluster maps a cluster id or name to its id and partition.
	ResolveCluster(ref string) (id, partition string, ok bool)
	// NodeCluster is the cluster of a node.
	NodeCluster(nodeID string) (cluster string, ok bool)
	// PartitionIDs lists every partition (a block of every cluster goes to
	// each).
	PartitionIDs() []string
}

// Options configures a Service.
type Options struct {
	Store    eventstore.Store
	Clusters Clusters
	// Sync, optional, are the partition tracks released policies go to; the
	// read model is then folded by Sync.Follow with the other contributors'
	// instead of following the log itself.
	Sync *edgesync.Tracks
	// JetStream and Conn, optional, carry block commands to the nodes and
	// their acknowledgements and reports back; without them Block is
	// refused (unavailable) and Stats is empty. Replicas is the command
	// stream's (0: 1).
	JetStream jetstream.JetStream
	Conn      *nats.Conn
	Replicas  int
	// Nodes tells which nodes are online: a block waits for them.
	Nodes  edgesync.StatusSource
	Logger *slog.Logger
	Now    func() time.Time
}

// Service owns the policy aggregates, the blocks and their read model.
type Service struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	mu     sync.Mutex // serializes commands
	proj   *projection
	follow bool // no Options.Sync: the service follows the log itself

	acks    ackQueue
	reports reports
	subs    []*nats.Subscription
	bg      background.Group
}

// New validates opts.
func New(opts Options) (*Service, error) {
	switch {
	case opts.Store == nil:
		return nil, errors.New("ddos: Options.Store is required")
	case opts.Clusters == nil:
		return nil, errors.New("ddos: Options.Clusters is required")
	case (opts.JetStream == nil) != (opts.Conn == nil):
		return nil, errors.New("ddos: Options.JetStream and Options.Conn go together")
	}
	if opts.Nodes == nil {
		opts.Nodes = edgesync.StatusSourceFunc(func() map[string]edgesync.NodeStatus { return nil })
	}
	s := &Service{opts: opts, log: cmp.Or(opts.Logger, slog.New(slog.DiscardHandler)), now: opts.Now, follow: opts.Sync == nil,
		proj: newProjection(opts.Sync), acks: ackQueue{wake: make(chan struct{}, 1)}}
	if s.now == nil {
		s.now = time.Now
	}
	if opts.Sync != nil {
		opts.Sync.Contribute(s.proj, policySyncKind)
	}
	// Stop unsubscribes first, then writes the acknowledgements still pending.
	s.bg = background.Group{Name: "ddos", BeforeStop: func(context.Context) { s.unsubscribe() }, AfterStop: s.flushAcks}
	return s, nil
}

// Start creates the command stream and subscribes to acknowledgements and
// reports (with JetStream), rebuilds the read model and follows the log.
func (s *Service) Start(ctx context.Context) error {
	if s.opts.JetStream != nil {
		if err := EnsureStream(ctx, s.opts.JetStream, s.opts.Replicas); err != nil {
			return err
		}
	}
	loops := []func(context.Context){}
	if s.follow {
		loops = append(loops, func(ctx context.Context) { s.proj.Follow(ctx, s.opts.Store, s.log) })
	}
	if s.opts.Conn != nil {
		if err := s.subscribe(); err != nil {
			return err
		}
		loops = append(loops, s.writeAcks)
	}
	return s.bg.Run(ctx, s.catchUp, loops...)
}

// Stop unsubscribes, writes the pending acknowledgements and ends the loops.
func (s *Service) Stop(ctx context.Context) error { return s.bg.Stop(ctx) }

// Handler returns the Connect handler of DdosService.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return ddosv1connect.NewDdosServiceHandler(&handler{s: s}, opts...)
}

func (s *Service) catchUp(ctx context.Context) error { return s.proj.CatchUp(ctx, s.opts.Store) }

// projection is the read model, folded from the log by Handle and read
// through Read only (live acknowledgements go through Write). An
// undecodable event is skipped with an error for the caller to log.
type projection = readmodel.Model[*state]

func newProjection(sync *edgesync.Tracks) *projection {
	return readmodel.New(newState(sync), decode, (*state).apply, nil)
}

// state is the read model: every policy with its releases, every block.
type state struct {
	policies map[string]*policyEntry // by cluster id
	blocks   blocks
	sync     *edgesync.Tracks // nil: nothing sent
}

func newState(sync *edgesync.Tracks) *state {
	return &state{policies: map[string]*policyEntry{}, blocks: newBlocks(), sync: sync}
}

type policyEntry struct {
	agg      *Policy
	releases []*ddosv1.Release
}

// clusterOf is the cluster id a policy event belongs to ("" for others).
func clusterOf(msg proto.Message) string {
	if m, ok := msg.(interface{ GetClusterId() string }); ok {
		return m.GetClusterId()
	}
	return ""
}

// decode gives the payloads the model folds: ddos events and cluster
// deletions (others are skipped).
func decode(typeID string, data []byte) (proto.Message, error) {
	if typeID == configevents.TypeClusterDeleted {
		return configevents.Decode(typeID, data)
	}
	return registry.Fold(typeID, data)
}

// apply folds one event.
func (st *state) apply(e eventstore.Event, msg proto.Message) error {
	switch m := msg.(type) {
	case *ev.BlockRequested, *ev.BlockAcknowledged:
		st.blocks.fold(e, m)
	case *cfgev.ClusterDeleted:
		st.clusterDeleted(m.GetClusterId(), e)
	default:
		if id := clusterOf(m); id != "" {
			entry := st.policies[id]
			if entry == nil {
				entry = &policyEntry{agg: NewPolicy(id)}
				st.policies[id] = entry
			}
			before := entry.agg.runs()
			entry.agg.Apply(e.Position, m)
			edgesync.Move(st.sync, e, KindPolicy, id, before, entry.agg.runs(), entry.agg.values)
			entry.releases, _ = release.Record(entry.releases, m, entry.agg.LatestRelease(), e)
		}
	}
	return nil
}

// clusterDeleted drops a deleted cluster's policy, and takes it off the
// tracks: no node of the cluster is left to run it (config refuses to
// delete a cluster with nodes), and the partition's snapshot should not
// carry it forever.
func (st *state) clusterDeleted(id string, e eventstore.Event) {
	entry := st.policies[id]
	if entry == nil {
		return
	}
	delete(st.policies, id)
	if st.sync == nil {
		return
	}
	var changes []edgesync.Change
	for _, staging := range []bool{false, true} {
		changes = append(changes, edgesync.Change{Kind: KindPolicy, ID: id, Staging: staging})
	}
	st.sync.Apply(e.Position, e.Metadata.Time, changes...)
}

func (s *Service) appendAndWait(ctx context.Context, stream string, expected uint64, msgs []proto.Message) (uint64, error) {
	meta := eventstore.Metadata{Actor: apiauth.Actor(ctx), RequestID: apiauth.RequestID(ctx), Time: s.now().UTC()}
	return registry.AppendAndWait(ctx, s.opts.Store, s.proj.WaitFor, meta, stream, expected, msgs...)
}

// resolve maps a cluster reference to its id and partition.
func (s *Service) resolve(ref string) (id, partition string, err error) {
	if ref == "" {
		return "", "", apierr.Invalid(apierr.FieldViolation{Field: "cluster", Reason: "is required"})
	}
	id, partition, ok := s.opts.Clusters.ResolveCluster(ref)
	if !ok {
		return "", "", apierr.Invalid(apierr.FieldViolation{Field: "cluster", Reason: fmt.Sprintf("no cluster %q", ref)})
	}
	return id, partition, nil
}

// exec runs cmd on the policy of cluster ref with optimistic concurrency
// (expected is the client's etag; the version of a policy never set is 0)
// and returns the cluster id and the version after it. withHistory passes
// cmd the policy's own events, oldest first (reverts replay them).
func (s *Service) exec(ctx context.Context, ref string, expected *uint64, withHistory bool, cmd func(p *Policy, partition string, history []proto.Message) ([]proto.Message, error)) (string, uint64, error) {
	id, partition, err := s.resolve(ref)
	if err != nil {
		return "", 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return "", 0, err
	}
	var history []proto.Message
	if withHistory {
		if history, err = release.History(ctx, s.opts.Store, PolicyStream(id), Decode); err != nil {
			return "", 0, err
		}
	}
	var version uint64
	var msgs []proto.Message
	s.proj.Read(func(st *state) {
		agg := NewPolicy(id)
		if e := st.policies[id]; e != nil {
			agg = e.agg
		}
		if version = agg.Version(); expected != nil && *expected != version {
			err = apierr.Conflict(fmt.Sprintf("the ddos policy of cluster %s changed: expected version %d, it is at version %d; reload and retry", id, *expected, version))
			return
		}
		msgs, err = cmd(agg, partition, history)
	})
	if err != nil || len(msgs) == 0 {
		return id, version, err
	}
	pos, err := s.appendAndWait(ctx, PolicyStream(id), version, msgs)
	if errors.Is(err, eventstore.ErrConflict) {
		return "", 0, apierr.Conflict(fmt.Sprintf("the ddos policy of cluster %s was changed concurrently; reload and retry", id))
	}
	return id, pos, err
}
