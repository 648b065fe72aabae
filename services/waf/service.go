// Package waf is the WAF service: WAF policies (the OWASP Core Rule Set
// through Coraza plus custom rules in Strata's rule language) as
// event-sourced aggregates with releases, staging, promotion and reverts
// (pkg/release), sent to their partitions through services/edgesync
// (sync.go, kind "waf_policy"); and the hit log the nodes report, kept in
// JetStream stream STRATA_WAF_HITS and folded into recent hits and per-rule
// counts (hits.go). Apps attach a policy by id (App.waf_policy_id, checked by
// the config service through PolicyRef). See docs/waf.md.
package waf

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
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	cfgev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/waf/v1"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/gen/strata/waf/v1/wafv1connect"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/background"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/keywrap"
	"github.com/strata-edge/strata/pkg/readmodel"
	"github.com/strata-edge/strata/pkg/release"
	"github.com/strata-edge/strata/services/edgesync"
)

// Partitions resolves the partitions a policy names (the config service
// implements it).
type Partitions interface {
	ResolvePartition(ref string) (id string, ok bool)
}

// Apps tells which apps attach a policy (the config service, wired in
// internal/stack: no service imports another): each as `"shop" (app_1)`,
// counting an app whose working copy or a release that runs names it.
type Apps interface {
	AppsAttaching(policyID string) []string
}

// Options configures a Service.
type Options struct {
	Store eventstore.Store
	// Sync, optional, are the partition tracks released policies go to; the
	// read model is then folded by Sync.Follow with the other contributors'
	// instead of following the log itself.
	Sync *edgesync.Tracks
	// Partitions, optional, resolves partition references (without it they
	// are taken as ids).
	Partitions Partitions
	// Apps, optional, refuses DeletePolicy while apps attach the policy and
	// fills GetPolicyResponse.app_ids.
	Apps Apps
	// Validate, optional, compiles a policy as the nodes will
	// (wafengine.Validate): a policy that fails is refused at write and
	// release time, never on a node. Its error names the field.
	Validate func(*wafv1.WafPolicy) error
	// JetStream, optional, holds the hit stream (hits.go); without it
	// ListHits, WatchHits and GetRuleStats are unavailable. Replicas is the
	// stream's (0: 1); HitMaxAge and HitMaxBytes bound it (0: defaults).
	JetStream   jetstream.JetStream
	Replicas    int
	HitMaxAge   time.Duration
	HitMaxBytes int64
	Logger      *slog.Logger
	Now         func() time.Time
	// KEK, optional, is the control key-encryption key: with it the service
	// gives each partition a challenge key (challenge.go), sealed for the
	// partition's node KEK, and rotates it every ChallengeKeyEvery (0: 24 h;
	// negative: only on RotateChallengeKey).
	KEK               *keywrap.Keyring
	ChallengeKeyEvery time.Duration
}

// Service owns the policy aggregates and their read model, and the hit log.
type Service struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	mu     sync.Mutex // serializes commands
	proj   *projection
	follow bool // no Options.Sync: the service follows the log itself
	hits   *hitLog
	bg     background.Group
}

// New validates opts.
func New(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("waf: Options.Store is required")
	}
	s := &Service{opts: opts, log: cmp.Or(opts.Logger, slog.New(slog.DiscardHandler)), now: opts.Now, follow: opts.Sync == nil,
		proj: newProjection(opts.Sync), hits: newHitLog()}
	if s.now == nil {
		s.now = time.Now
	}
	if opts.Sync != nil {
		opts.Sync.Contribute(s.proj, policySyncKind, challengeKeySyncKind)
	}
	s.bg = background.Group{Name: "waf"}
	return s, nil
}

// Start creates the hit stream (with JetStream), rebuilds the read model,
// then follows the log and the hits.
func (s *Service) Start(ctx context.Context) error {
	var loops []func(context.Context)
	if s.follow {
		loops = append(loops, func(ctx context.Context) { s.proj.Follow(ctx, s.opts.Store, s.log) })
	}
	if s.opts.JetStream != nil {
		if err := EnsureHitStream(ctx, s.opts.JetStream, s.opts.Replicas, s.opts.HitMaxAge, s.opts.HitMaxBytes); err != nil {
			return err
		}
		loops = append(loops, s.foldHits)
	}
	if s.opts.KEK != nil && s.opts.ChallengeKeyEvery >= 0 {
		loops = append(loops, s.rotateChallengeKeys)
	}
	return s.bg.Run(ctx, s.catchUp, loops...)
}

// Stop ends the loops.
func (s *Service) Stop(ctx context.Context) error { return s.bg.Stop(ctx) }

// Handler returns the Connect handler of WafService.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return wafv1connect.NewWafServiceHandler(&handler{s: s}, opts...)
}

func (s *Service) catchUp(ctx context.Context) error { return s.proj.CatchUp(ctx, s.opts.Store) }

// projection is the read model, folded from the log by Handle and read
// through Read only.
type projection = readmodel.Model[*state]

func newProjection(sync *edgesync.Tracks) *projection {
	return readmodel.New(newState(sync), decode, (*state).apply, nil)
}

// state is the read model: every live policy with its releases, the names
// taken, the partitions (a policy naming none runs on each).
type state struct {
	policies   map[string]*policyEntry // by id
	names      map[string]string       // name -> id
	partitions map[string]bool
	challenge  map[string]*challengeKeys // by partition (challenge.go)
	// challengeVersion is ChallengeKeyStream's last position.
	challengeVersion uint64
	sync             *edgesync.Tracks // nil: nothing sent
}

func newState(sync *edgesync.Tracks) *state {
	return &state{policies: map[string]*policyEntry{}, names: map[string]string{}, partitions: map[string]bool{}, sync: sync}
}

type policyEntry struct {
	agg      *Policy
	releases []*wafv1.Release
	created  time.Time
}

// decode gives the payloads the model folds: waf events and partition
// events (others are skipped).
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
	case *ev.ChallengeKeyRotated:
		st.foldChallengeKey(e, m)
	default:
		id := policyIDOf(m)
		if id == "" {
			return fmt.Errorf("%s names no waf policy", e.Type)
		}
		entry := st.policies[id]
		if entry == nil {
			entry = &policyEntry{agg: NewPolicy(id), created: e.Metadata.Time}
			st.policies[id] = entry
		}
		before := entry.agg.runs()
		prevName := entry.agg.Working().GetName()
		entry.agg.Apply(e.Position, m)
		edgesync.Move(st.sync, e, KindPolicy, id, before, entry.agg.runs(), st.values)
		entry.releases, _ = release.Record(entry.releases, m, entry.agg.LatestRelease(), e)
		if st.names[prevName] == id {
			delete(st.names, prevName)
		}
		if !entry.agg.Exists() {
			delete(st.policies, id)
			return nil
		}
		st.names[entry.agg.Working().GetName()] = id
	}
	return nil
}

// lookup finds a live policy by id or name.
func (st *state) lookup(ref string) *policyEntry {
	if e := st.policies[ref]; e != nil {
		return e
	}
	if id, ok := st.names[ref]; ok {
		return st.policies[id]
	}
	return nil
}

// list is every live policy's working copy, by name.
func (st *state) list() []*wafv1.WafPolicy {
	out := make([]*wafv1.WafPolicy, 0, len(st.policies))
	for _, e := range st.policies {
		out = append(out, e.agg.Working())
	}
	slices.SortFunc(out, func(a, b *wafv1.WafPolicy) int { return cmp.Compare(a.GetName(), b.GetName()) })
	return out
}

// PolicyRef resolves a policy id or name to the id of a live policy (the
// config service checks App.waf_policy_id with it).
func (s *Service) PolicyRef(ref string) (id string, ok bool) {
	s.proj.Read(func(st *state) {
		if e := st.lookup(ref); e != nil {
			id, ok = e.agg.ID(), true
		}
	})
	return id, ok
}

// PolicyReleased reports whether policy id has a release on some track
// (the config service refuses to release an app attaching one that has
// none).
func (s *Service) PolicyReleased(id string) (ok bool) {
	s.proj.Read(func(st *state) {
		if e := st.policies[id]; e != nil {
			ok = e.agg.Released() != nil || e.agg.Stable() != nil
		}
	})
	return ok
}

func (s *Service) appendAndWait(ctx context.Context, stream string, expected uint64, msgs []proto.Message) (uint64, error) {
	meta := eventstore.Metadata{Actor: apiauth.Actor(ctx), RequestID: apiauth.RequestID(ctx), Time: s.now().UTC()}
	return registry.AppendAndWait(ctx, s.opts.Store, s.proj.WaitFor, meta, stream, expected, msgs...)
}

// resolvePartitions maps partition references to ids, without duplicates.
func (s *Service) resolvePartitions(refs []string) ([]string, error) {
	if len(refs) > MaxPartitions {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "partition_ids", Reason: fmt.Sprintf("has %d partitions, more than %d", len(refs), MaxPartitions)})
	}
	var f apierr.Fields
	var out []string
	for i, r := range refs {
		id := r
		if s.opts.Partitions != nil {
			var ok bool
			if id, ok = s.opts.Partitions.ResolvePartition(r); !ok {
				f.Addf(fmt.Sprintf("partition_ids[%d]", i), "no partition %q", r)
				continue
			}
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, f.Err()
}

// check normalizes a working copy and compiles it as the nodes will.
func (s *Service) check(id string, in *wafv1.WafPolicy) (*wafv1.WafPolicy, error) {
	parts, err := s.resolvePartitions(in.GetPartitionIds())
	if err != nil {
		return nil, err
	}
	pol, err := Normalize(id, in, parts)
	if err != nil {
		return nil, err
	}
	return pol, s.compile(pol)
}

// compile runs Options.Validate; its error becomes invalid_argument (it
// names the field and the rule).
func (s *Service) compile(pol *wafv1.WafPolicy) error {
	if s.opts.Validate == nil {
		return nil
	}
	err := s.opts.Validate(pol)
	if err == nil {
		return nil
	}
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return err
	}
	// Each of the engine's errors reads "field: reason".
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var f apierr.Fields
	for _, e := range errs {
		field, reason, ok := strings.Cut(e.Error(), ": ")
		if !ok || strings.ContainsAny(field, " \t") && !strings.Contains(field, "(id ") {
			field, reason = "policy", e.Error()
		}
		f.Add(field, reason)
	}
	return f.Err()
}

// create stores a new policy. With validateOnly nothing is stored and the
// policy is returned as it would be.
func (s *Service) create(ctx context.Context, in *wafv1.WafPolicy, validateOnly bool) (*wafv1.WafPolicy, uint64, error) {
	id := newPolicyID()
	pol, err := s.check(id, in)
	if err != nil || validateOnly {
		return pol, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return nil, 0, err
	}
	s.proj.Read(func(st *state) { err = st.nameFree(pol.GetName(), id) })
	if err != nil {
		return nil, 0, err
	}
	msgs, err := NewPolicy(id).Create(pol)
	if err != nil {
		return nil, 0, err
	}
	pos, err := s.appendAndWait(ctx, PolicyStream(id), 0, msgs)
	return pol, pos, err
}

func (st *state) nameFree(name, self string) error {
	if id, ok := st.names[name]; ok && id != self {
		return apierr.Invalid(apierr.FieldViolation{Field: "name", Reason: fmt.Sprintf("waf policy name %q is already used by policy %s", name, id)})
	}
	return nil
}

// exec runs cmd on the live policy ref names with optimistic concurrency
// (expected is the client's etag) and returns its id and the version after
// it. withHistory passes cmd the policy's own events, oldest first (reverts
// replay them).
func (s *Service) exec(ctx context.Context, ref string, expected *uint64, withHistory bool, cmd func(st *state, p *Policy, history []proto.Message) ([]proto.Message, error)) (string, uint64, error) {
	if ref == "" {
		return "", 0, apierr.Invalid(apierr.FieldViolation{Field: "policy_id", Reason: "is required"})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return "", 0, err
	}
	var id string
	var err error
	s.proj.Read(func(st *state) {
		if e := st.lookup(ref); e != nil {
			id = e.agg.ID()
		}
	})
	if id == "" {
		return "", 0, apierr.NotFound("waf policy", ref)
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
		e := st.policies[id]
		if e == nil {
			err = apierr.NotFound("waf policy", ref)
			return
		}
		if version = e.agg.Version(); expected != nil && *expected != version {
			err = apierr.Conflict(fmt.Sprintf("waf policy %s changed: expected version %d, it is at version %d; reload and retry", id, *expected, version))
			return
		}
		msgs, err = cmd(st, e.agg, history)
	})
	if err != nil || len(msgs) == 0 {
		return id, version, err
	}
	pos, err := s.appendAndWait(ctx, PolicyStream(id), version, msgs)
	if errors.Is(err, eventstore.ErrConflict) {
		return "", 0, apierr.Conflict(fmt.Sprintf("waf policy %s was changed concurrently; reload and retry", id))
	}
	return id, pos, err
}
