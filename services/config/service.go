// Package config is the config service: partitions, clusters, nodes and HTTP
// applications with their upstreams and page rules, event-sourced.
//
// Every mutation is an event appended to the event store (stream per
// aggregate: "partition.<id>", "cluster.<id>", "app.<id>"; node streams are
// the nodes service's, which runs this API's node commands). A
// projection follows the global log and folds it into the read model and
// into one versioned snapshot per partition track, whose deltas and full
// snapshots are published to JetStream for the nodes. See docs/config.md.
package config

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
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/background"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/release"
	"github.com/strata-edge/strata/services/edgesync"
)

// Options configure a Service.
type Options struct {
	Store     eventstore.Store
	JetStream jetstream.JetStream // where snapshots and deltas are published; nil disables publishing (tests)
	// Sync, optional, are tracks shared with other contributors (the dns and
	// cert services): their Follow folds this service's read model and the
	// wiring publishes them. Without it the service keeps tracks of its own,
	// follows the log itself and publishes them to JetStream.
	Sync   *edgesync.Tracks
	Logger *slog.Logger     // nil = discard
	Now    func() time.Time // nil = time.Now
	// Statuses, optional, supplies node heartbeats for ListNodes' sync
	// status; without it every node shows as never seen.
	Statuses edgesync.StatusSource
	// Nodes runs RegisterNode, SetNodeStaging and RemoveNode: the nodes
	// service, the one writer of node streams. Nil: they answer
	// unimplemented (the config service still folds and lists nodes).
	Nodes Nodes
}

// Nodes is the nodes service as the config API sees it (internal/stack
// wires it): the node commands, with this API's requests and answers.
type Nodes interface {
	RegisterNode(context.Context, *configv1.RegisterNodeRequest) (*configv1.RegisterNodeResponse, error)
	SetNodeStaging(context.Context, *configv1.SetNodeStagingRequest) (*configv1.SetNodeStagingResponse, error)
	RemoveNode(context.Context, *configv1.RemoveNodeRequest) (*configv1.RemoveNodeResponse, error)
}

// Service is the config service.
type Service struct {
	store    eventstore.Store
	js       jetstream.JetStream
	logger   *slog.Logger
	now      func() time.Time
	proj     *projection
	pub      *edgesync.Publisher
	statuses edgesync.StatusSource
	// ownSync: the tracks are this service's own (Options.Sync unset).
	ownSync bool
	// zones tells what zones use a partition or cluster (UseZones),
	// metrics what Metric SQL definitions name a partition (UseMetrics).
	zones   Zones
	metrics Metrics
	waf     WafPolicies // UseWafPolicies
	nodes   Nodes       // Options.Nodes

	// mu serializes this replica's writes, so that cross-app checks (unique
	// names, domains) run against a read model no local write changes
	// meanwhile. Other replicas are not covered: see docs/config.md.
	mu sync.Mutex

	bg background.Group
}

// New validates opts and returns a stopped Service.
func New(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("config: Options.Store is required")
	}
	s := &Service{store: opts.Store, js: opts.JetStream, logger: opts.Logger, now: opts.Now, statuses: opts.Statuses, nodes: opts.Nodes,
		bg: background.Group{Name: "config"}}
	s.logger = cmp.Or(s.logger, slog.New(slog.DiscardHandler))
	if s.now == nil {
		s.now = time.Now
	}
	sync := opts.Sync
	if s.ownSync = sync == nil; s.ownSync {
		sync = edgesync.New(s.logger, s.js != nil)
		if s.js != nil {
			s.pub = edgesync.NewPublisher(s.js, sync, Consistent, s.logger)
		}
	}
	s.proj = newProjection(s.logger, sync)
	return s, nil
}

// Start rebuilds the read model from the whole log, then keeps following new
// events and, when publishing, publishes new snapshot versions. It returns
// once the model has caught up with the log as it was when Start was called.
func (s *Service) Start(ctx context.Context) error {
	var loops []func(context.Context)
	if s.ownSync {
		loops = append(loops, func(ctx context.Context) { s.proj.sync.Follow(ctx, s.store) })
	}
	if s.pub != nil {
		if err := s.pub.EnsureStream(ctx); err != nil {
			return err
		}
		loops = append(loops, s.pub.Run)
	}
	if err := s.bg.Run(ctx, s.catchUp, loops...); err != nil {
		return err
	}
	s.logger.Info("config read model ready", "position", s.proj.Applied())
	return nil
}

// Stop ends the subscription and the publisher and waits for them (at most
// until ctx ends).
func (s *Service) Stop(ctx context.Context) error { return s.bg.Stop(ctx) }

// Handler returns the Connect handler of ConfigService and its path prefix.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return configv1connect.NewConfigServiceHandler(&handler{s: s}, opts...)
}

// EnsureDefaults creates partition "default" and cluster "default" in it
// unless they exist. Idempotent.
func (s *Service) EnsureDefaults(ctx context.Context) error {
	if _, err := s.createPartition(ctx, defaultName); err != nil && !isAlreadyExists(err) {
		return fmt.Errorf("config: default partition: %w", err)
	}
	if _, err := s.createCluster(ctx, defaultName, defaultName); err != nil && !isAlreadyExists(err) {
		return fmt.Errorf("config: default cluster: %w", err)
	}
	return nil
}

const defaultName = "default"

// --- writes -----------------------------------------------------------------

// catchUp waits until the read model has applied everything in the log, so
// that checks see writes of other replicas too.
func (s *Service) catchUp(ctx context.Context) error {
	return s.proj.CatchUp(ctx, s.store)
}

// appendAndWait appends msgs to stream and waits until the read model has
// applied them; it returns the position of the last one.
func (s *Service) appendAndWait(ctx context.Context, stream string, expected uint64, msgs []proto.Message) (uint64, error) {
	meta := eventstore.Metadata{Actor: apiauth.Actor(ctx), RequestID: apiauth.RequestID(ctx), Time: s.now().UTC()}
	return configevents.AppendAndWait(ctx, s.store, s.proj.WaitFor, meta, stream, expected, msgs...)
}

// execApp runs cmd against app id and appends its events with optimistic
// concurrency. cmd runs with the read model locked for reading, so it may
// consult the cross-app indexes. expected (the client's etag) must equal the app's version.
// withHistory passes the app's own events to cmd (reverts need them). It
// returns the app's version after the command.
func (s *Service) execApp(ctx context.Context, id string, expected *uint64, withHistory bool, cmd func(st *state, a *App, history []proto.Message) ([]proto.Message, error)) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return 0, err
	}
	for attempt := 0; ; attempt++ {
		var history []proto.Message
		if withHistory {
			h, err := release.History(ctx, s.store, appStream(id), configevents.Decode)
			if err != nil {
				return 0, err
			}
			history = h
		}
		var version uint64
		var msgs []proto.Message
		var err error
		s.proj.Read(func(st *state) {
			entry := st.apps[id]
			if entry == nil || !entry.agg.Exists() {
				err = apierr.NotFound("app", id)
				return
			}
			if version = entry.agg.Version(); expected != nil && *expected != version {
				err = apierr.Conflict(fmt.Sprintf("app %s changed: expected version %d, it is at version %d; reload and retry", id, *expected, version))
				return
			}
			if msgs, err = cmd(st, entry.agg, history); err == nil {
				err = entry.agg.checkSize(msgs)
			}
		})
		if err != nil || len(msgs) == 0 {
			return version, err
		}
		pos, err := s.appendAndWait(ctx, appStream(id), version, msgs)
		if errors.Is(err, eventstore.ErrConflict) && expected == nil && attempt < 3 {
			// Another replica wrote the app; decide again on its new state.
			if err := s.catchUp(ctx); err != nil {
				return 0, err
			}
			continue
		}
		if errors.Is(err, eventstore.ErrConflict) {
			return 0, apierr.Conflict(fmt.Sprintf("app %s was changed concurrently; reload and retry", id))
		}
		return pos, err
	}
}

func isAlreadyExists(err error) bool {
	var ae *alreadyExists
	return errors.As(err, &ae)
}

// alreadyExists wraps the Invalid error of a duplicate partition or cluster
// name, so that EnsureDefaults can tell it apart.
type alreadyExists struct{ err error }

func (e *alreadyExists) Error() string { return e.err.Error() }
func (e *alreadyExists) Unwrap() error { return e.err }

// nodesWired answers the node commands' error when no nodes service runs them.
func (s *Service) nodesWired() error {
	if s.nodes == nil {
		return connect.NewError(connect.CodeUnimplemented, errors.New("node commands: no nodes service is wired to this config service"))
	}
	return nil
}
