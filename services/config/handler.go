package config

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/ids"
	"github.com/strata-edge/strata/pkg/listfilter"
	"github.com/strata-edge/strata/pkg/release"
	"github.com/strata-edge/strata/services/edgesync"
)

// handler implements the ConfigService RPCs on top of the Service. Every
// error leaves through apierr.ToConnect.
type handler struct {
	s *Service
}

func (h *handler) fail(err error) error {
	return apierr.ToConnectLog(h.s.logger, err)
}

func (h *handler) CreatePartition(ctx context.Context, req *configv1.CreatePartitionRequest) (*configv1.CreatePartitionResponse, error) {
	p, err := h.s.createPartition(ctx, req.Name)
	return apierr.Reply(h.s.logger, &configv1.CreatePartitionResponse{Partition: p}, err)
}

func (h *handler) ListPartitions(ctx context.Context, req *configv1.ListPartitionsRequest) (*configv1.ListPartitionsResponse, error) {
	var all []*configv1.Partition
	h.s.proj.Read(func(st *state) { all = slices.Collect(maps.Values(st.partitions)) })
	slices.SortFunc(all, func(a, b *configv1.Partition) int { return strings.Compare(partitionKey(a), partitionKey(b)) })
	out := &configv1.ListPartitionsResponse{}
	var err error
	out.Partitions, out.NextPageToken, err = listfilter.Paged(partitionSchema, listfilter.Request{PageSize: req.PageSize, PageToken: req.PageToken, Filter: req.Filter}, all, partitionKey)
	return apierr.Reply(h.s.logger, out, err)
}

func (h *handler) CreateCluster(ctx context.Context, req *configv1.CreateClusterRequest) (*configv1.CreateClusterResponse, error) {
	c, err := h.s.createCluster(ctx, req.Name, req.Partition)
	return apierr.Reply(h.s.logger, &configv1.CreateClusterResponse{Cluster: c}, err)
}

func (h *handler) UpdateCluster(ctx context.Context, req *configv1.UpdateClusterRequest) (*configv1.UpdateClusterResponse, error) {
	var parents []string
	if req.Parents != nil {
		parents = append([]string{}, req.Parents.Clusters...)
	}
	c, err := h.s.updateCluster(ctx, req.Cluster, clusterChange{dnsDisabled: req.DnsDisabled, parents: parents, name: req.Name, location: req.Location})
	return apierr.Reply(h.s.logger, &configv1.UpdateClusterResponse{Cluster: c}, err)
}

func (h *handler) UpdatePartition(ctx context.Context, req *configv1.UpdatePartitionRequest) (*configv1.UpdatePartitionResponse, error) {
	pt, err := h.s.renamePartition(ctx, req.Partition, req.Name)
	return apierr.Reply(h.s.logger, &configv1.UpdatePartitionResponse{Partition: pt}, err)
}

func (h *handler) DeletePartition(ctx context.Context, req *configv1.DeletePartitionRequest) (*configv1.DeletePartitionResponse, error) {
	err := h.s.deletePartition(ctx, req.Partition)
	return apierr.Reply(h.s.logger, &configv1.DeletePartitionResponse{}, err)
}

func (h *handler) DeleteCluster(ctx context.Context, req *configv1.DeleteClusterRequest) (*configv1.DeleteClusterResponse, error) {
	err := h.s.deleteCluster(ctx, req.Cluster)
	return apierr.Reply(h.s.logger, &configv1.DeleteClusterResponse{}, err)
}

func (h *handler) ListClusters(ctx context.Context, req *configv1.ListClustersRequest) (*configv1.ListClustersResponse, error) {
	var all []*configv1.Cluster
	h.s.proj.Read(func(st *state) { all = slices.Collect(maps.Values(st.clusters)) })
	slices.SortFunc(all, func(a, b *configv1.Cluster) int { return strings.Compare(clusterKey(a), clusterKey(b)) })
	out := &configv1.ListClustersResponse{}
	var err error
	out.Clusters, out.NextPageToken, err = listfilter.Paged(clusterSchema, listfilter.Request{PageSize: req.PageSize, PageToken: req.PageToken, Filter: req.Filter}, all, clusterKey)
	return apierr.Reply(h.s.logger, out, err)
}

// RegisterNode, SetNodeStaging and RemoveNode are the nodes service's
// (Options.Nodes), the one writer of node streams; names resolve here
// first, as for every object of this API.
func (h *handler) RegisterNode(ctx context.Context, req *configv1.RegisterNodeRequest) (*configv1.RegisterNodeResponse, error) {
	if err := h.s.nodesWired(); err != nil {
		return nil, err
	}
	return h.s.nodes.RegisterNode(ctx, req)
}

func (h *handler) SetNodeStaging(ctx context.Context, req *configv1.SetNodeStagingRequest) (*configv1.SetNodeStagingResponse, error) {
	if err := h.s.nodesWired(); err != nil {
		return nil, err
	}
	if err := h.objectRef(ctx, authz.KindNode, &req.NodeId); err != nil {
		return nil, err
	}
	return h.s.nodes.SetNodeStaging(ctx, req)
}

func (h *handler) RemoveNode(ctx context.Context, req *configv1.RemoveNodeRequest) (*configv1.RemoveNodeResponse, error) {
	if err := h.s.nodesWired(); err != nil {
		return nil, err
	}
	if err := h.objectRef(ctx, authz.KindNode, &req.NodeId); err != nil {
		return nil, err
	}
	return h.s.nodes.RemoveNode(ctx, req)
}

// ListNodes lists nodes with their partition, the newest version of their
// track and, with Options.Statuses, their sync status from heartbeats.
func (h *handler) ListNodes(ctx context.Context, req *configv1.ListNodesRequest) (*configv1.ListNodesResponse, error) {
	// Nodes are written by the nodes service: catch up with the log so a
	// list right after such a change shows it.
	if err := h.s.catchUp(ctx); err != nil {
		return nil, h.fail(err)
	}
	clusterID := ""
	if req.Cluster != "" {
		c, ok := h.s.proj.resolveCluster(req.Cluster)
		if !ok {
			return nil, h.fail(apierr.NotFound("cluster", req.Cluster))
		}
		clusterID = c.Id
	}
	var statuses map[string]edgesync.NodeStatus
	if h.s.statuses != nil {
		statuses = h.s.statuses.NodeStatuses()
	}
	now := h.s.now()
	out := &configv1.ListNodesResponse{}
	h.s.proj.Read(func(st *state) {
		for _, n := range st.nodes {
			if clusterID != "" && n.ClusterId != clusterID {
				continue
			}
			info := &configv1.NodeInfo{Node: n}
			var k edgesync.Key
			if c := st.clusters[n.ClusterId]; c != nil {
				info.PartitionId = c.PartitionId
				k = edgesync.Key{Partition: c.PartitionId, Staging: n.Staging}
			}
			status, reported := statuses[n.Id]
			fillSync(info, status, reported, st.sync, k, now)
			info.Track = "stable"
			if n.Staging {
				info.Track = "staging"
			}
			info.Releases = st.nodeReleases(k, n.Staging, info.AppliedVersion)
			if h.s.pub != nil && k.Partition != "" {
				info.PublishError = h.s.pub.Err(k)
			}
			out.Nodes = append(out.Nodes, info)
		}
	})
	slices.SortFunc(out.Nodes, func(a, b *configv1.NodeInfo) int { return strings.Compare(nodeKey(a), nodeKey(b)) })
	var err error
	out.Nodes, out.NextPageToken, err = listfilter.Paged(nodeSchema,
		listfilter.Request{PageSize: req.PageSize, PageToken: req.PageToken, Filter: req.Filter, Scope: clusterID}, out.Nodes, nodeKey)
	return apierr.Reply(h.s.logger, out, err)
}

// --- apps -------------------------------------------------------------------

// appState is a consistent copy of one app for responses.
type appState struct {
	draft    *configv1.App
	released *configv1.App
	version  uint64
	latest   uint64
	pending  int
	deleted  bool
}

// appRef replaces *ref, an app id or name, by the app's id.
func (h *handler) appRef(ctx context.Context, ref *string) error {
	return h.objectRef(ctx, authz.KindApp, ref)
}

// objectRef replaces *ref, the id or name of an object of kind, by its id,
// with the one resolver of objects named by id or name (ResolveObject, also
// used by authorization and the cert and purge services). An unknown object
// keeps its ref, so that the call answers not_found naming what the caller
// gave; an ambiguous name is invalid_argument listing the candidates.
func (h *handler) objectRef(ctx context.Context, kind string, ref *string) error {
	obj, err := h.s.ResolveObject(ctx, kind, *ref)
	switch {
	case err == nil:
		*ref = obj.ID
	case errors.Is(err, authz.ErrAmbiguous):
		return h.fail(&apierr.Error{Kind: apierr.KindInvalid, Msg: err.Error()})
	case !errors.Is(err, authz.ErrUnknownObject):
		return h.fail(err)
	}
	return nil
}

func (h *handler) app(id string) (out *appState, err error) {
	h.s.proj.Read(func(st *state) {
		e := st.apps[id]
		if e == nil || !e.agg.Exists() {
			err = apierr.NotFound("app", id)
			return
		}
		a := e.agg
		out = &appState{draft: a.Draft(), released: a.Released(), version: a.Version(),
			latest: a.LatestRelease(), pending: a.Pending(), deleted: a.Deleted()}
	})
	return out, err
}

// appRequest is what CreateAppRequest and UpdateAppRequest have in common.
type appRequest interface {
	GetName() string
	GetDomains() []string
	GetHttpPorts() []uint32
	GetHttpsPorts() []uint32
	GetPartitions() []string
	GetLabels() map[string]string
	GetHttpsRedirect() bool
	GetHsts() *configv1.Hsts
	GetLimits() *configv1.AppLimits
	GetStream() *configv1.StreamApp
	GetForwardProxy() *configv1.ForwardProxyApp
	GetWafPolicyId() string
}

func appInputOf(r appRequest) appInput {
	in := appInput{name: r.GetName(), domains: r.GetDomains(), httpPorts: r.GetHttpPorts(), httpsPorts: r.GetHttpsPorts(),
		partitions: r.GetPartitions(), labels: r.GetLabels(), httpsRedirect: r.GetHttpsRedirect(), hsts: r.GetHsts(),
		wafPolicy: r.GetWafPolicyId(), limits: r.GetLimits()}
	// Copies: settings normalizes them, and replaces clear passwords.
	if st := r.GetStream(); st != nil {
		in.stream = proto.Clone(st).(*configv1.StreamApp)
	}
	if fp := r.GetForwardProxy(); fp != nil {
		in.forward = proto.Clone(fp).(*configv1.ForwardProxyApp)
	}
	return in
}

func (h *handler) CreateApp(ctx context.Context, req *configv1.CreateAppRequest) (*configv1.CreateAppResponse, error) {
	id, version, err := h.s.createApp(ctx, appInputOf(req))
	if err != nil {
		return nil, h.fail(err)
	}
	st, err := h.app(id)
	if err != nil {
		return nil, h.fail(err)
	}
	return &configv1.CreateAppResponse{App: st.draft, Version: version}, nil
}

func (h *handler) GetApp(ctx context.Context, req *configv1.GetAppRequest) (*configv1.GetAppResponse, error) {
	if err := h.appRef(ctx, &req.AppId); err != nil {
		return nil, err
	}
	st, err := h.app(req.AppId)
	if err != nil {
		return nil, h.fail(err)
	}
	return &configv1.GetAppResponse{App: st.draft, Released: st.released, Version: st.version,
		LatestRelease: st.latest, PendingChanges: uint32(st.pending)}, nil
}

func (h *handler) ListApps(ctx context.Context, req *configv1.ListAppsRequest) (*configv1.ListAppsResponse, error) {
	out, err := h.s.proj.listApps(req)
	return apierr.Reply(h.s.logger, out, err)
}

func (h *handler) UpdateApp(ctx context.Context, req *configv1.UpdateAppRequest) (*configv1.UpdateAppResponse, error) {
	if err := h.appRef(ctx, &req.AppId); err != nil {
		return nil, err
	}
	version, err := h.s.updateApp(ctx, req.AppId, req.ExpectedVersion,
		appInputOf(req))
	if err != nil {
		return nil, h.fail(err)
	}
	st, err := h.app(req.AppId)
	if err != nil {
		return nil, h.fail(err)
	}
	return &configv1.UpdateAppResponse{App: st.draft, Version: version}, nil
}

// appCall runs cmd on app *ref (resolved to its id) and returns the app's
// version after it.
func (h *handler) appCall(ctx context.Context, ref *string, expected *uint64, cmd func(a *App) ([]proto.Message, error)) (uint64, error) {
	if err := h.appRef(ctx, ref); err != nil {
		return 0, err
	}
	version, err := h.s.simpleApp(ctx, *ref, expected, cmd)
	if err != nil {
		return 0, h.fail(err)
	}
	return version, nil
}

func (h *handler) DeleteApp(ctx context.Context, req *configv1.DeleteAppRequest) (*configv1.DeleteAppResponse, error) {
	version, err := h.appCall(ctx, &req.AppId, req.ExpectedVersion, (*App).Delete)
	return apierr.Reply(h.s.logger, &configv1.DeleteAppResponse{Version: version}, err)
}

func (h *handler) CreateUpstream(ctx context.Context, req *configv1.CreateUpstreamRequest) (*configv1.CreateUpstreamResponse, error) {
	var u *configv1.Upstream
	if req.Upstream != nil {
		u = proto.Clone(req.Upstream).(*configv1.Upstream)
		u.Id = ids.New(prefixUpstream)
	}
	version, err := h.appCall(ctx, &req.AppId, req.ExpectedVersion, func(a *App) ([]proto.Message, error) { return a.CreateUpstream(u) })
	if err != nil {
		return nil, err
	}
	return objectResponse(h, req.AppId, "upstream", u.Id, version, (*configv1.App).GetUpstreams, func(u *configv1.Upstream, v uint64) *configv1.CreateUpstreamResponse {
		return &configv1.CreateUpstreamResponse{Upstream: u, Version: v}
	})
}

func (h *handler) UpdateUpstream(ctx context.Context, req *configv1.UpdateUpstreamRequest) (*configv1.UpdateUpstreamResponse, error) {
	var id string
	version, err := h.appCall(ctx, &req.AppId, req.ExpectedVersion, func(a *App) ([]proto.Message, error) {
		msgs, err := a.UpdateUpstream(req.Upstream)
		if i := findUpstream(a.draftView(), cmp.Or(req.Upstream.GetId(), req.Upstream.GetName())); i >= 0 {
			id = a.draftView().Upstreams[i].Id
		}
		return msgs, err
	})
	if err != nil {
		return nil, err
	}
	return objectResponse(h, req.AppId, "upstream", id, version, (*configv1.App).GetUpstreams, func(u *configv1.Upstream, v uint64) *configv1.UpdateUpstreamResponse {
		return &configv1.UpdateUpstreamResponse{Upstream: u, Version: v}
	})
}

// objectResponse answers a write of object id (an upstream or a rule, in
// list) of an app with the object as the working copy now has it.
func objectResponse[O release.Object, R any](h *handler, appID, kind, id string, version uint64, list func(*configv1.App) []O, build func(O, uint64) *R) (*R, error) {
	st, err := h.app(appID)
	if err != nil {
		return nil, h.fail(err)
	}
	objs := list(st.draft)
	i := release.Find(objs, id)
	if i < 0 {
		return nil, h.fail(fmt.Errorf("%s %s of app %s missing after write", kind, id, appID))
	}
	return build(objs[i], version), nil
}

func (h *handler) DeleteUpstream(ctx context.Context, req *configv1.DeleteUpstreamRequest) (*configv1.DeleteUpstreamResponse, error) {
	version, err := h.appCall(ctx, &req.AppId, req.ExpectedVersion, func(a *App) ([]proto.Message, error) { return a.DeleteUpstream(req.Upstream) })
	return apierr.Reply(h.s.logger, &configv1.DeleteUpstreamResponse{Version: version}, err)
}

func (h *handler) CreateRule(ctx context.Context, req *configv1.CreateRuleRequest) (*configv1.CreateRuleResponse, error) {
	var r *configv1.Rule
	if req.Rule != nil {
		r = proto.Clone(req.Rule).(*configv1.Rule)
		r.Id = ids.New(prefixRule)
	}
	if req.ValidateOnly {
		var checked *configv1.Rule
		version, err := h.appCall(ctx, &req.AppId, req.ExpectedVersion, validateOnly(&checked, nil, func(a *App) ([]proto.Message, error) { return a.CreateRule(r, req.Index) }))
		return apierr.Reply(h.s.logger, &configv1.CreateRuleResponse{Rule: checked, Version: version}, err)
	}
	version, err := h.appCall(ctx, &req.AppId, req.ExpectedVersion, func(a *App) ([]proto.Message, error) { return a.CreateRule(r, req.Index) })
	if err != nil {
		return nil, err
	}
	return objectResponse(h, req.AppId, "rule", r.Id, version, (*configv1.App).GetRules, func(r *configv1.Rule, v uint64) *configv1.CreateRuleResponse {
		return &configv1.CreateRuleResponse{Rule: r, Version: v}
	})
}

func (h *handler) UpdateRule(ctx context.Context, req *configv1.UpdateRuleRequest) (*configv1.UpdateRuleResponse, error) {
	if req.ValidateOnly {
		var checked *configv1.Rule
		current := func(a *App) *configv1.Rule {
			if i := findRule(a.draftView(), cmp.Or(req.Rule.GetId(), req.Rule.GetName())); i >= 0 {
				return proto.Clone(a.draftView().Rules[i]).(*configv1.Rule)
			}
			return nil
		}
		version, err := h.appCall(ctx, &req.AppId, req.ExpectedVersion, validateOnly(&checked, current, func(a *App) ([]proto.Message, error) { return a.UpdateRule(req.Rule) }))
		return apierr.Reply(h.s.logger, &configv1.UpdateRuleResponse{Rule: checked, Version: version}, err)
	}
	var id string
	version, err := h.appCall(ctx, &req.AppId, req.ExpectedVersion, func(a *App) ([]proto.Message, error) {
		msgs, err := a.UpdateRule(req.Rule)
		if i := findRule(a.draftView(), cmp.Or(req.Rule.GetId(), req.Rule.GetName())); i >= 0 {
			id = a.draftView().Rules[i].Id
		}
		return msgs, err
	})
	if err != nil {
		return nil, err
	}
	return objectResponse(h, req.AppId, "rule", id, version, (*configv1.App).GetRules, func(r *configv1.Rule, v uint64) *configv1.UpdateRuleResponse {
		return &configv1.UpdateRuleResponse{Rule: r, Version: v}
	})
}

func (h *handler) DeleteRule(ctx context.Context, req *configv1.DeleteRuleRequest) (*configv1.DeleteRuleResponse, error) {
	version, err := h.appCall(ctx, &req.AppId, req.ExpectedVersion, func(a *App) ([]proto.Message, error) { return a.DeleteRule(req.Rule) })
	return apierr.Reply(h.s.logger, &configv1.DeleteRuleResponse{Version: version}, err)
}

func (h *handler) MoveRule(ctx context.Context, req *configv1.MoveRuleRequest) (*configv1.MoveRuleResponse, error) {
	version, err := h.appCall(ctx, &req.AppId, req.ExpectedVersion, func(a *App) ([]proto.Message, error) { return a.MoveRule(req.Rule, req.Index) })
	return apierr.Reply(h.s.logger, &configv1.MoveRuleResponse{Version: version}, err)
}

// validateOnly wraps a rule command for validate_only requests (AIP-163):
// every check runs, including the event size limit, and nothing is written.
// checked gets the rule as it would be stored; when the command changes
// nothing, the rule the app has (unchanged, from current).
func validateOnly(checked **configv1.Rule, unchanged func(a *App) *configv1.Rule, cmd func(a *App) ([]proto.Message, error)) func(a *App) ([]proto.Message, error) {
	return func(a *App) ([]proto.Message, error) {
		msgs, err := cmd(a)
		if err == nil {
			err = a.checkSize(msgs)
		}
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			switch e := m.(type) {
			case *ev.RuleCreated:
				*checked = e.Rule
			case *ev.RuleUpdated:
				*checked = e.Rule
			}
		}
		if *checked == nil && unchanged != nil {
			*checked = unchanged(a)
		}
		return nil, nil
	}
}

// --- releases ----------------------------------------------------------------

func (h *handler) DiffApp(ctx context.Context, req *configv1.DiffAppRequest) (*configv1.DiffAppResponse, error) {
	if err := h.appRef(ctx, &req.AppId); err != nil {
		return nil, err
	}
	if req.ToRelease != nil {
		d, err := h.s.diffToRelease(ctx, req.AppId, *req.ToRelease)
		return apierr.Reply(h.s.logger, d, err)
	}
	d, err := h.s.diff(req.AppId)
	return apierr.Reply(h.s.logger, d, err)
}

// diffToRelease compares the newest release of app id with the content of
// release n: what RevertApp to n would release.
func (s *Service) diffToRelease(ctx context.Context, id string, n uint64) (*configv1.DiffAppResponse, error) {
	var released *configv1.App
	var version, latest uint64
	found := false
	s.proj.Read(func(st *state) {
		e := st.apps[id]
		if found = e != nil && e.agg.Exists(); !found {
			return
		}
		released, version, latest = e.agg.Released(), e.agg.Version(), e.agg.rel.Latest()
	})
	if !found {
		return nil, apierr.NotFound("app", id)
	}
	if n == 0 || n > latest {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "to_release", Reason: fmt.Sprintf("%d: app %s has releases 1 to %d", n, id, latest)})
	}
	history, err := release.History(ctx, s.store, appStream(id), configevents.Decode)
	if err != nil {
		return nil, err
	}
	target, deleted, err := contentAt(id, history, n)
	if err != nil {
		return nil, err
	}
	out := &configv1.DiffAppResponse{Version: version}
	// The text compares content only: the release number is not a change.
	var oldText, newText string
	if released != nil {
		if out.ReleasedJson, err = canonicalJSON(released); err != nil {
			return nil, err
		}
		base := proto.Clone(released).(*configv1.App)
		base.Release = 0
		if oldText, err = canonicalJSON(base); err != nil {
			return nil, err
		}
	}
	if target != nil && !deleted {
		c := proto.Clone(target).(*configv1.App)
		if out.PendingJson, err = canonicalJSON(c); err != nil {
			return nil, err
		}
		c.Release = 0
		if newText, err = canonicalJSON(c); err != nil {
			return nil, err
		}
	}
	out.Text = release.Diff(fmt.Sprintf("release %d", latest), fmt.Sprintf("release %d", n), oldText, newText)
	return out, nil
}

// releaseCall runs a release command on app *ref (resolved to its id) and
// returns the newest release record and the app's version after it.
func (h *handler) releaseCall(ctx context.Context, ref *string, run func(id string) (uint64, error)) (*configv1.Release, uint64, error) {
	if err := h.appRef(ctx, ref); err != nil {
		return nil, 0, err
	}
	version, err := run(*ref)
	if err != nil {
		return nil, 0, h.fail(err)
	}
	r, err := h.s.latestRelease(*ref)
	if err != nil {
		return nil, 0, h.fail(err)
	}
	return r, version, nil
}

func (h *handler) CreateRelease(ctx context.Context, req *configv1.CreateReleaseRequest) (*configv1.CreateReleaseResponse, error) {
	r, v, err := h.releaseCall(ctx, &req.AppId, func(id string) (uint64, error) {
		return h.s.release(ctx, id, req.ExpectedVersion, req.Note, req.Staging)
	})
	return apierr.Reply(h.s.logger, &configv1.CreateReleaseResponse{Release: r, Version: v}, err)
}

func (h *handler) PromoteRelease(ctx context.Context, req *configv1.PromoteReleaseRequest) (*configv1.PromoteReleaseResponse, error) {
	r, v, err := h.releaseCall(ctx, &req.AppId, func(id string) (uint64, error) { return h.s.promote(ctx, id, req.ExpectedVersion, req.Note) })
	return apierr.Reply(h.s.logger, &configv1.PromoteReleaseResponse{Release: r, Version: v}, err)
}

func (h *handler) ListReleases(ctx context.Context, req *configv1.ListReleasesRequest) (*configv1.ListReleasesResponse, error) {
	if err := h.appRef(ctx, &req.AppId); err != nil {
		return nil, err
	}
	var out *configv1.ListReleasesResponse
	h.s.proj.Read(func(st *state) {
		if e := st.apps[req.AppId]; e != nil && e.agg.Exists() {
			out = &configv1.ListReleasesResponse{Releases: releaseProtos(e.releases),
				StableRelease: e.agg.StableRelease(), StagingRelease: e.agg.StagingRelease()}
		}
	})
	if out == nil {
		return nil, h.fail(apierr.NotFound("app", req.AppId))
	}
	slices.Reverse(out.Releases) // newest first
	var err error
	out.Releases, out.NextPageToken, err = listfilter.Paged(releaseSchema,
		listfilter.Request{PageSize: req.PageSize, PageToken: req.PageToken, Filter: req.Filter, Scope: req.AppId}, out.Releases, releaseKey)
	return apierr.Reply(h.s.logger, out, err)
}

func (h *handler) RevertApp(ctx context.Context, req *configv1.RevertAppRequest) (*configv1.RevertAppResponse, error) {
	r, v, err := h.releaseCall(ctx, &req.AppId, func(id string) (uint64, error) {
		return h.s.revertApp(ctx, id, req.ExpectedVersion, req.ToRelease, req.Note)
	})
	return apierr.Reply(h.s.logger, &configv1.RevertAppResponse{Release: r, Version: v}, err)
}

func (h *handler) RevertObject(ctx context.Context, req *configv1.RevertObjectRequest) (*configv1.RevertObjectResponse, error) {
	r, v, err := h.releaseCall(ctx, &req.AppId, func(id string) (uint64, error) {
		return h.s.revertObject(ctx, id, req.ExpectedVersion, req.Kind, req.Object, req.ToRelease, req.Note)
	})
	return apierr.Reply(h.s.logger, &configv1.RevertObjectResponse{Release: r, Version: v}, err)
}

func (h *handler) GetSnapshot(ctx context.Context, req *configv1.GetSnapshotRequest) (*configv1.GetSnapshotResponse, error) {
	pid, ok := h.s.proj.resolvePartition(req.Partition)
	if !ok {
		return nil, h.fail(apierr.NotFound("partition", req.Partition))
	}
	snap := h.s.proj.snapshot(pid, req.Staging)
	js, err := snapshotJSON(snap)
	if err != nil {
		return nil, h.fail(err)
	}
	return &configv1.GetSnapshotResponse{Version: snap.Version, Apps: uint32(len(snap.Apps)),
		Consistent: Consistent(snap) == nil, Json: js}, nil
}

// --- service reads used by the handler ----------------------------------------

func (s *Service) latestRelease(id string) (r *configv1.Release, err error) {
	s.proj.Read(func(st *state) {
		if e := st.apps[id]; e != nil && len(e.releases) > 0 {
			r = e.releases[len(e.releases)-1].proto()
		}
	})
	if r == nil {
		return nil, apierr.NotFound("release of app", id)
	}
	return r, nil
}

// diff describes the app's pending changes: one line per event, the
// released and working contents as canonical JSON, and a unified diff.
func (s *Service) diff(id string) (*configv1.DiffAppResponse, error) {
	var released, draft, base *configv1.App
	var pending []pendingEvent
	var version uint64
	found := false
	s.proj.Read(func(st *state) {
		e := st.apps[id]
		if found = e != nil && e.agg.Exists(); !found {
			return
		}
		a := e.agg
		released, draft = a.Released(), a.Draft()
		if a.Deleted() {
			draft = nil
		}
		pending = slices.Clone(e.pending)
		version = a.Version()
		// The working copy just after the newest release is that release's content.
		if r := a.Released(); r != nil {
			base = proto.Clone(r).(*configv1.App)
			base.Release = 0
		}
	})
	if !found {
		return nil, apierr.NotFound("app", id)
	}

	out := &configv1.DiffAppResponse{Version: version}
	scratch := NewApp(id)
	if base != nil {
		scratch.created, scratch.rel.Working = true, proto.Clone(base).(*configv1.App)
	}
	for _, pe := range pending {
		out.Changes = append(out.Changes, &configv1.PendingChange{
			Position: pe.pos, Type: pe.typ, Summary: summarize(scratch.draftView(), pe.msg),
			Actor: pe.meta.Actor, Time: timestamppb.New(pe.meta.Time),
		})
		scratch.Apply(pe.pos, pe.msg)
	}
	var err error
	if released != nil {
		if out.ReleasedJson, err = canonicalJSON(released); err != nil {
			return nil, err
		}
	}
	if draft != nil {
		if out.PendingJson, err = canonicalJSON(draft); err != nil {
			return nil, err
		}
	}
	// The text compares content only: the release number is not a change.
	var oldText, newText string
	if base != nil {
		if oldText, err = canonicalJSON(base); err != nil {
			return nil, err
		}
	}
	if draft != nil {
		newText = out.PendingJson
	}
	out.Text = release.Diff("released", "pending", oldText, newText)
	return out, nil
}

var _ configv1connect.ConfigServiceHandler = (*handler)(nil)
