package purge

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
)

// WatchPurge streams one purge's progress (issue 15).
func (h *handler) WatchPurge(ctx context.Context, req *purgev1.WatchPurgeRequest, stream *connect.ServerStream[purgev1.WatchPurgeResponse]) error {
	return connect.NewError(connect.CodeUnimplemented, errors.New("WatchPurge: not yet"))
}
