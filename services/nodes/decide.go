package nodes

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/configevents"
)

// The decisions of the node and join token commands, on the read model:
// each returns the event to record (nil: nothing changes) or the refusal.

// register decides RegisterNode of a node with id: its cluster exists and no
// node of the cluster has its name. Registered nodes need no approval.
func (m *model) register(id string, req *configv1.RegisterNodeRequest) (*ev.NodeRegistered, error) {
	c, ok := m.cluster(req.GetCluster())
	if !ok {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "cluster", Reason: fmt.Sprintf("cluster %q does not exist", req.GetCluster())})
	}
	if _, exists := m.nodeByClusterName(c.GetId(), req.GetName()); exists {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "name",
			Reason: fmt.Sprintf("node %q already exists in cluster %q", req.GetName(), c.GetName())})
	}
	return &ev.NodeRegistered{Node: &configv1.Node{Id: id, Name: req.GetName(), ClusterId: c.GetId(), Staging: req.GetStaging(), Approved: true}}, nil
}

// revokeToken decides RevokeJoinToken; revoking twice changes nothing. It
// returns the token stream's version too.
func (m *model) revokeToken(id string) (*ev.JoinTokenRevoked, uint64, error) {
	st, ok := m.token(id)
	if !ok {
		return nil, 0, apierr.NotFound("join token", id)
	}
	if st.token.GetRevoked() {
		return nil, st.version, nil
	}
	return &ev.JoinTokenRevoked{TokenId: st.token.GetId()}, st.version, nil
}

// nodeDecision returns the event type and payload of a command on node n and
// whether it changes anything.
type nodeDecision func(n *configv1.Node) (string, proto.Message, bool)

// changeNode decides decide on the live node with id or name ref; payload is
// nil when the node stays as it is.
func (m *model) changeNode(ref string, decide nodeDecision) (st *nodeState, typeID string, payload proto.Message, err error) {
	if ref == "" {
		return nil, "", nil, apierr.Invalid(apierr.FieldViolation{Field: "node_id", Reason: "is required"})
	}
	id, err := m.nodeRef(ref)
	if err != nil {
		return nil, "", nil, err
	}
	st, ok := m.node(id)
	if !ok {
		return nil, "", nil, apierr.NotFound("node", id)
	}
	typeID, payload, changed := decide(st.node)
	if !changed {
		return st, "", nil, nil
	}
	return st, typeID, payload, nil
}

// approveNode lets a node get its credentials; approving twice is no change.
func approveNode(n *configv1.Node) (string, proto.Message, bool) {
	return configevents.TypeNodeApproved, &ev.NodeApproved{NodeId: n.GetId()}, !n.GetApproved()
}

func setNodeDisabled(disabled bool) nodeDecision {
	return func(n *configv1.Node) (string, proto.Message, bool) {
		return configevents.TypeNodeDisabledSet, &ev.NodeDisabledSet{NodeId: n.GetId(), Disabled: disabled}, n.GetDisabled() != disabled
	}
}

func setNodeStaging(staging bool) nodeDecision {
	return func(n *configv1.Node) (string, proto.Message, bool) {
		return configevents.TypeNodeStagingSet, &ev.NodeStagingSet{NodeId: n.GetId(), Staging: staging}, n.GetStaging() != staging
	}
}

func removeNode(n *configv1.Node) (string, proto.Message, bool) {
	return configevents.TypeNodeRemoved, &ev.NodeRemoved{NodeId: n.GetId()}, true
}
