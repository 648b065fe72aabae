package config

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/ids"
)

// --- partitions, clusters, nodes ---------------------------------------------

// The partition and cluster commands run their decision (decide.go) on
// the state caught up under s.mu: writes serialise on it, so the streams
// need no version check.

func (s *Service) createPartition(ctx context.Context, name string) (*configv1.Partition, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	var msg *ev.PartitionCreated
	var err error
	s.proj.Read(func(st *state) { msg, err = st.createPartition(ids.New(prefixPartition), name) })
	if err != nil {
		return nil, err
	}
	p := msg.GetPartition()
	if _, err := s.appendAndWait(ctx, partitionStream(p.Id), 0, []proto.Message{msg}); err != nil {
		return nil, err
	}
	return p, nil
}

// renamePartition gives partition ref a new name.
func (s *Service) renamePartition(ctx context.Context, ref, name string) (*configv1.Partition, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	var id string
	var msg *ev.PartitionRenamed
	var err error
	s.proj.Read(func(st *state) { id, msg, err = st.renamePartition(ref, name) })
	if err != nil {
		return nil, err
	}
	if msg != nil {
		if _, err := s.appendAndWait(ctx, partitionStream(id), eventstore.AnyVersion, []proto.Message{msg}); err != nil {
			return nil, err
		}
	}
	return s.partition(id), nil
}

// deletePartition deletes partition ref unless something uses it.
func (s *Service) deletePartition(ctx context.Context, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return err
	}
	var zones, metrics []string
	if id, ok := s.proj.resolvePartition(ref); ok {
		// Outside read: dns and metrics fold under their locks, reading ours.
		if s.zones != nil {
			zones = s.zones.ZonesIn(id)
		}
		if s.metrics != nil {
			metrics = s.metrics.MetricsIn(id)
		}
	}
	var msg *ev.PartitionDeleted
	var err error
	s.proj.Read(func(st *state) { msg, err = st.deletePartition(ref, zones, metrics...) })
	if err != nil {
		return err
	}
	_, err = s.appendAndWait(ctx, partitionStream(msg.PartitionId), eventstore.AnyVersion, []proto.Message{msg})
	return err
}

func (s *Service) partition(id string) (pt *configv1.Partition) {
	s.proj.Read(func(st *state) { pt = st.partitions[id] })
	return pt
}

// deleteCluster deletes cluster ref unless something uses it.
func (s *Service) deleteCluster(ctx context.Context, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return err
	}
	var records []string
	if c, ok := s.proj.resolveCluster(ref); ok {
		records = gatewayRecords(s.zones, func(r string) bool { return r == c.Id || r == c.Name })
	}
	var msg *ev.ClusterDeleted
	var err error
	s.proj.Read(func(st *state) { msg, err = st.deleteCluster(ref, s.now(), records) })
	if err != nil {
		return err
	}
	_, err = s.appendAndWait(ctx, clusterStream(msg.ClusterId), eventstore.AnyVersion, []proto.Message{msg})
	return err
}

func (s *Service) createCluster(ctx context.Context, name, partition string) (*configv1.Cluster, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	var msg *ev.ClusterCreated
	var err error
	s.proj.Read(func(st *state) { msg, err = st.createCluster(ids.New(prefixCluster), name, partition) })
	if err != nil {
		return nil, err
	}
	c := msg.GetCluster()
	if _, err := s.appendAndWait(ctx, clusterStream(c.Id), 0, []proto.Message{msg}); err != nil {
		return nil, err
	}
	return c, nil
}

// updateCluster changes a cluster's settings. parents, when not nil,
// replaces the parent clusters (ids or names).
func (s *Service) updateCluster(ctx context.Context, ref string, ch clusterChange) (*configv1.Cluster, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	if c, ok := s.proj.resolveCluster(ref); ok && ch.name != nil && *ch.name != c.Name {
		ch.namedBy = gatewayRecords(s.zones, func(r string) bool { return r == c.Name })
	}
	var c *configv1.Cluster
	var msg *ev.ClusterUpdated
	var err error
	s.proj.Read(func(st *state) { c, msg, err = st.updateCluster(ref, ch) })
	if err != nil || msg == nil {
		return c, err
	}
	if _, err := s.appendAndWait(ctx, clusterStream(c.Id), eventstore.AnyVersion, []proto.Message{msg}); err != nil {
		return nil, err
	}
	got, _ := s.proj.resolveCluster(c.Id)
	return got, nil
}

// --- apps -------------------------------------------------------------------

// appInput is the settings part of CreateApp and UpdateApp, as given.
type appInput struct {
	name       string
	domains    []string
	httpPorts  []uint32
	httpsPorts []uint32
	partitions []string // ids or names
	labels     map[string]string

	httpsRedirect bool
	hsts          *configv1.Hsts
	// wafPolicy is App.waf_policy_id as given (an id or name), wafPolicyID
	// the id it resolved to (resolveWafPolicy, before the locks).
	wafPolicy, wafPolicyID string
	limits                 *configv1.AppLimits

	// The role (at most one set), copies of the request's: settings
	// normalizes them in place.
	stream  *configv1.StreamApp
	forward *configv1.ForwardProxyApp
	// hashes are the argon2id hashes of forward's clear passwords, indexed
	// like its credentials (hashPasswords, computed before the locks).
	hashes []string
}

// role is the role of in, as a roleGetter.
func (in appInput) role() roleGetter {
	s := &ev.AppSettings{}
	switch {
	case in.stream != nil:
		s.Role = &ev.AppSettings_Stream{Stream: in.stream}
	case in.forward != nil:
		s.Role = &ev.AppSettings_ForwardProxy{ForwardProxy: in.forward}
	}
	return s
}

// settings resolves partition references and validates the settings,
// including the cross-app checks (name, domains). self is the app's id ("" for
// a new app).
func (st *state) settings(in appInput, self string) (*ev.AppSettings, error) {
	var v apierr.Fields
	set := &ev.AppSettings{Name: in.name, Domains: in.domains, HttpPorts: in.httpPorts,
		HttpsPorts: in.httpsPorts, Labels: in.labels, HttpsRedirect: in.httpsRedirect, Hsts: in.hsts, WafPolicyId: in.wafPolicyID,
		Limits: in.limits}
	if in.wafPolicyID != "" && (in.stream != nil || in.forward != nil) {
		v.Add("waf_policy_id", "a WAF policy inspects HTTP requests: only HTTP apps attach one")
	}
	switch {
	case in.stream != nil:
		set.Role = &ev.AppSettings_Stream{Stream: in.stream}
	case in.forward != nil:
		var cur *configv1.ForwardProxyApp
		if e := st.apps[self]; e != nil && e.agg.draftView() != nil {
			cur = e.agg.draftView().GetForwardProxy()
		}
		resolveCredentials(&v, in.forward, in.hashes, cur)
		set.Role = &ev.AppSettings_ForwardProxy{ForwardProxy: in.forward}
	}
	refs := in.partitions
	field := "partitions"
	if len(refs) == 0 {
		refs = []string{defaultName}
	}
	seen := map[string]int{}
	for i, ref := range refs {
		id, ok := st.resolvePartition(ref)
		j, dup := seen[id]
		switch {
		case ok && dup:
			v.Addf(index(field, i), "partition %q is a duplicate of partitions[%d]", ref, j)
		case ok:
			seen[id] = i
			set.PartitionIds = append(set.PartitionIds, id)
		case len(in.partitions) == 0:
			v.Addf(field, "no partition given and no partition named %q exists", defaultName)
		default:
			v.Addf(index(field, i), "partition %q does not exist", ref)
		}
	}
	if len(v) > 0 {
		return nil, v.Err()
	}
	norm, vs := normalizeSettings(set)
	if len(vs) > 0 {
		return nil, apierr.Invalid(vs...)
	}
	if vs := st.claimViolations(norm, self); len(vs) > 0 {
		return nil, apierr.Invalid(vs...)
	}
	return norm, nil
}

// claimViolations reports the name, domains and ports of set that other
// apps hold.
func (st *state) claimViolations(set *ev.AppSettings, self string) []apierr.FieldViolation {
	var v apierr.Fields
	if owners := st.nameOwners(set.Name, self); len(owners) > 0 {
		v.Addf("name", "app name %q is already used by app %s", set.Name, owners[0])
	}
	for i, d := range set.Domains {
		for _, pt := range set.PartitionIds {
			if owners := st.domainOwners(pt, d, self); len(owners) > 0 {
				v.Addf(index("domains", i), "domain %q is already used by app %s in partition %s",
					d, st.appLabel(owners[0]), st.partitionLabel(pt))
				break
			}
		}
	}
	v = append(v, st.portViolations(set, self)...)
	return v
}

// releaseConflicts checks, at release time, that content going live holds no
// name or domain another app holds (two replicas may have accepted
// conflicting edits).
func (st *state) releaseConflicts(content *configv1.App, self string) error {
	if content == nil {
		return nil
	}
	vs := st.claimViolations(settingsOf(content), self)
	if len(vs) == 0 {
		return nil
	}
	reasons := make([]string, len(vs))
	for i, v := range vs {
		reasons[i] = v.Reason
	}
	return apierr.FailedPrecondition("cannot release: " + strings.Join(reasons, "; "))
}

func (st *state) appLabel(id string) string {
	if e := st.apps[id]; e != nil && e.agg.draftView() != nil {
		return fmt.Sprintf("%q (%s)", e.agg.draftView().Name, id)
	}
	return id
}

func (st *state) partitionLabel(id string) string {
	if p := st.partitions[id]; p != nil {
		return fmt.Sprintf("%q", p.Name)
	}
	return id
}

func (s *Service) createApp(ctx context.Context, in appInput) (string, uint64, error) {
	in.hashes = hashPasswords(in.forward)
	if err := s.resolveWafPolicy(&in); err != nil {
		return "", 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return "", 0, err
	}
	id := ids.New(prefixApp)
	var set *ev.AppSettings
	var err error
	s.proj.Read(func(st *state) { set, err = st.settings(in, id) })
	if err != nil {
		return "", 0, err
	}
	a := NewApp(id)
	msgs, err := a.Create(set)
	if err == nil {
		err = a.checkSize(msgs)
	}
	if err != nil {
		return "", 0, err
	}
	pos, err := s.appendAndWait(ctx, appStream(id), 0, msgs)
	return id, pos, err
}

func (s *Service) updateApp(ctx context.Context, id string, expected *uint64, in appInput) (uint64, error) {
	in.hashes = hashPasswords(in.forward)
	if err := s.resolveWafPolicy(&in); err != nil {
		return 0, err
	}
	return s.execApp(ctx, id, expected, false, func(st *state, a *App, _ []proto.Message) ([]proto.Message, error) {
		if err := a.mustEditable(); err != nil {
			return nil, err
		}
		if err := checkRoleChange(id, a.draftView(), in.role()); err != nil {
			return nil, err
		}
		// An empty name or partition list keeps the current one: both are
		// required, so "unset" cannot mean "clear".
		cur := a.draftView()
		if in.name == "" {
			in.name = cur.Name
		}
		if len(in.partitions) == 0 {
			in.partitions = cur.PartitionIds
		}
		set, err := st.settings(in, id)
		if err != nil {
			return nil, err
		}
		return a.Update(set)
	})
}

func (s *Service) release(ctx context.Context, id string, expected *uint64, note string, staging bool) (uint64, error) {
	unreleased := s.unreleasedWafPolicy(id)
	return s.execApp(ctx, id, expected, false, func(st *state, a *App, _ []proto.Message) ([]proto.Message, error) {
		msgs, err := a.Release(note, staging)
		if err != nil {
			return nil, err
		}
		live := a.draftView()
		if a.Deleted() {
			live = nil
		}
		if err := st.releaseConflicts(live, id); err != nil {
			return nil, err
		}
		if live != nil && unreleased != "" && live.GetWafPolicyId() == unreleased {
			return nil, apierr.FailedPrecondition(fmt.Sprintf("cannot release: app %s attaches waf policy %s, which has no release yet; release it first: strata waf policy release %s", id, unreleased, unreleased))
		}
		return msgs, nil
	})
}

func (s *Service) promote(ctx context.Context, id string, expected *uint64, note string) (uint64, error) {
	return s.simpleApp(ctx, id, expected, func(a *App) ([]proto.Message, error) { return a.Promote(note) })
}

func (s *Service) revertApp(ctx context.Context, id string, expected *uint64, to uint64, note string) (uint64, error) {
	return s.execApp(ctx, id, expected, true, func(st *state, a *App, history []proto.Message) ([]proto.Message, error) {
		msgs, err := a.Revert(to, note, history)
		if err != nil {
			return nil, err
		}
		e := msgs[0].(*ev.AppReverted)
		if !e.Deleted {
			for _, pt := range e.Content.PartitionIds {
				if _, ok := st.partitions[pt]; !ok {
					return nil, apierr.FailedPrecondition(fmt.Sprintf("cannot revert to release %d: its partition %s no longer exists", to, pt))
				}
			}
			if err := st.releaseConflicts(e.Content, id); err != nil {
				return nil, err
			}
			if err := s.checkRevertWafPolicy(e.Content.GetWafPolicyId(), to); err != nil {
				return nil, err
			}
		}
		return msgs, nil
	})
}

func (s *Service) revertObject(ctx context.Context, id string, expected *uint64, kind, object string, to uint64, note string) (uint64, error) {
	return s.execApp(ctx, id, expected, true, func(_ *state, a *App, history []proto.Message) ([]proto.Message, error) {
		return a.RevertObject(kind, object, to, note, history)
	})
}

// simpleApp runs a command that needs neither history nor cross-app checks.
func (s *Service) simpleApp(ctx context.Context, id string, expected *uint64, cmd func(a *App) ([]proto.Message, error)) (uint64, error) {
	return s.execApp(ctx, id, expected, false, func(_ *state, a *App, _ []proto.Message) ([]proto.Message, error) {
		return cmd(a)
	})
}
