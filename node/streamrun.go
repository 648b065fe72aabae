package node

import (
	"net"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/node/forward"
	"github.com/strata-edge/strata/node/proxy"
	pstats "github.com/strata-edge/strata/node/proxy/stats"
	"github.com/strata-edge/strata/node/stream"
)

// newStream makes the runner of the stream apps (node/stream): listeners on
// Options.StreamHost, TERMINATE with the node's certificates, via_parent
// through the tier's parent nodes.
func (n *Node) newStream(perSecond bool) *stream.Stream {
	return stream.New(stream.Options{
		Host:           n.opts.forwardHost(),
		GetCertificate: n.certs.GetCertificate,
		Parents:        n.parentHosts,
		PerSecondStats: perSecond,
		Logger:         n.opts.Logger,
	})
}

// parentHosts lists the hosts of the parent-tier nodes a via_parent
// stream connection tries, in order: the nodes of the first parent cluster
// with healthy nodes ranked for key, then those of the next ones (the tier
// addresses' hosts; the stream app's listener port is used).
func (n *Node) parentHosts(key string) []string {
	var out []string
	for _, c := range n.tier.Candidates(key, 0) {
		if host, _, err := net.SplitHostPort(c.Addr); err == nil && host != "" {
			out = append(out, host)
		}
	}
	return out
}

// statsSource feeds the metrics reporter from the HTTP proxy, the stream
// apps and the forward-proxy apps.
type statsSource struct {
	proxy   *proxy.Proxy
	stream  *stream.Stream
	forward *forward.Forwarder
}

func (s statsSource) TakeSeconds(before int64, out []*metricsv1.AppSecond) ([]*metricsv1.AppSecond, uint64) {
	out, d1 := s.proxy.TakeSeconds(before, out)
	out, d2 := s.stream.TakeSeconds(before, out)
	out, d3 := s.forward.TakeSeconds(before, out)
	return out, d1 + d2 + d3
}

func (s statsSource) ServerHealth() []*metricsv1.ServerHealth {
	return append(s.proxy.ServerHealth(), s.stream.ServerHealth()...)
}

func (s statsSource) OpenConnections() uint64 {
	return s.proxy.OpenConnections() + s.stream.OpenConnections() + uint64(s.forward.OpenConnections())
}

// StreamAddr is the bound address of the stream listener on port ("tcp"
// or "udp"), "" when none.
func (n *Node) StreamAddr(port uint32, udp bool) string {
	n.mu.Lock()
	st := n.stream
	n.mu.Unlock()
	if st == nil {
		return ""
	}
	p := configv1.StreamProtocol_STREAM_PROTOCOL_TCP
	if udp {
		p = configv1.StreamProtocol_STREAM_PROTOCOL_UDP
	}
	if a := st.Addr(port, p); a != nil {
		return a.String()
	}
	return ""
}

func (n *Node) streamOpen() uint64 {
	n.mu.Lock()
	st := n.stream
	n.mu.Unlock()
	if st == nil {
		return 0
	}
	return st.OpenConnections()
}

// StreamStats returns the counters of every stream app (node/metrics).
func (n *Node) StreamStats() map[string]pstats.Snapshot {
	n.mu.Lock()
	st := n.stream
	n.mu.Unlock()
	if st == nil {
		return nil
	}
	return st.Stats()
}
