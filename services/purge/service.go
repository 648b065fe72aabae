// Package purge is the purge service: it validates a purge, records it as an
// event, publishes one command per partition of its scope on JetStream
// stream STRATA_PURGE (so an offline node applies it when it returns), and
// collects the nodes' acknowledgements into per-purge progress. See
// docs/cache.md.
package purge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/strata-edge/strata/gen/strata/purge/v1/purgev1connect"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/background"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/services/edgesync"
)

// StreamMaxAge is how long STRATA_PURGE keeps commands: a node offline for
// longer misses purges (its cached objects have usually expired by then).
const StreamMaxAge = 7 * 24 * time.Hour

// Topology is what the purge service needs to know of partitions, apps and
// nodes; the config service implements it.
type Topology interface {
	authz.ObjectResolver // apps -> their partitions
	ResolvePartition(ref string) (id string, ok bool)
	PartitionIDs() []string
	NodePartition(nodeID string) (partitionID string, ok bool)
}

// PushTopology is what pushes need besides: the domains of an app (id), a
// cluster's id and partition (id or name), a node's cluster. The config
// service implements it; a Topology that does not refuses pushes.
type PushTopology interface {
	Topology
	AppDomains(ctx context.Context, appID string) ([]string, error)
	ResolveCluster(ref string) (id, partition string, ok bool)
	NodeCluster(nodeID string) (clusterID string, ok bool)
}

// Options configures New.
type Options struct {
	Store     eventstore.Store
	JetStream jetstream.JetStream // where commands are published
	Replicas  int                 // of the command stream (0: 1)
	Conn      *nats.Conn          // where acknowledgements arrive
	// Nodes tells which nodes are online (the heartbeats the config
	// service shows); a purge waits for the online nodes of its scope.
	Nodes    edgesync.StatusSource
	Topology Topology
	Logger   *slog.Logger     // nil = discard
	Now      func() time.Time // nil = time.Now
}

// Service is the purge service.
type Service struct {
	opts  Options
	log   *slog.Logger
	model *model

	pendingMu sync.Mutex
	pending   []pendingAck  // acks not yet written to the log
	wake      chan struct{} // signalled when pending grows

	bg  background.Group
	sub *nats.Subscription
}

type pendingAck struct {
	purgeID string
	ack     *purgeNodeAck
	reply   string // the node's request, answered once the ack is in the log
}

// New checks opts and returns a stopped Service.
func New(opts Options) (*Service, error) {
	switch {
	case opts.Store == nil:
		return nil, errors.New("purge: Options.Store is required")
	case opts.JetStream == nil:
		return nil, errors.New("purge: Options.JetStream is required")
	case opts.Conn == nil:
		return nil, errors.New("purge: Options.Conn is required")
	case opts.Topology == nil:
		return nil, errors.New("purge: Options.Topology is required")
	}
	opts.Logger = cmp.Or(opts.Logger, slog.New(slog.DiscardHandler))
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Nodes == nil {
		opts.Nodes = edgesync.StatusSourceFunc(func() map[string]edgesync.NodeStatus { return nil })
	}
	s := &Service{opts: opts, log: opts.Logger, model: newModel(), wake: make(chan struct{}, 1)}
	// Stop unsubscribes first, then writes the acknowledgements still pending.
	s.bg = background.Group{Name: "purge", BeforeStop: func(context.Context) { s.sub.Unsubscribe() }, AfterStop: s.flushAcks}
	return s, nil
}

// EnsureStream creates or updates STRATA_PURGE: file storage, one subject
// per partition, commands kept for StreamMaxAge.
func EnsureStream(ctx context.Context, js jetstream.JetStream, replicas int) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        natsutil.PurgeStream,
		Description: "purge commands, one subject per partition",
		Subjects:    []string{natsutil.PurgeSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      StreamMaxAge,
		Duplicates:  2 * time.Minute,
		Replicas:    replicas,
	})
	if err != nil {
		return fmt.Errorf("purge: stream %s: %w", natsutil.PurgeStream, err)
	}
	return nil
}

// Start creates the stream, subscribes to acknowledgements, rebuilds the
// read model from the log and keeps following it.
func (s *Service) Start(ctx context.Context) error {
	if err := EnsureStream(ctx, s.opts.JetStream, s.opts.Replicas); err != nil {
		return err
	}
	head, err := s.opts.Store.Head(ctx)
	if err != nil {
		return fmt.Errorf("purge: read log head: %w", err)
	}
	if err := s.bg.Start(ctx); err != nil {
		return err
	}
	sub, err := s.opts.Conn.Subscribe(natsutil.PurgeAckAll, s.onAck)
	if err == nil {
		err = s.opts.Conn.Flush()
	}
	s.sub = sub
	if err != nil {
		_ = s.bg.Stop(ctx)
		return fmt.Errorf("purge: subscribe acks: %w", err)
	}
	s.bg.Go(func(ctx context.Context) {
		eventstore.Follow(ctx, s.opts.Store, s.model.Applied, s.model.handle, s.log)
	})
	s.bg.Go(s.writeAcks)
	if err := s.model.WaitFor(ctx, head); err != nil {
		_ = s.bg.Stop(ctx)
		return fmt.Errorf("purge: rebuild read model: %w", err)
	}
	return nil
}

// Stop unsubscribes, writes the acknowledgements still pending and ends the
// log subscription (waiting at most until ctx ends).
func (s *Service) Stop(ctx context.Context) error { return s.bg.Stop(ctx) }

// Handler returns the Connect handler of PurgeService and its path prefix.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return purgev1connect.NewPurgeServiceHandler(&handler{s: s}, opts...)
}

// jsAckPrefix starts the reply subject of messages a JetStream consumer
// delivers: such a message on an ack subject is a redirected delivery, not
// an acknowledgement (see pkg/natsauth's permission tests).
const jsAckPrefix = "$JS.ACK."

// onAck records one node's acknowledgement. The node id is the subject's,
// the only one that node's credentials may publish on. A node sends its ack
// as a request and sends it again until it is answered: the answer comes
// once the ack is in the log (flushAcks), at once for one recorded before.
func (s *Service) onAck(m *nats.Msg) {
	if strings.HasPrefix(m.Reply, jsAckPrefix) {
		return
	}
	nodeID := strings.TrimPrefix(m.Subject, natsutil.PurgeAckPrefix)
	if nodeID == "" || strings.Contains(nodeID, ".") {
		return
	}
	var in purgeAck
	if err := proto.Unmarshal(m.Data, &in); err != nil || in.GetPurgeId() == "" {
		s.log.Warn("purge: bad acknowledgement", "node", nodeID, "err", err)
		return
	}
	ack := &purgeNodeAck{NodeId: nodeID, AckedAt: timestamp(s.opts.Now()), Objects: in.GetObjects(), Error: in.GetError(), Push: in.GetPush()}
	if !s.model.addAck(in.GetPurgeId(), ack) {
		if m.Reply != "" {
			_ = m.Respond(nil)
		}
		return
	}
	s.pendingMu.Lock()
	s.pending = append(s.pending, pendingAck{purgeID: in.GetPurgeId(), ack: ack, reply: m.Reply})
	s.pendingMu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
