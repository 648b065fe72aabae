package ddos

import (
	"context"

	"google.golang.org/protobuf/proto"

	ddosv1 "github.com/strata-edge/strata/gen/strata/ddos/v1"
	"github.com/strata-edge/strata/gen/strata/ddos/v1/ddosv1connect"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/listfilter"
)

// handler implements the DdosService RPCs on the Service.
type handler struct{ s *Service }

func (h *handler) fail(err error) error { return apierr.ToConnectLog(h.s.log, err) }

// policy runs f on the policy of cluster ref (the empty policy when none
// was set) under the read lock, after catching up with the log.
func (h *handler) policy(ctx context.Context, ref string, f func(p *Policy, e *policyEntry)) error {
	id, _, err := h.s.resolve(ref)
	if err != nil {
		return h.fail(err)
	}
	if err := h.s.catchUp(ctx); err != nil {
		return h.fail(err)
	}
	h.s.proj.Read(func(st *state) {
		e := st.policies[id]
		if e == nil {
			e = &policyEntry{agg: NewPolicy(id)}
		}
		f(e.agg, e)
	})
	return nil
}

func (h *handler) GetPolicy(ctx context.Context, req *ddosv1.GetPolicyRequest) (*ddosv1.GetPolicyResponse, error) {
	var out *ddosv1.GetPolicyResponse
	err := h.policy(ctx, req.GetCluster(), func(p *Policy, _ *policyEntry) {
		out = &ddosv1.GetPolicyResponse{Policy: p.Working(), Released: p.Released(), Version: p.Version(),
			LatestRelease: p.LatestRelease(), PendingChanges: uint32(p.Pending())}
	})
	return out, err
}

func (h *handler) UpdatePolicy(ctx context.Context, req *ddosv1.UpdatePolicyRequest) (*ddosv1.UpdatePolicyResponse, error) {
	id, v, err := h.s.exec(ctx, req.GetCluster(), req.ExpectedVersion, false, func(p *Policy, partition string, _ []proto.Message) ([]proto.Message, error) {
		return p.Update(partition, req.GetPolicy())
	})
	return apierr.Reply(h.s.log, &ddosv1.UpdatePolicyResponse{Policy: h.working(id), Version: v}, err)
}

func (h *handler) working(id string) (w *ddosv1.DdosPolicy) {
	h.s.proj.Read(func(st *state) {
		if e := st.policies[id]; e != nil {
			w = e.agg.Working()
		}
	})
	return w
}

func (h *handler) latestRelease(id string) (r *ddosv1.Release) {
	h.s.proj.Read(func(st *state) {
		if e := st.policies[id]; e != nil && len(e.releases) > 0 {
			r = e.releases[len(e.releases)-1]
		}
	})
	return r
}

func (h *handler) CreateRelease(ctx context.Context, req *ddosv1.CreateReleaseRequest) (*ddosv1.CreateReleaseResponse, error) {
	id, v, err := h.s.exec(ctx, req.GetCluster(), req.ExpectedVersion, false, func(p *Policy, _ string, _ []proto.Message) ([]proto.Message, error) {
		return p.Release(req.GetNote(), req.GetStaging())
	})
	return apierr.Reply(h.s.log, &ddosv1.CreateReleaseResponse{Release: h.latestRelease(id), Version: v}, err)
}

func (h *handler) PromoteRelease(ctx context.Context, req *ddosv1.PromoteReleaseRequest) (*ddosv1.PromoteReleaseResponse, error) {
	id, v, err := h.s.exec(ctx, req.GetCluster(), req.ExpectedVersion, false, func(p *Policy, _ string, _ []proto.Message) ([]proto.Message, error) {
		return p.Promote(req.GetNote())
	})
	return apierr.Reply(h.s.log, &ddosv1.PromoteReleaseResponse{Release: h.latestRelease(id), Version: v}, err)
}

func (h *handler) ListReleases(ctx context.Context, req *ddosv1.ListReleasesRequest) (*ddosv1.ListReleasesResponse, error) {
	out := &ddosv1.ListReleasesResponse{}
	err := h.policy(ctx, req.GetCluster(), func(p *Policy, e *policyEntry) {
		out.Releases, out.StableRelease, out.StagingRelease = e.releases, p.StableRelease(), p.StagingRelease()
	})
	if err != nil {
		return nil, err
	}
	out.Releases, out.NextPageToken, err = listfilter.Paged(releaseSchema,
		listfilter.Request{PageSize: req.PageSize, PageToken: req.PageToken, Filter: req.Filter, Scope: req.GetCluster()}, out.Releases,
		func(r *ddosv1.Release) string { return listfilter.Asc(r.GetNumber()) })
	return apierr.Reply(h.s.log, out, err)
}

func (h *handler) RevertPolicy(ctx context.Context, req *ddosv1.RevertPolicyRequest) (*ddosv1.RevertPolicyResponse, error) {
	id, v, err := h.s.exec(ctx, req.GetCluster(), req.ExpectedVersion, true, func(p *Policy, _ string, history []proto.Message) ([]proto.Message, error) {
		return p.Revert(req.GetToRelease(), req.GetNote(), history)
	})
	return apierr.Reply(h.s.log, &ddosv1.RevertPolicyResponse{Release: h.latestRelease(id), Version: v}, err)
}

func (h *handler) Block(ctx context.Context, req *ddosv1.BlockRequest) (*ddosv1.BlockResponse, error) {
	b, err := h.s.block(ctx, req)
	return apierr.Reply(h.s.log, &ddosv1.BlockResponse{Block: b}, err)
}

func (h *handler) GetBlock(ctx context.Context, req *ddosv1.GetBlockRequest) (*ddosv1.GetBlockResponse, error) {
	var b *ddosv1.Block
	h.s.proj.Read(func(st *state) { b = st.blocks.view(req.GetId()) })
	if b == nil {
		// It may have been made a moment ago on another replica.
		if err := h.s.catchUp(ctx); err != nil {
			return nil, h.fail(err)
		}
		h.s.proj.Read(func(st *state) { b = st.blocks.view(req.GetId()) })
	}
	if b == nil {
		return nil, h.fail(apierr.NotFound("block", req.GetId()))
	}
	return &ddosv1.GetBlockResponse{Block: b}, nil
}

func (h *handler) ListBlocks(ctx context.Context, req *ddosv1.ListBlocksRequest) (*ddosv1.ListBlocksResponse, error) {
	p, err := listfilter.Start(blockSchema, listfilter.Request{PageSize: req.PageSize, PageToken: req.PageToken, Filter: req.Filter})
	if err != nil {
		return nil, h.fail(err)
	}
	if err := h.s.catchUp(ctx); err != nil {
		return nil, h.fail(err)
	}
	out := &ddosv1.ListBlocksResponse{}
	h.s.proj.Read(func(st *state) { out.Blocks, out.NextPageToken = st.blocks.page(p) })
	return out, nil
}

func (h *handler) GetStats(_ context.Context, req *ddosv1.GetStatsRequest) (*ddosv1.GetStatsResponse, error) {
	cluster := ""
	if req.GetCluster() != "" {
		id, _, err := h.s.resolve(req.GetCluster())
		if err != nil {
			return nil, h.fail(err)
		}
		cluster = id
	}
	return &ddosv1.GetStatsResponse{Nodes: h.s.reports.list(cluster)}, nil
}

var _ ddosv1connect.DdosServiceHandler = (*handler)(nil)
