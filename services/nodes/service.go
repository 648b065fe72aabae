// Package nodes implements NodeService: join tokens, node join and approval,
// and the NATS credentials of nodes (pkg/natsauth); and the config API's
// node commands (register.go): it is the one writer of node streams. It keeps its own small
// read model of clusters, nodes and join tokens, folded from the event log,
// and revokes a node's key when the node is removed. It also records node
// heartbeats so that the config service can show who is online.
package nodes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/background"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/keywrap"
	"github.com/strata-edge/strata/pkg/natsauth"
)

// JoinProcedure is the one NodeService procedure that does not take an API
// token: the node authenticates with its join token. The API server exempts
// it from the bearer-token interceptor (apiauth.WithPublicProcedures).
const JoinProcedure = configv1connect.NodeServiceJoinProcedure

// Defaults of Options.
const (
	DefaultHeartbeatInterval = 5 * time.Second
	defaultTokenTTL          = 24 * time.Hour
	maxTokenTTL              = 30 * 24 * time.Hour
)

// Options configures New.
type Options struct {
	// Store is the event log (required).
	Store eventstore.Store
	// Authority issues node credentials and revokes them. Nil: the process
	// serves the config API but not NodeService, and the service only runs
	// the config API's node commands (register.go); the process serving
	// NodeService revokes the keys of removed nodes.
	Authority *natsauth.Authority
	// Hub is the embedded hub that Revoke updates at run time. Nil when the
	// hub runs elsewhere: revocations are then recorded (and applied when
	// the hub is next configured from the Authority) but not pushed.
	Hub *server.Server
	// Conn is a control-user connection to the hub, used to receive node
	// heartbeats. Nil disables Statuses.
	Conn *nats.Conn
	// LeafURLs are handed to approved nodes (nats-leaf:// or tls://).
	LeafURLs []string
	// NodeKEK, optional, returns a partition's node key-encryption key
	// (the cert side, wired by the caller). Approved nodes that send a
	// transport key get it sealed to that key (see kek.go); nil: nodes get
	// no KEK at join.
	NodeKEK func(partitionID string) (*keywrap.Keyring, error)
	// HeartbeatInterval is how often nodes report; a node is online while
	// its last report is younger than three intervals. Default 5s.
	HeartbeatInterval time.Duration
	Logger            *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Service implements configv1connect.NodeServiceHandler.
type Service struct {
	opts  Options
	log   *slog.Logger
	model *model

	// cmdMu serializes commands: each decides on the read model and appends,
	// so two joins with one name cannot both pass the uniqueness check.
	cmdMu sync.Mutex

	statusMu sync.RWMutex
	statuses map[string]received
	// gwKick wakes the gateway publisher (runGateways).
	gwKick chan struct{}

	bg      background.Group
	statSub *nats.Subscription
}

// New validates opts and returns a service; call Start before serving.
func New(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("nodes: Options.Store: required")
	}
	if opts.HeartbeatInterval == 0 {
		opts.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if opts.HeartbeatInterval < 0 {
		return nil, fmt.Errorf("nodes: Options.HeartbeatInterval: %s is negative", opts.HeartbeatInterval)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{
		opts:     opts,
		log:      opts.Logger.With("service", "nodes"),
		model:    newModel(),
		statuses: map[string]received{},
		gwKick:   make(chan struct{}, 1),
	}
	s.bg = background.Group{Name: "nodes", BeforeStop: func(context.Context) {
		if s.statSub != nil {
			_ = s.statSub.Unsubscribe()
			s.statSub = nil
		}
	}}
	return s, nil
}

// Start folds the log into the read model, returning once it has caught up
// with the log's head, and keeps folding new events until Stop. With a Conn
// it also starts receiving heartbeats.
func (s *Service) Start(ctx context.Context) error {
	head, err := s.opts.Store.Head(ctx)
	if err != nil {
		return fmt.Errorf("nodes: read log head: %w", err)
	}
	if err := s.bg.Start(ctx); err != nil {
		return err
	}
	if s.opts.Conn != nil {
		if s.statSub, err = s.subscribeStatuses(); err != nil {
			_ = s.bg.Stop(ctx)
			return err
		}
		s.bg.Go(s.runGateways)
	}
	s.bg.Go(func(ctx context.Context) { eventstore.Follow(ctx, s.opts.Store, s.model.Applied, s.fold, s.log) })
	if err := s.model.WaitFor(ctx, head); err != nil {
		_ = s.bg.Stop(context.Background())
		return fmt.Errorf("nodes: catch up with the log: %w", err)
	}
	return nil
}

// Stop ends the subscriptions and waits for the loops (at most until ctx ends).
func (s *Service) Stop(ctx context.Context) error { return s.bg.Stop(ctx) }

// fold applies one event. A node's removal revokes its key before the model
// moves past the event: a failed revocation is retried, never skipped.
func (s *Service) fold(e eventstore.Event) error {
	msg, err := decode(e.Type, e.Data)
	if err != nil {
		// A payload this service cannot read is skipped loudly rather than
		// stopping every node operation.
		s.log.Error("skipping undecodable event", "err", err, "position", e.Position, "type", e.Type)
		msg = nil
	}
	if rm, ok := msg.(*ev.NodeRemoved); ok {
		if st, ok := s.model.node(rm.GetNodeId()); ok && st.node.GetPublicKey() != "" && s.opts.Authority != nil {
			if err := s.opts.Authority.Revoke(s.opts.Hub, st.node.GetPublicKey()); err != nil {
				return fmt.Errorf("revoke key of removed node %s: %w", rm.GetNodeId(), err)
			}
			s.log.Info("revoked the credentials of a removed node", "node_id", rm.GetNodeId(), "public_key", st.node.GetPublicKey())
		}
	}
	s.model.apply(e, msg)
	if msg != nil {
		s.kickGateways() // addresses, disabled flags or clusters may have changed
	}
	if rm, ok := msg.(*ev.NodeRemoved); ok {
		s.statusMu.Lock()
		delete(s.statuses, rm.GetNodeId())
		s.statusMu.Unlock()
	}
	return nil
}

// catchUp waits until the read model holds every event appended so far, so a
// command decides on the latest state (including other services' writes).
func (s *Service) catchUp(ctx context.Context) error {
	return s.model.CatchUp(ctx, s.opts.Store)
}

// appendEvent records one event and waits until the read model folded it, so
// the caller's next request sees its own write.
func (s *Service) appendEvent(ctx context.Context, stream string, expected uint64, typeID string, payload proto.Message, actor string) error {
	meta := eventstore.Metadata{Actor: actor, RequestID: apiauth.RequestID(ctx), Time: s.opts.Now().UTC()}
	if _, err := configevents.AppendAndWait(ctx, s.opts.Store, s.model.WaitFor, meta, stream, expected, payload); err != nil {
		return fmt.Errorf("record %s: %w", typeID, err)
	}
	return nil
}

// Handler returns the Connect handler of NodeService and its path.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return configv1connect.NewNodeServiceHandler(s, opts...)
}

var _ configv1connect.NodeServiceHandler = (*Service)(nil)
