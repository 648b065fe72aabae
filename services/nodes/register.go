package nodes

import (
	"context"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/ids"
	"github.com/strata-edge/strata/pkg/validate"
)

// The node commands of the config API (ConfigService.RegisterNode,
// SetNodeStaging, RemoveNode): the config service forwards them here
// (config.Options.Nodes), so that this service is the one writer of node
// streams and decides every command on one read model under cmdMu.

// RegisterNode records a node an operator vouches for: it needs no approval.
func (s *Service) RegisterNode(ctx context.Context, req *configv1.RegisterNodeRequest) (*configv1.RegisterNodeResponse, error) {
	n, err := s.registerNode(ctx, req)
	return apierr.Reply(s.log, &configv1.RegisterNodeResponse{Node: n}, err)
}

func (s *Service) registerNode(ctx context.Context, req *configv1.RegisterNodeRequest) (*configv1.Node, error) {
	var bad apierr.Fields
	bad.Add("name", validate.Name(req.GetName()))
	if req.GetCluster() == "" {
		bad = append(bad, apierr.FieldViolation{Field: "cluster", Reason: "is empty (give a cluster id or name)"})
	}
	if len(bad) > 0 {
		return nil, apierr.Invalid(bad...)
	}
	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	reg, err := s.model.register(ids.New(prefixNode), req)
	if err != nil {
		return nil, err
	}
	if err := s.appendEvent(ctx, nodeStream(reg.GetNode().GetId()), 0, configevents.TypeNodeRegistered,
		reg, apiauth.Actor(ctx)); err != nil {
		return nil, err
	}
	return reg.GetNode(), nil
}

// SetNodeStaging moves a node to its partition's staging track or back.
func (s *Service) SetNodeStaging(ctx context.Context, req *configv1.SetNodeStagingRequest) (*configv1.SetNodeStagingResponse, error) {
	n, err := s.changeNode(ctx, req.GetNodeId(), setNodeStaging(req.GetStaging()))
	return apierr.Reply(s.log, &configv1.SetNodeStagingResponse{Node: n}, err)
}

// RemoveNode removes a node; folding the removal revokes its key (fold).
func (s *Service) RemoveNode(ctx context.Context, req *configv1.RemoveNodeRequest) (*configv1.RemoveNodeResponse, error) {
	_, err := s.changeNode(ctx, req.GetNodeId(), removeNode)
	return apierr.Reply(s.log, &configv1.RemoveNodeResponse{}, err)
}
