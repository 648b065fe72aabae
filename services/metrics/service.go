// Package metrics is the metrics service: Metric SQL definitions as
// event-sourced aggregates synced to the nodes (sync.go), the ingest of the
// nodes' reports into the metrics store (ingest.go), node liveness
// (liveness.go) and the query API over Connect (handler.go, tail.go). See
// README.md.
package metrics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	cfgev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/gen/strata/metrics/v1/metricsv1connect"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/background"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/ids"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/readmodel"
	"github.com/strata-edge/strata/services/edgesync"
	"github.com/strata-edge/strata/services/metrics/store"
)

const prefixMetric = "met_"

// PartitionResolver maps a partition id or name to its id (the config
// service implements it).
type PartitionResolver interface {
	ResolvePartition(ref string) (id string, ok bool)
}

// Options configures a Service.
type Options struct {
	// Store is the event store the definitions live in.
	Store  eventstore.Store
	Logger *slog.Logger
	Now    func() time.Time
	// Partitions, optional, resolves and checks the partitions a definition
	// names; without it partition references are taken as ids.
	Partitions PartitionResolver
	// Sync, optional, are the partition tracks this service sends
	// definitions to (sync.go); its read model is then folded by
	// Sync.Follow with the other contributors' instead of following the log
	// itself.
	Sync *edgesync.Tracks

	// Results, optional, is the metrics store: with Conn it makes this
	// process ingest reports and answer queries (strata control --services
	// metrics); without, it keeps the definitions only (every API process
	// contributes them to the tracks). The caller closes it after Stop.
	Results store.Store
	// Conn receives the nodes' reports (ingest, liveness, Tail).
	Conn *nats.Conn
	// Objects, optional, resolves app and node names in queries.
	Objects Objects
	// Gateways, optional, tells why a node that stopped reporting is out of
	// the gateway answers.
	Gateways Gateways
	// LivenessTimeout (default DefaultLivenessTimeout), TailWait (default
	// DefaultTailWait: how long after a second Tail sends it) and
	// MaxReportBytes (default DefaultMaxReportBytes).
	LivenessTimeout time.Duration
	TailWait        time.Duration
	MaxReportBytes  int
}

// Service owns the metric definitions and their read model.
type Service struct {
	store eventstore.Store
	log   *slog.Logger
	now   func() time.Time
	parts PartitionResolver

	mu     sync.Mutex // serializes commands
	proj   *projection
	follow bool // no Options.Sync: the service follows the log itself

	results         store.Store
	conn            *nats.Conn
	objects         Objects
	gateways        Gateways
	livenessTimeout time.Duration
	tailWait        time.Duration
	maxReport       int
	life            liveness
	tails           tails
	inflight        sync.WaitGroup // ingest callbacks running
	prom            *promMetrics

	bg background.Group
}

// New validates opts.
func New(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("metrics: Options.Store is required")
	}
	s := &Service{store: opts.Store, log: opts.Logger, now: opts.Now, parts: opts.Partitions, follow: opts.Sync == nil,
		bg:   background.Group{Name: "metrics"},
		proj: readmodel.New(&state{metrics: map[string]*Metric{}, partitions: map[string]bool{}, sync: opts.Sync}, decode, (*state).apply, nil)}
	if opts.Sync != nil {
		opts.Sync.Contribute(s.proj, metricSyncKind)
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if (opts.Results == nil) != (opts.Conn == nil) {
		return nil, errors.New("metrics: Options.Results and Options.Conn go together (ingest needs both)")
	}
	s.results, s.conn, s.objects, s.gateways = opts.Results, opts.Conn, opts.Objects, opts.Gateways
	s.livenessTimeout = cmp.Or(opts.LivenessTimeout, DefaultLivenessTimeout)
	s.tailWait = cmp.Or(opts.TailWait, DefaultTailWait)
	s.maxReport = cmp.Or(opts.MaxReportBytes, DefaultMaxReportBytes)
	s.prom = newPromMetrics(s)
	s.tails.dropped = s.prom.tailDrops
	return s, nil
}

// Start rebuilds the read model from the event log and follows it; with a
// store it subscribes to the nodes' reports (ingest with queue group
// natsutil.MetricsQueue: one replica stores each report; a watch without
// one: every replica sees every report for liveness and Tail).
func (s *Service) Start(ctx context.Context) error {
	var loops []func(context.Context)
	if s.follow {
		loops = append(loops, func(ctx context.Context) { s.proj.Follow(ctx, s.store, s.log) })
	}
	if s.results != nil {
		// The loops' context: ingest must not end with the caller's ctx.
		unsubscribe, err := s.subscribe(context.WithoutCancel(ctx))
		if err != nil {
			return err
		}
		loops = append(loops, s.runLiveness, s.runCompact, func(ctx context.Context) { <-ctx.Done(); unsubscribe() })
		if err := s.bg.Run(ctx, s.catchUp, loops...); err != nil {
			if errors.Is(err, background.ErrRunning) {
				unsubscribe() // the loops never ran: the subscriptions are this call's
			}
			return err
		}
		return nil
	}
	return s.bg.Run(ctx, s.catchUp, loops...)
}

// subscribe receives reports until the returned unsubscribe is called
// (nats.go subscribes again after a reconnect).
func (s *Service) subscribe(ctx context.Context) (unsubscribe func(), err error) {
	// Up to ingestWorkers reports are stored at once (different nodes: a
	// node sends its next report once the previous is answered); past
	// that the callback waits and NATS buffers, bounded below.
	workers := make(chan struct{}, ingestWorkers)
	ingest, err := s.conn.QueueSubscribe(natsutil.MetricsReportAll, natsutil.MetricsQueue, func(m *nats.Msg) {
		workers <- struct{}{}
		s.inflight.Add(1)
		go func() {
			defer func() { <-workers; s.inflight.Done() }()
			s.ingest(ctx, m)
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to metrics reports: %w", err)
	}
	watch, err := s.conn.Subscribe(natsutil.MetricsReportAll, s.watch)
	if err != nil {
		_ = ingest.Unsubscribe()
		return nil, fmt.Errorf("subscribe to metrics reports: %w", err)
	}
	// Bounded: past these, NATS drops reports (the nodes re-send).
	for _, sub := range []*nats.Subscription{ingest, watch} {
		_ = sub.SetPendingLimits(4096, 256<<20)
	}
	if err := s.conn.Flush(); err != nil {
		_, _ = ingest.Unsubscribe(), watch.Unsubscribe()
		return nil, fmt.Errorf("subscribe to metrics reports: %w", err)
	}
	return func() {
		// Unanswered reports are re-sent to another replica; the one being
		// stored finishes before the store closes.
		_, _ = ingest.Unsubscribe(), watch.Unsubscribe()
		s.inflight.Wait()
	}, nil
}

// Stop ends the background loops; an ingest in progress finishes first.
func (s *Service) Stop(ctx context.Context) error { return s.bg.Stop(ctx) }

// Handler returns the Connect handler of MetricsService.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return metricsv1connect.NewMetricsServiceHandler(&handler{s: s}, opts...)
}

// projection is the read model, folded from the log by Handle and read
// through Read only. An undecodable event (corrupt, or from a newer
// writer) is skipped with an error for the caller to log.
type projection = readmodel.Model[*state]

// state is the read model: every metric aggregate and the partitions that
// exist (folded from the config events, in log order: "every partition" of
// a definition without partitions is the partitions as of each event).
type state struct {
	metrics    map[string]*Metric
	partitions map[string]bool
	sync       *edgesync.Tracks // nil sends nothing
}

// decode gives the payloads the model folds: metric events and the
// partition events of the config area (others are skipped).
func decode(typeID string, data []byte) (proto.Message, error) {
	if typeID == configevents.TypePartitionCreated || typeID == configevents.TypePartitionDeleted {
		return configevents.Decode(typeID, data)
	}
	return registry.Fold(typeID, data)
}

// apply folds one event.
func (st *state) apply(e eventstore.Event, msg proto.Message) error {
	switch m := msg.(type) {
	case *cfgev.PartitionCreated:
		st.partitions[m.GetPartition().GetId()] = true
		st.syncEverywhere(e)
	case *cfgev.PartitionDeleted:
		delete(st.partitions, m.GetPartitionId())
		st.syncEverywhere(e)
	default:
		id := MetricIDOf(msg)
		if id == "" {
			return fmt.Errorf("%s names no metric", e.Type)
		}
		agg := st.metrics[id]
		if agg == nil {
			agg = NewMetric(id)
			st.metrics[id] = agg
		}
		agg.ApplyAt(e.Position, e.Metadata.Time, msg)
		st.syncMetric(agg, e)
	}
	return nil
}

// lookup finds a live metric by id or name.
func (st *state) lookup(ref string) *Metric {
	if m := st.metrics[ref]; m != nil && m.Exists() {
		return m
	}
	for _, m := range st.metrics {
		if m.Exists() && m.def.GetName() == ref {
			return m
		}
	}
	return nil
}

// live counts the metrics that exist.
func (st *state) live() (n int) {
	for _, m := range st.metrics {
		if m.Exists() {
			n++
		}
	}
	return n
}

// list returns the live definitions, by name.
func (st *state) list() []*metricsv1.MetricDefinition {
	var out []*metricsv1.MetricDefinition
	for _, m := range st.metrics {
		if d := m.Definition(); d != nil {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b *metricsv1.MetricDefinition) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

func (s *Service) catchUp(ctx context.Context) error { return s.proj.CatchUp(ctx, s.store) }

func (s *Service) appendAndWait(ctx context.Context, stream string, expected uint64, msgs []proto.Message) (uint64, error) {
	meta := eventstore.Metadata{Actor: apiauth.Actor(ctx), RequestID: apiauth.RequestID(ctx), Time: s.now().UTC()}
	events, err := registry.Events(meta, msgs...)
	if err != nil {
		return 0, err
	}
	stored, err := s.store.Append(ctx, stream, expected, events...)
	if err != nil {
		return 0, fmt.Errorf("append to %s: %w", stream, err)
	}
	last := stored[len(stored)-1].Position
	return last, s.proj.WaitFor(ctx, last)
}

// create defines a new metric; its name must be free and the count under
// MaxMetrics.
func (s *Service) create(ctx context.Context, spec Spec) (*metricsv1.MetricDefinition, error) {
	parts, err := s.resolvePartitions(spec.Partitions)
	if err != nil {
		return nil, err
	}
	spec.Partitions = parts
	id := ids.New(prefixMetric)
	msgs, err := NewMetric(id).Create(spec)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	s.proj.Read(func(st *state) {
		switch {
		case st.lookup(spec.Name) != nil:
			// already_exists, as the API documents; apierr passes a Connect
			// error through unchanged.
			err = connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("name: metric %q already exists", spec.Name))
		case st.live() >= maxMetrics:
			err = apierr.FailedPrecondition(fmt.Sprintf("there are %d metrics already, the most allowed; delete one first", maxMetrics))
		}
	})
	if err != nil {
		return nil, err
	}
	if _, err := s.appendAndWait(ctx, MetricStream(id), 0, msgs); err != nil {
		return nil, err
	}
	return s.definition(id), nil
}

// exec runs cmd on metric ref with optimistic concurrency (expected, when
// non-zero, is the version the client last read) and returns the metric's
// id.
func (s *Service) exec(ctx context.Context, ref string, expected uint64, cmd func(m *Metric) ([]proto.Message, error)) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return "", err
	}
	var m *Metric
	var version uint64
	var msgs []proto.Message
	var err error
	s.proj.Read(func(st *state) {
		if m = st.lookup(ref); m == nil {
			err = apierr.NotFound("metric", ref)
			return
		}
		if version = m.Version(); expected != 0 && expected != version {
			err = apierr.Conflict(fmt.Sprintf("metric %s changed: expected version %d, it is at version %d; reload and retry", m.ID(), expected, version))
			return
		}
		msgs, err = cmd(m)
	})
	if err != nil {
		return "", err
	}
	if len(msgs) == 0 {
		return m.ID(), nil
	}
	_, err = s.appendAndWait(ctx, MetricStream(m.ID()), version, msgs)
	if errors.Is(err, eventstore.ErrConflict) {
		return "", apierr.Conflict(fmt.Sprintf("metric %s was changed concurrently; reload and retry", m.ID()))
	}
	return m.ID(), err
}

// definition returns metric id's current definition (nil when gone).
func (s *Service) definition(id string) (d *metricsv1.MetricDefinition) {
	s.proj.Read(func(st *state) {
		if m := st.metrics[id]; m != nil {
			d = m.Definition()
		}
	})
	return d
}

// resolvePartitions maps partition references to ids; each must exist.
func (s *Service) resolvePartitions(refs []string) ([]string, error) {
	if len(refs) > MaxPartitions {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "partition_ids", Reason: fmt.Sprintf("%d partitions, more than %d", len(refs), MaxPartitions)})
	}
	out := make([]string, 0, len(refs))
	for i, r := range refs {
		id := strings.TrimSpace(r)
		if s.parts != nil {
			var ok bool
			if id, ok = s.parts.ResolvePartition(id); !ok {
				return nil, apierr.Invalid(apierr.FieldViolation{Field: fmt.Sprintf("partition_ids[%d]", i), Reason: fmt.Sprintf("no partition %q", r)})
			}
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// Definitions returns every live definition, by name.
func (s *Service) Definitions() (out []*metricsv1.MetricDefinition) {
	s.proj.Read(func(st *state) { out = st.list() })
	return out
}
