package nodes

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// NodeStatus is the latest heartbeat of one node as the control plane saw it.
type NodeStatus struct {
	// Status is the report as the node sent it; NodeId is always the node
	// the subject names (the only one its credentials may publish for).
	Status *syncv1.NodeStatus
	// ReceivedAt is when the control plane received it (its own clock, not
	// the node's).
	ReceivedAt time.Time
	// Online: reported within the last three heartbeat intervals and not
	// disabled by an operator.
	Online bool
	// Healthy: online, reporting itself healthy and not failed by its
	// peers' checks (peercheck.go).
	Healthy bool
	// Peers is what the other nodes' active checks of this node say.
	Peers PeerVerdict
	// Reason says why the node is not healthy ("" when it is).
	Reason string
}

// jsAckPrefix starts the reply subject of every message a JetStream push
// consumer delivers.
const jsAckPrefix = "$JS.ACK."

type received struct {
	status *syncv1.NodeStatus
	at     time.Time
}

// online: the node reported within the window (three heartbeat intervals)
// and its latest report is not a goodbye.
func (r received) online(now time.Time, window time.Duration) bool {
	return now.Sub(r.at) <= window && !r.status.GetLeaving()
}

// Statuses returns the latest heartbeat of every registered node that has
// reported since the service started, keyed by node id. Nodes that never
// reported are absent (offline).
func (s *Service) Statuses() map[string]NodeStatus {
	now := s.opts.Now()
	window := 3 * s.opts.HeartbeatInterval
	s.statusMu.RLock()
	defer s.statusMu.RUnlock()
	out := make(map[string]NodeStatus, len(s.statuses))
	for id, r := range s.statuses {
		st, ok := s.model.node(id)
		if !ok {
			continue
		}
		online := r.online(now, window) && !st.node.GetDisabled()
		out[id] = NodeStatus{
			Status:     r.status,
			ReceivedAt: r.at,
			Online:     online,
			Healthy:    online && r.status.GetHealthy(),
		}
		if st.node.GetDisabled() {
			out[id] = NodeStatus{Status: r.status, ReceivedAt: r.at, Reason: "disabled by an operator"}
		}
	}
	verdicts := peerVerdicts(out, window)
	for id, ns := range out {
		ns.Peers = verdicts[id]
		switch {
		case ns.Reason != "":
		case !ns.Online && ns.Status.GetLeaving():
			ns.Reason = "said goodbye"
		case !ns.Online:
			ns.Reason = "no heartbeat in " + window.String()
		case !ns.Status.GetHealthy():
			ns.Reason = "reports itself unhealthy"
		case ns.Peers.Failed:
			ns.Healthy = false
			ns.Reason = "peers cannot reach it (" + ns.Peers.String() + ")"
		}
		out[id] = ns
	}
	return out
}

func (s *Service) subscribeStatuses() (*nats.Subscription, error) {
	sub, err := s.opts.Conn.Subscribe(natsutil.NodeStatusPrefix+">", s.onStatus)
	if err != nil {
		return nil, fmt.Errorf("nodes: subscribe to node statuses: %w", err)
	}
	// The subscription must reach the server before Start returns, or the
	// first heartbeats after Start could be missed.
	if err := s.opts.Conn.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("nodes: subscribe to node statuses: %w", err)
	}
	return sub, nil
}

// onStatus records a heartbeat. Node credentials allow publishing on one's
// own status subject only, so the subject names the sender; the payload must
// name the same node. A node can also point a JetStream push consumer of its
// own partition's data at any subject, another node's status subject
// included: such deliveries keep their stream subject (which names no node)
// and carry a "$JS.ACK." reply, and both are dropped here.
func (s *Service) onStatus(m *nats.Msg) {
	id := strings.TrimPrefix(m.Subject, natsutil.NodeStatusPrefix)
	if id == "" || strings.Contains(id, ".") {
		return
	}
	if strings.HasPrefix(m.Reply, jsAckPrefix) {
		s.log.Warn("heartbeat delivered by a JetStream consumer dropped (a node redirected a consumer)", "node_id", id, "reply", m.Reply)
		return
	}
	if !s.model.isKnownNode(id) {
		s.log.Debug("heartbeat of an unknown node dropped", "node_id", id)
		return
	}
	st := new(syncv1.NodeStatus)
	if err := proto.Unmarshal(m.Data, st); err != nil {
		s.log.Warn("undecodable heartbeat dropped", "node_id", id, "err", err)
		return
	}
	if st.GetNodeId() != id {
		s.log.Warn("heartbeat naming another node dropped", "node_id", id, "claimed_node_id", st.GetNodeId())
		return
	}
	now := s.opts.Now()
	s.statusMu.Lock()
	prev, had := s.statuses[id]
	cur := received{status: st, at: now}
	s.statuses[id] = cur
	s.statusMu.Unlock()
	window := 3 * s.opts.HeartbeatInterval
	wasHealthy := had && prev.online(now, window) && prev.status.GetHealthy()
	isHealthy := cur.online(now, window) && st.GetHealthy()
	if wasHealthy != isHealthy || (had && prev.status.GetTierAddress() != st.GetTierAddress()) {
		s.kickGateways() // the node joins or leaves its cluster's gateway answers, or moved
	}
	if st.GetLeaving() {
		s.log.Info("node said goodbye: offline at once", "node_id", id)
		if m.Reply != "" {
			// The node waits for this before it shuts its link down. The
			// gateway publisher has been kicked; the reply says the goodbye
			// is recorded.
			if err := m.Respond(nil); err != nil {
				s.log.Debug("answer a goodbye", "node_id", id, "err", err)
			}
		}
	}
}
