package nodes

import (
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"

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

// joining is a Join request as the handler parsed it.
type joining struct {
	tokenID string
	digest  []byte // SHA-256 of the presented secret
	name    string
	key     string // the node's nkey user public key
	// ipv4 and ipv6 are the node's public addresses, canonical.
	ipv4, ipv6 string
	// bad are the request's field problems: reported only to a caller with a
	// valid token, which learns nothing about nodes otherwise.
	bad []apierr.FieldViolation
	now time.Time
	// id is the new node's id, if it is new.
	id string
}

// joined is the decision of a Join: the cluster the node is in, its stream
// version (0 for a new node) and the event to record there (nil: the node
// joined before with the same name, key and addresses).
type joined struct {
	cluster *configv1.Cluster
	node    *configv1.Node // as it is, or will be once the event is folded
	version uint64
	typeID  string
	event   proto.Message
}

// join decides Join: a valid token of an existing cluster registers a new
// node, or finds the node that joined before under the name with the same
// key and records its new addresses. Token problems are Unauthenticated;
// a name or key that belongs to another node AlreadyExists; a key revoked
// by a removal PermissionDenied.
func (m *model) join(j joining) (joined, error) {
	tok, ok := m.token(j.tokenID)
	if !ok || !secretMatches(tok.hash, j.digest) {
		return joined{}, connect.NewError(connect.CodeUnauthenticated, errors.New("join_token: not valid"))
	}
	if tok.token.GetRevoked() {
		return joined{}, connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("join_token: %s was revoked", j.tokenID))
	}
	if exp := tok.token.GetExpiresAt().AsTime(); !j.now.Before(exp) {
		return joined{}, connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("join_token: %s expired at %s", j.tokenID, exp.Format(time.RFC3339)))
	}
	if len(j.bad) > 0 {
		return joined{}, apierr.Invalid(j.bad...)
	}
	cluster, ok := m.cluster(tok.token.GetClusterId())
	if !ok {
		return joined{}, apierr.FailedPrecondition(fmt.Sprintf("join_token: cluster %s of the token does not exist", tok.token.GetClusterId()))
	}
	if _, removed := m.keyOwner(j.key); removed != "" {
		return joined{}, connect.NewError(connect.CodePermissionDenied,
			fmt.Errorf("public_key: was revoked when node %s was removed; generate a new key to join again", removed))
	}
	st, exists := m.nodeByClusterName(cluster.GetId(), j.name)
	switch {
	case exists && st.node.GetPublicKey() == "":
		return joined{}, connect.NewError(connect.CodeAlreadyExists,
			fmt.Errorf("name: node %q of cluster %q was registered without a key (RegisterNode); remove it or join under another name", j.name, cluster.GetName()))
	case exists && st.node.GetPublicKey() != j.key:
		return joined{}, connect.NewError(connect.CodeAlreadyExists,
			fmt.Errorf("name: node %q already exists in cluster %q with another public key", j.name, cluster.GetName()))
	case !exists:
		if live, _ := m.keyOwner(j.key); live != "" {
			return joined{}, connect.NewError(connect.CodeAlreadyExists,
				fmt.Errorf("public_key: already belongs to node %s; every node needs its own key", live))
		}
		node := &configv1.Node{Id: j.id, Name: j.name, ClusterId: cluster.GetId(), Staging: tok.token.GetStaging(),
			PublicKey: j.key, Approved: tok.token.GetAutoApprove(), PublicIpv4: j.ipv4, PublicIpv6: j.ipv6}
		return joined{cluster: cluster, node: node, typeID: configevents.TypeNodeRegistered, event: &ev.NodeRegistered{Node: node}}, nil
	case st.node.GetPublicIpv4() != j.ipv4 || st.node.GetPublicIpv6() != j.ipv6:
		// The join request states the node's current addresses.
		return joined{cluster: cluster, node: st.node, version: st.version, typeID: configevents.TypeNodeAddressSet,
			event: &ev.NodeAddressSet{NodeId: st.node.GetId(), PublicIpv4: j.ipv4, PublicIpv6: j.ipv6}}, nil
	}
	return joined{cluster: cluster, node: st.node, version: st.version}, nil
}
