package waf

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/gen/strata/waf/v1/wafv1connect"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/listfilter"
)

// PermHitRead reads the hit log (pkg/authz's table names it).
const PermHitRead = "waf.hit.read"

// handler implements the WafService RPCs on the Service.
type handler struct{ s *Service }

func (h *handler) fail(err error) error { return apierr.ToConnectLog(h.s.log, err) }

// policy runs f on the live policy ref names under the read lock, after
// catching up with the log.
func (h *handler) policy(ctx context.Context, ref string, f func(e *policyEntry)) error {
	if ref == "" {
		return h.fail(apierr.Invalid(apierr.FieldViolation{Field: "policy_id", Reason: "is required"}))
	}
	if err := h.s.catchUp(ctx); err != nil {
		return h.fail(err)
	}
	found := false
	h.s.proj.Read(func(st *state) {
		if e := st.lookup(ref); e != nil {
			found = true
			f(e)
		}
	})
	if !found {
		return h.fail(apierr.NotFound("waf policy", ref))
	}
	return nil
}

func (h *handler) CreatePolicy(ctx context.Context, req *wafv1.CreatePolicyRequest) (*wafv1.CreatePolicyResponse, error) {
	pol, v, err := h.s.create(ctx, req.GetPolicy(), req.GetValidateOnly())
	return apierr.Reply(h.s.log, &wafv1.CreatePolicyResponse{Policy: pol, Version: v}, err)
}

func (h *handler) UpdatePolicy(ctx context.Context, req *wafv1.UpdatePolicyRequest) (*wafv1.UpdatePolicyResponse, error) {
	var out *wafv1.WafPolicy
	id, v, err := h.s.exec(ctx, req.GetPolicyId(), req.ExpectedVersion, false, func(st *state, p *Policy, _ []proto.Message) ([]proto.Message, error) {
		pol, err := h.s.check(p.ID(), req.GetPolicy())
		if err != nil {
			return nil, err
		}
		if err := st.nameFree(pol.GetName(), p.ID()); err != nil {
			return nil, err
		}
		if out = pol; req.GetValidateOnly() {
			return nil, nil
		}
		return p.Update(pol)
	})
	if err == nil && !req.GetValidateOnly() {
		out = h.working(id)
	}
	return apierr.Reply(h.s.log, &wafv1.UpdatePolicyResponse{Policy: out, Version: v}, err)
}

func (h *handler) working(id string) (w *wafv1.WafPolicy) {
	h.s.proj.Read(func(st *state) {
		if e := st.policies[id]; e != nil {
			w = e.agg.Working()
		}
	})
	return w
}

func (h *handler) latestRelease(id string) (r *wafv1.Release) {
	h.s.proj.Read(func(st *state) {
		if e := st.policies[id]; e != nil && len(e.releases) > 0 {
			r = e.releases[len(e.releases)-1]
		}
	})
	return r
}

func (h *handler) GetPolicy(ctx context.Context, req *wafv1.GetPolicyRequest) (*wafv1.GetPolicyResponse, error) {
	var out *wafv1.GetPolicyResponse
	if err := h.policy(ctx, req.GetPolicyId(), func(e *policyEntry) {
		p := e.agg
		out = &wafv1.GetPolicyResponse{Policy: p.Working(), Released: p.Released(), Version: p.Version(),
			LatestRelease: p.LatestRelease(), PendingChanges: uint32(p.Pending())}
	}); err != nil {
		return nil, err
	}
	if h.s.opts.Apps != nil {
		out.AppIds = h.s.opts.Apps.AppsAttaching(out.GetPolicy().GetId())
	}
	return out, nil
}

func (h *handler) ListPolicies(ctx context.Context, req *wafv1.ListPoliciesRequest) (*wafv1.ListPoliciesResponse, error) {
	if err := h.s.catchUp(ctx); err != nil {
		return nil, h.fail(err)
	}
	var all []*wafv1.WafPolicy
	h.s.proj.Read(func(st *state) { all = st.list() })
	out := &wafv1.ListPoliciesResponse{}
	var err error
	out.Policies, out.NextPageToken, err = listfilter.Paged(policySchema,
		listfilter.Request{PageSize: req.PageSize, PageToken: req.PageToken, Filter: req.Filter}, all,
		func(p *wafv1.WafPolicy) string { return listfilter.Key(p.GetName(), p.GetId()) })
	return apierr.Reply(h.s.log, out, err)
}

func (h *handler) DeletePolicy(ctx context.Context, req *wafv1.DeletePolicyRequest) (*wafv1.DeletePolicyResponse, error) {
	// The apps are asked outside this service's lock: the config service
	// asks PolicyRef under its own.
	var attached []string
	if id, ok := h.s.PolicyRef(req.GetPolicyId()); ok && h.s.opts.Apps != nil {
		attached = h.s.opts.Apps.AppsAttaching(id)
	}
	_, _, err := h.s.exec(ctx, req.GetPolicyId(), req.ExpectedVersion, false, func(_ *state, p *Policy, _ []proto.Message) ([]proto.Message, error) {
		return p.Delete(attached)
	})
	return apierr.Reply(h.s.log, &wafv1.DeletePolicyResponse{}, err)
}

func (h *handler) CreateRelease(ctx context.Context, req *wafv1.CreateReleaseRequest) (*wafv1.CreateReleaseResponse, error) {
	id, v, err := h.s.exec(ctx, req.GetPolicyId(), req.ExpectedVersion, false, func(_ *state, p *Policy, _ []proto.Message) ([]proto.Message, error) {
		// Compiled again: the engine may have changed since the write.
		if err := h.s.compile(p.Working()); err != nil {
			return nil, err
		}
		return p.Release(req.GetNote(), req.GetStaging())
	})
	return apierr.Reply(h.s.log, &wafv1.CreateReleaseResponse{Release: h.latestRelease(id), Version: v}, err)
}

func (h *handler) PromoteRelease(ctx context.Context, req *wafv1.PromoteReleaseRequest) (*wafv1.PromoteReleaseResponse, error) {
	id, v, err := h.s.exec(ctx, req.GetPolicyId(), req.ExpectedVersion, false, func(_ *state, p *Policy, _ []proto.Message) ([]proto.Message, error) {
		return p.Promote(req.GetNote())
	})
	return apierr.Reply(h.s.log, &wafv1.PromoteReleaseResponse{Release: h.latestRelease(id), Version: v}, err)
}

func (h *handler) ListReleases(ctx context.Context, req *wafv1.ListReleasesRequest) (*wafv1.ListReleasesResponse, error) {
	out := &wafv1.ListReleasesResponse{}
	if err := h.policy(ctx, req.GetPolicyId(), func(e *policyEntry) {
		out.Releases, out.StableRelease, out.StagingRelease = e.releases, e.agg.StableRelease(), e.agg.StagingRelease()
	}); err != nil {
		return nil, err
	}
	var err error
	out.Releases, out.NextPageToken, err = listfilter.Paged(releaseSchema,
		listfilter.Request{PageSize: req.PageSize, PageToken: req.PageToken, Filter: req.Filter, Scope: req.GetPolicyId()}, out.Releases,
		func(r *wafv1.Release) string { return listfilter.Asc(r.GetNumber()) })
	return apierr.Reply(h.s.log, out, err)
}

func (h *handler) RevertPolicy(ctx context.Context, req *wafv1.RevertPolicyRequest) (*wafv1.RevertPolicyResponse, error) {
	id, v, err := h.s.exec(ctx, req.GetPolicyId(), req.ExpectedVersion, true, func(_ *state, p *Policy, history []proto.Message) ([]proto.Message, error) {
		return p.Revert(req.GetToRelease(), req.GetNote(), history)
	})
	return apierr.Reply(h.s.log, &wafv1.RevertPolicyResponse{Release: h.latestRelease(id), Version: v}, err)
}

// hitScope resolves the policy filter of a hit request to an id, and
// refuses a request for every app from a caller who may read some apps'
// hits only (the authz rule checks app_id when it is set).
func (h *handler) hitScope(ctx context.Context, app, policy string) (string, error) {
	if h.s.opts.JetStream == nil {
		return "", connect.NewError(connect.CodeUnavailable, errors.New("waf: the hit log needs the control plane's JetStream, which this process does not have"))
	}
	if c, ok := authz.CheckerFrom(ctx); ok && app == "" && !c.CanEverywhere(PermHitRead) {
		return "", connect.NewError(connect.CodePermissionDenied, fmt.Errorf("permission denied: the hits of every app need %s over everything; give --app", PermHitRead))
	}
	if policy == "" {
		return "", nil
	}
	if id, ok := h.s.PolicyRef(policy); ok {
		return id, nil
	}
	return policy, nil // a deleted policy's hits are still in the log
}

func (h *handler) ListHits(ctx context.Context, req *wafv1.ListHitsRequest) (*wafv1.ListHitsResponse, error) {
	if req.GetPageSize() < 0 || req.GetPageSize() > maxPageSize {
		return nil, h.fail(apierr.Invalid(apierr.FieldViolation{Field: "page_size", Reason: fmt.Sprintf("must be 0-%d", maxPageSize)}))
	}
	policy, err := h.hitScope(ctx, req.GetAppId(), req.GetPolicyId())
	if err != nil {
		return nil, err
	}
	var since time.Time
	if req.GetSince() != nil {
		since = req.GetSince().AsTime()
	}
	return &wafv1.ListHitsResponse{Hits: h.s.hits.list(req.GetAppId(), policy, since, int(req.GetPageSize()))}, nil
}

func (h *handler) WatchHits(ctx context.Context, req *wafv1.WatchHitsRequest, stream *connect.ServerStream[wafv1.WatchHitsResponse]) error {
	policy, err := h.hitScope(ctx, req.GetAppId(), req.GetPolicyId())
	if err != nil {
		return err
	}
	var since time.Time
	if req.GetSince() != nil {
		since = req.GetSince().AsTime()
	}
	w, first := h.s.hits.watch(req.GetAppId(), policy, since)
	defer h.s.hits.unwatch(w)
	// A first response without a hit sends the headers: the client knows
	// the watch is live before any hit comes.
	if err := stream.Send(&wafv1.WatchHitsResponse{}); err != nil {
		return err
	}
	for _, hit := range first {
		if err := stream.Send(&wafv1.WatchHitsResponse{Hit: hit}); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case hit := <-w.ch:
			if err := stream.Send(&wafv1.WatchHitsResponse{Hit: hit}); err != nil {
				return err
			}
		}
	}
}

func (h *handler) GetRuleStats(ctx context.Context, req *wafv1.GetRuleStatsRequest) (*wafv1.GetRuleStatsResponse, error) {
	policy, err := h.hitScope(ctx, req.GetAppId(), req.GetPolicyId())
	if err != nil {
		return nil, err
	}
	return &wafv1.GetRuleStatsResponse{Rules: h.s.hits.ruleStats(req.GetAppId(), policy)}, nil
}

var _ wafv1connect.WafServiceHandler = (*handler)(nil)
