// Package dns is the DNS service: DNS apps (zones) as event-sourced
// aggregates with pending changes, releases and reverts, served over Connect.
// The released zones reach the nodes through services/edgesync (sync.go).
package dns

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/gen/strata/dns/v1/dnsv1connect"
	ev "github.com/strata-edge/strata/gen/strata/events/dns/v1"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/background"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/ids"
	"github.com/strata-edge/strata/pkg/readmodel"
	"github.com/strata-edge/strata/pkg/release"
	"github.com/strata-edge/strata/services/edgesync"
)

const (
	prefixZone = "zone_"
	// DefaultPartition is used when a zone names no partition.
	DefaultPartition = "default"
)

// PartitionResolver maps a partition id or name to its id (the config
// service implements it).
type PartitionResolver interface {
	ResolvePartition(ref string) (id string, ok bool)
}

// Options configures a Service.
type Options struct {
	Store  eventstore.Store
	Logger *slog.Logger
	Now    func() time.Time
	// Partitions, optional, resolves partition names; without it partition
	// references are taken as ids.
	Partitions PartitionResolver
	// Sync, optional, are the partition tracks this service sends released
	// zones to; its read model is then folded by Sync.Follow with the other
	// contributors' (docs/architecture.md) instead of following the log
	// itself. Gateways fills gateway records' addresses for them.
	Sync     *edgesync.Tracks
	Gateways Gateways
}

// Service owns the zone aggregates and their read model.
type Service struct {
	store eventstore.Store
	log   *slog.Logger
	now   func() time.Time
	parts PartitionResolver

	mu     sync.Mutex // serializes commands
	proj   *projection
	follow bool // no Options.Sync: the service follows the log itself

	bg background.Group
}

// New validates opts.
func New(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("dns: Options.Store is required")
	}
	s := &Service{store: opts.Store, log: opts.Logger, now: opts.Now, parts: opts.Partitions, follow: opts.Sync == nil, bg: background.Group{Name: "dns"},
		proj: newProjection(&state{zones: map[string]*zoneEntry{}, sync: opts.Sync, gateways: opts.Gateways})}
	if opts.Sync != nil {
		opts.Sync.Contribute(s.proj, zoneSyncKind)
	}
	s.log = cmp.Or(s.log, slog.New(slog.DiscardHandler))
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Start rebuilds the read model from the event log and follows it.
func (s *Service) Start(ctx context.Context) error {
	var loops []func(context.Context)
	if s.follow {
		loops = append(loops, func(ctx context.Context) { s.proj.Follow(ctx, s.store, s.log) })
	}
	return s.bg.Run(ctx, s.catchUp, loops...)
}

// Stop ends the follower.
func (s *Service) Stop(ctx context.Context) error { return s.bg.Stop(ctx) }

// Handler returns the Connect handler of DnsService.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return dnsv1connect.NewDnsServiceHandler(&handler{s: s}, opts...)
}

// projection is the read model, folded from the log by Handle and read
// through Read only. An undecodable DNS event (corrupt, or from a newer
// writer) is skipped with an error for the caller to log.
type projection = readmodel.Model[*state]

func newProjection(st *state) *projection {
	return readmodel.New(st, registry.Fold, (*state).apply, nil)
}

// state is the read model: every zone aggregate with its release history
// and pending changes.
type state struct {
	zones map[string]*zoneEntry
	// sync and gateways: where released zones go (sync.go); nil sends none.
	sync     *edgesync.Tracks
	gateways Gateways
}

type zoneEntry struct {
	agg      *Zone
	releases []*dnsv1.Release
	pending  []*dnsv1.PendingChange
}

// apply folds one zone event.
func (st *state) apply(e eventstore.Event, msg proto.Message) error {
	id := ZoneIDOf(msg)
	if id == "" {
		return nil
	}
	entry := st.zones[id]
	if entry == nil {
		entry = &zoneEntry{agg: NewZone(id)}
		st.zones[id] = entry
	}
	before := entry.agg.runs()
	entry.agg.Apply(e.Position, msg)
	edgesync.Move(st.sync, e, KindZone, id, before, entry.agg.runs(), st.values)
	entry.record(msg, e)
	return nil
}

// record keeps the release records and pending changes of the zone's
// event msg, applied at e.
func (entry *zoneEntry) record(msg proto.Message, e eventstore.Event) {
	var step string
	entry.releases, step = release.Record(entry.releases, msg, entry.agg.LatestRelease(), e)
	switch step {
	case release.StepPromote: // no new release: pending changes stay pending
	case "":
		entry.pending = append(entry.pending, &dnsv1.PendingChange{Summary: summary(msg), Actor: e.Metadata.Actor, Time: timestamppb.New(e.Metadata.Time)})
	default:
		entry.pending = nil
	}
}

func summary(msg proto.Message) string {
	rec := func(r *dnsv1.Record) string {
		return fmt.Sprintf("%s %s %s", r.GetName(), strings.TrimPrefix(r.GetType().String(), "RECORD_TYPE_"), r.GetData())
	}
	switch m := msg.(type) {
	case *ev.ZoneCreated:
		return "zone created " + m.GetSettings().GetName()
	case *ev.ZoneUpdated:
		return "zone settings updated"
	case *ev.ZoneDeleted:
		return "zone deleted"
	case *ev.RecordAdded:
		return "record added: " + rec(m.GetRecord())
	case *ev.RecordUpdated:
		return "record updated: " + rec(m.GetRecord())
	case *ev.RecordRemoved:
		return "record removed: " + m.GetRecordId()
	case *ev.ZoneImported:
		return fmt.Sprintf("zone file imported: %d records", len(m.GetRecords()))
	}
	return string(msg.ProtoReflect().Descriptor().Name())
}

// lookup finds a zone by id or name.
func (st *state) lookup(ref string) *zoneEntry {
	if e := st.zones[ref]; e != nil && e.agg.Exists() {
		return e
	}
	name := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(ref), ".")) + "."
	var found *zoneEntry
	for _, e := range st.zones {
		if e.agg.Exists() && e.agg.Working().GetName() == name {
			if found == nil || !e.agg.Deleted() {
				found = e
			}
		}
	}
	return found
}

// nameTaken reports whether another live zone uses origin.
func (st *state) nameTaken(origin, self string) bool {
	for id, e := range st.zones {
		if id != self && e.agg.Exists() && (!e.agg.Deleted() || e.agg.Released() != nil || e.agg.Stable() != nil) && e.agg.Working().GetName() == origin {
			return true
		}
	}
	return false
}

func (s *Service) catchUp(ctx context.Context) error {
	return s.proj.CatchUp(ctx, s.store)
}

func (s *Service) appendAndWait(ctx context.Context, stream string, expected uint64, msgs []proto.Message) (uint64, error) {
	meta := eventstore.Metadata{Actor: apiauth.Actor(ctx), RequestID: apiauth.RequestID(ctx), Time: s.now().UTC()}
	return registry.AppendAndWait(ctx, s.store, s.proj.WaitFor, meta, stream, expected, msgs...)
}

// exec runs cmd on zone ref with optimistic concurrency (expected is the
// client's etag) and returns the zone's id and version after it.
func (s *Service) exec(ctx context.Context, ref string, expected *uint64, cmd func(z *Zone) ([]proto.Message, error)) (string, uint64, error) {
	return s.execHistory(ctx, ref, expected, false, func(z *Zone, _ []proto.Message) ([]proto.Message, error) { return cmd(z) })
}

// execHistory is exec; withHistory passes cmd the zone's own events, oldest
// first (reverts replay them).
func (s *Service) execHistory(ctx context.Context, ref string, expected *uint64, withHistory bool, cmd func(z *Zone, history []proto.Message) ([]proto.Message, error)) (string, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return "", 0, err
	}
	var entry *zoneEntry
	s.proj.Read(func(st *state) { entry = st.lookup(ref) })
	if entry == nil {
		return "", 0, apierr.NotFound("zone", ref)
	}
	var history []proto.Message
	if withHistory {
		h, err := release.History(ctx, s.store, ZoneStream(entry.agg.ID()), Decode)
		if err != nil {
			return "", 0, err
		}
		history = h
	}
	id := entry.agg.ID()
	var version uint64
	var msgs []proto.Message
	var err error
	s.proj.Read(func(*state) {
		if version = entry.agg.Version(); expected != nil && *expected != version {
			err = apierr.Conflict(fmt.Sprintf("zone %s changed: expected version %d, it is at version %d; reload and retry", id, *expected, version))
			return
		}
		msgs, err = cmd(entry.agg, history)
	})
	if err != nil || len(msgs) == 0 {
		return id, version, err
	}
	pos, err := s.appendAndWait(ctx, ZoneStream(id), version, msgs)
	if errors.Is(err, eventstore.ErrConflict) {
		return "", 0, apierr.Conflict(fmt.Sprintf("zone %s was changed concurrently; reload and retry", id))
	}
	return id, pos, err
}

func (s *Service) create(ctx context.Context, set Settings) (*dnsv1.Zone, uint64, error) {
	parts, err := s.resolvePartitions(set.Partitions)
	if err != nil {
		return nil, 0, err
	}
	set.Partitions = parts
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return nil, 0, err
	}
	id := ids.New(prefixZone)
	z := NewZone(id)
	msgs, err := z.Create(set)
	if err != nil {
		return nil, 0, err
	}
	origin := msgs[0].(*ev.ZoneCreated).GetSettings().GetName()
	var taken bool
	s.proj.Read(func(st *state) { taken = st.nameTaken(origin, id) })
	if taken {
		return nil, 0, apierr.Invalid(apierr.FieldViolation{Field: "name", Reason: fmt.Sprintf("zone %s already exists", origin)})
	}
	pos, err := s.appendAndWait(ctx, ZoneStream(id), 0, msgs)
	if err != nil {
		return nil, 0, err
	}
	var w *dnsv1.Zone
	s.proj.Read(func(st *state) { w = st.zones[id].agg.Working() })
	return w, pos, nil
}

func (s *Service) resolvePartitions(refs []string) ([]string, error) {
	if len(refs) == 0 {
		refs = []string{DefaultPartition}
	}
	out := make([]string, 0, len(refs))
	for i, r := range refs {
		id := strings.TrimSpace(r)
		if s.parts != nil {
			var ok bool
			if id, ok = s.parts.ResolvePartition(r); !ok {
				return nil, apierr.Invalid(apierr.FieldViolation{Field: fmt.Sprintf("partitions[%d]", i), Reason: fmt.Sprintf("no partition %q", r)})
			}
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// ReleasedZones returns what stable nodes serve of every zone (the cert
// service's DNS-01 zones, tests).
func (s *Service) ReleasedZones() []*dnsv1.Zone {
	var out []*dnsv1.Zone
	s.proj.Read(func(st *state) {
		for _, e := range st.zones {
			if r := e.agg.Stable(); r != nil {
				out = append(out, r)
			}
		}
	})
	slices.SortFunc(out, func(a, b *dnsv1.Zone) int { return strings.Compare(a.GetId(), b.GetId()) })
	return out
}
