package nodes

import (
	"errors"
	"maps"
	"sync"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/eventstore"
)

// model is the service's own read model: the clusters, nodes and join tokens
// folded from the log. Values handed out are never mutated (a change replaces
// them), so readers may keep them after unlocking.
type model struct {
	mu sync.RWMutex
	// Position is the position of the last event folded (Applied,
	// WaitFor), advanced under mu.
	eventstore.Position

	clusters      map[string]*configv1.Cluster // by id
	clusterByName map[string]string            // name -> id

	nodes      map[string]*nodeState // live (not removed) nodes by id
	nodeByName map[string]string     // cluster id + "/" + name -> node id
	nodeByKey  map[string]string     // public key -> node id
	removedKey map[string]string     // public key -> id of the removed node

	tokens     map[string]*tokenState
	tokenOrder []string // ids in creation order
}

type nodeState struct {
	node *configv1.Node
	// version is the node stream's version (position of its newest event).
	version uint64
}

type tokenState struct {
	token *configv1.JoinToken
	hash  []byte // SHA-256 of the secret
	// version is the token stream's version.
	version uint64
}

func newModel() *model {
	return &model{
		clusters:      map[string]*configv1.Cluster{},
		clusterByName: map[string]string{},
		nodes:         map[string]*nodeState{},
		nodeByName:    map[string]string{},
		nodeByKey:     map[string]string{},
		removedKey:    map[string]string{},
		tokens:        map[string]*tokenState{},
	}
}

func nameKey(clusterID, name string) string { return clusterID + "/" + name }

// apply folds one event. Unknown event types only move the position.
func (m *model) apply(e eventstore.Event, msg proto.Message) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch p := msg.(type) {
	case *ev.ClusterCreated:
		c := p.GetCluster()
		if c.GetId() != "" {
			m.clusters[c.GetId()] = c
			m.clusterByName[c.GetName()] = c.GetId()
		}
	case *ev.ClusterUpdated: // a rename moves the name
		c := p.GetCluster()
		if old := m.clusters[c.GetId()]; old != nil {
			if m.clusterByName[old.GetName()] == old.GetId() {
				delete(m.clusterByName, old.GetName())
			}
			m.clusters[c.GetId()] = c
			m.clusterByName[c.GetName()] = c.GetId()
		}
	case *ev.ClusterDeleted:
		if old := m.clusters[p.GetClusterId()]; old != nil {
			delete(m.clusters, old.GetId())
			if m.clusterByName[old.GetName()] == old.GetId() {
				delete(m.clusterByName, old.GetName())
			}
		}
	case *ev.NodeRegistered:
		n := p.GetNode()
		if n.GetId() != "" {
			m.nodes[n.GetId()] = &nodeState{node: n, version: e.Position}
			m.nodeByName[nameKey(n.GetClusterId(), n.GetName())] = n.GetId()
			if n.GetPublicKey() != "" {
				m.nodeByKey[n.GetPublicKey()] = n.GetId()
			}
		}
	case *ev.NodeApproved:
		m.updateNode(p.GetNodeId(), e.Position, func(n *configv1.Node) { n.Approved = true })
	case *ev.NodeDisabledSet:
		m.updateNode(p.GetNodeId(), e.Position, func(n *configv1.Node) { n.Disabled = p.GetDisabled() })
	case *ev.NodeAddressSet:
		m.updateNode(p.GetNodeId(), e.Position, func(n *configv1.Node) {
			n.PublicIpv4, n.PublicIpv6 = p.GetPublicIpv4(), p.GetPublicIpv6()
		})
	case *ev.NodeStagingSet:
		m.updateNode(p.GetNodeId(), e.Position, func(n *configv1.Node) { n.Staging = p.GetStaging() })
	case *ev.NodeRemoved:
		if st, ok := m.nodes[p.GetNodeId()]; ok {
			n := st.node
			delete(m.nodes, n.GetId())
			if m.nodeByName[nameKey(n.GetClusterId(), n.GetName())] == n.GetId() {
				delete(m.nodeByName, nameKey(n.GetClusterId(), n.GetName()))
			}
			if k := n.GetPublicKey(); k != "" {
				delete(m.nodeByKey, k)
				m.removedKey[k] = n.GetId()
			}
		}
	case *ev.JoinTokenCreated:
		if p.GetTokenId() != "" {
			m.tokens[p.GetTokenId()] = &tokenState{
				token: &configv1.JoinToken{
					Id:          p.GetTokenId(),
					ClusterId:   p.GetClusterId(),
					ExpiresAt:   p.GetExpiresAt(),
					AutoApprove: p.GetAutoApprove(),
					Staging:     p.GetStaging(),
					Description: p.GetDescription(),
				},
				hash:    p.GetSecretSha256(),
				version: e.Position,
			}
			m.tokenOrder = append(m.tokenOrder, p.GetTokenId())
		}
	case *ev.JoinTokenRevoked:
		if st, ok := m.tokens[p.GetTokenId()]; ok {
			t := proto.Clone(st.token).(*configv1.JoinToken)
			t.Revoked = true
			m.tokens[p.GetTokenId()] = &tokenState{token: t, hash: st.hash, version: e.Position}
		}
	}
	m.Advance(e.Position)
}

// updateNode replaces a live node with a changed copy.
func (m *model) updateNode(id string, pos uint64, change func(*configv1.Node)) {
	st, ok := m.nodes[id]
	if !ok {
		return
	}
	n := proto.Clone(st.node).(*configv1.Node)
	change(n)
	m.nodes[id] = &nodeState{node: n, version: pos}
}

// cluster resolves a cluster by id or name.
func (m *model) cluster(ref string) (*configv1.Cluster, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if c, ok := m.clusters[ref]; ok {
		return c, true
	}
	if id, ok := m.clusterByName[ref]; ok {
		return m.clusters[id], true
	}
	return nil, false
}

func (m *model) node(id string) (*nodeState, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st, ok := m.nodes[id]
	return st, ok
}

// nodeRef returns the id of the node whose id or name is ref: a name
// resolves when one node has it (names are unique per cluster only), else
// the error lists the candidates. An unknown ref is returned as it is.
func (m *model) nodeRef(ref string) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if _, ok := m.nodes[ref]; ok {
		return ref, nil
	}
	st, err := authz.ByIDOrName(authz.KindNode, ref, maps.Values(m.nodes),
		func(st *nodeState) string { return st.node.GetId() },
		func(st *nodeState) string { return st.node.GetName() },
		func(st *nodeState) string {
			return st.node.GetId() + " (cluster " + m.clusters[st.node.GetClusterId()].GetName() + ")"
		})
	switch {
	case err == nil:
		return st.node.GetId(), nil
	case errors.Is(err, authz.ErrAmbiguous):
		return "", &apierr.Error{Kind: apierr.KindInvalid, Msg: err.Error()}
	}
	return ref, nil
}

// keyOwner returns the id of the live node holding public key pub, and of the
// removed node that held it.
func (m *model) keyOwner(pub string) (live, removed string) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.nodeByKey[pub], m.removedKey[pub]
}

func (m *model) nodeByClusterName(clusterID, name string) (*nodeState, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	id, ok := m.nodeByName[nameKey(clusterID, name)]
	if !ok {
		return nil, false
	}
	st, ok := m.nodes[id]
	return st, ok
}

func (m *model) token(id string) (*tokenState, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st, ok := m.tokens[id]
	return st, ok
}

func (m *model) allTokens() []*configv1.JoinToken {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*configv1.JoinToken, 0, len(m.tokenOrder))
	for _, id := range m.tokenOrder {
		out = append(out, m.tokens[id].token)
	}
	return out
}

func (m *model) isKnownNode(id string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.nodes[id]
	return ok
}

// gatewayView returns every cluster and live node (values are never mutated,
// so the caller may read them unlocked).
func (m *model) gatewayView() (clusters []*configv1.Cluster, nodes []*configv1.Node) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, c := range m.clusters {
		clusters = append(clusters, c)
	}
	for _, st := range m.nodes {
		nodes = append(nodes, st.node)
	}
	return clusters, nodes
}
