package config

import (
	"context"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// watchNodesInterval is how often WatchNodes looks for status changes (as
// metrics Tail, once a second).
const watchNodesInterval = time.Second

// WatchNodes streams node status changes (issue 15): every matching node
// first (initial), then, each second something changed, the nodes whose
// status changed and the ids of those removed or no longer matching. It
// reads what ListNodes answers (same filter fields), until the client goes
// away.
func (h *handler) WatchNodes(ctx context.Context, req *configv1.WatchNodesRequest, stream *connect.ServerStream[configv1.WatchNodesResponse]) error {
	last := map[string]*configv1.NodeInfo{}
	tick := time.NewTicker(watchNodesInterval)
	defer tick.Stop()
	for initial := true; ; initial = false {
		now, err := h.allNodes(ctx, req)
		if err != nil {
			return err
		}
		msg := &configv1.WatchNodesResponse{Initial: initial}
		seen := make(map[string]bool, len(now))
		for _, n := range now {
			id := n.GetNode().GetId()
			seen[id] = true
			if old, ok := last[id]; initial || !ok || !proto.Equal(old, n) {
				msg.Nodes = append(msg.Nodes, n)
			}
			last[id] = n
		}
		for id := range last {
			if !seen[id] {
				msg.RemovedNodeIds = append(msg.RemovedNodeIds, id)
				delete(last, id)
			}
		}
		if initial || len(msg.Nodes) > 0 || len(msg.RemovedNodeIds) > 0 {
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// allNodes is every page of ListNodes for a watch.
func (h *handler) allNodes(ctx context.Context, req *configv1.WatchNodesRequest) ([]*configv1.NodeInfo, error) {
	var out []*configv1.NodeInfo
	token := ""
	for range 10_000 {
		res, err := h.ListNodes(ctx, &configv1.ListNodesRequest{Cluster: req.GetCluster(), Filter: req.GetFilter(), PageSize: 1000, PageToken: token})
		if err != nil {
			return nil, err
		}
		out = append(out, res.GetNodes()...)
		if token = res.GetNextPageToken(); token == "" {
			break
		}
	}
	return out, nil
}
