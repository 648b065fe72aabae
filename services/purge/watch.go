package purge

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/pkg/apierr"
)

// WatchPurge streams one purge's progress (issue 15): the purge now, then
// again after each change of its acknowledgements, ending after the message
// that shows it complete (every expected node acknowledged), or when the
// client goes away.
func (h *handler) WatchPurge(ctx context.Context, req *purgev1.WatchPurgeRequest, stream *connect.ServerStream[purgev1.WatchPurgeResponse]) error {
	if req.GetId() == "" {
		return apierr.ToConnect(apierr.Invalid(apierr.FieldViolation{Field: "id", Reason: "is required"}))
	}
	var last *purgev1.Purge
	for caughtUp := false; ; {
		changed := h.s.model.changes()
		p, ok := h.s.model.view(req.GetId())
		if !ok {
			// It may have been created a moment ago on another replica.
			if caughtUp || h.s.model.CatchUp(ctx, h.s.opts.Store) != nil {
				return apierr.ToConnect(apierr.NotFound("purge", req.GetId()))
			}
			caughtUp = true
			continue
		}
		if last == nil || !proto.Equal(p, last) {
			done := p.GetNodesDone() >= p.GetNodesTotal()
			if err := stream.Send(&purgev1.WatchPurgeResponse{Purge: p, Done: done}); err != nil {
				return err
			}
			if done {
				return nil
			}
			last = p
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}
