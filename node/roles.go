package node

import (
	"slices"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/store"
)

// roleCount counts the apps of a snapshot by the roles they give the node:
// "stream" (stream apps), "socks5" and "forward" (forward-proxy apps with
// SOCKS5 or HTTP proxy ports). It follows the applied snapshots by their
// changed objects (store.Diff), so a delta to a million apps does not read
// every app.
type roleCount struct {
	src                     []*configv1.App
	stream, socks5, forward int
}

// count adds d (1 or -1) for each role of a.
func (c *roleCount) count(a *configv1.App, d int) {
	if a.GetStream() != nil {
		c.stream += d
	}
	if f := a.GetForwardProxy(); f != nil {
		if len(f.GetSocks5Ports()) > 0 {
			c.socks5 += d
		}
		if len(f.GetHttpPorts()) > 0 {
			c.forward += d
		}
	}
}

// update moves c to apps and returns the roles they have the node serve.
func (c *roleCount) update(apps []*configv1.App) []string {
	gone, came := store.Diff(c.src, apps)
	for _, a := range gone {
		c.count(a, -1)
	}
	for _, i := range came {
		c.count(apps[i], 1)
	}
	c.src = apps
	var out []string
	for _, r := range []struct {
		n    int
		name string
	}{{c.stream, "stream"}, {c.socks5, "socks5"}, {c.forward, "forward"}} {
		if r.n > 0 {
			out = append(out, r.name)
		}
	}
	return out
}

// setRoles records the roles of an applied snapshot for heartbeats
// (applies run one at a time).
func (n *Node) setRoles(snap *syncv1.Snapshot) {
	r := n.roleCount.update(snap.GetApps())
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
