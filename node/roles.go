package node

import (
	"slices"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

// snapshotRoles are the roles the apps of snap have the node serve:
// "stream" (stream apps), "socks5" and "forward" (forward-proxy apps with
// SOCKS5 or HTTP proxy ports).
func snapshotRoles(snap *syncv1.Snapshot) []string {
	var stream, socks5, forward bool
	for _, a := range snap.GetApps() {
		stream = stream || a.GetStream() != nil
		if f := a.GetForwardProxy(); f != nil {
			socks5 = socks5 || len(f.GetSocks5Ports()) > 0
			forward = forward || len(f.GetHttpPorts()) > 0
		}
	}
	var out []string
	for _, r := range []struct {
		on   bool
		name string
	}{{stream, "stream"}, {socks5, "socks5"}, {forward, "forward"}} {
		if r.on {
			out = append(out, r.name)
		}
	}
	return out
}

// setRoles records the roles of an applied snapshot for heartbeats.
func (n *Node) setRoles(snap *syncv1.Snapshot) {
	r := snapshotRoles(snap)
	n.roles.Store(&r)
}

// reportRoles puts what the node serves into a heartbeat (after
// reportDNS): its HTTP and HTTPS listeners, its DNS server when it
// answers, and the roles of the applied snapshot's apps.
func (n *Node) reportRoles(st *syncv1.NodeStatus) {
	var out []string
	if n.opts.HTTPAddr != "" {
		out = append(out, "http")
	}
	if n.opts.HTTPSAddr != "" {
		out = append(out, "https")
	}
	if st.Dns == configv1.NodeDnsState_NODE_DNS_STATE_ANSWERING {
		out = append(out, "dns")
	}
	if r := n.roles.Load(); r != nil {
		out = append(out, *r...)
	}
	slices.Sort(out)
	st.Roles = out
}
