package config

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// WatchNodes streams node status changes (issue 15).
func (h *handler) WatchNodes(ctx context.Context, req *configv1.WatchNodesRequest, stream *connect.ServerStream[configv1.WatchNodesResponse]) error {
	return connect.NewError(connect.CodeUnimplemented, errors.New("WatchNodes: not yet"))
}
