package node

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/xdp"
)

// The XDP DDoS filter on the node (node/xdp, docs/ddos.md): attached to
// Options.XDPIfaces at Start, detached at Stop. Where the kernel or the
// privileges refuse it, the node runs on without it and says why in its
// heartbeats and on /metrics. The hub's addresses and the partition's tier
// peers are always allow-listed, so no policy cuts the node off.

// startXDP attaches the filter; an error is logged and reported, never
// returned.
func (n *Node) startXDP() {
	if len(n.opts.XDPIfaces) == 0 {
		return
	}
	allow := n.alwaysAllow(nil)
	f, err := xdp.Attach(n.opts.XDPIfaces, xdp.Options{Allow: allow, Logger: n.log})
	if err != nil {
		n.log.Warn("xdp filter not attached; the node runs without it", "ifaces", n.opts.XDPIfaces, "err", err)
		n.xdpErr = err.Error()
		return
	}
	for _, st := range f.Status() {
		if st.Error != "" {
			n.log.Warn("xdp filter not attached", "iface", st.Name, "err", st.Error)
		} else {
			n.log.Info("xdp filter attached", "iface", st.Name, "mode", st.Mode)
		}
	}
	n.xdp = f
}

// XDP is the node's DDoS filter, nil when none is attached (no
// Options.XDPIfaces, or Attach failed: XDPStatus says why). Apply and
// Block on it take effect at once, without reloading the program.
func (n *Node) XDP() *xdp.Filter {
	n.xdpMu.Lock()
	defer n.xdpMu.Unlock()
	return n.xdp
}

// XDPStatus is the attachment of every interface of Options.XDPIfaces: the
// mode, or why it is not attached.
func (n *Node) XDPStatus() []xdp.IfaceStatus {
	n.xdpMu.Lock()
	defer n.xdpMu.Unlock()
	if n.xdp != nil {
		return n.xdp.Status()
	}
	out := make([]xdp.IfaceStatus, 0, len(n.opts.XDPIfaces))
	for _, name := range n.opts.XDPIfaces {
		out = append(out, xdp.IfaceStatus{Name: name, Error: n.xdpErr})
	}
	return out
}

func (n *Node) stopXDP() error {
	n.xdpMu.Lock()
	defer n.xdpMu.Unlock()
	if n.xdp == nil {
		return nil
	}
	err := n.xdp.Close()
	n.xdp = nil
	n.xdpErr = "detached: the node stopped"
	return err
}

// setXDPPeers re-allow-lists the hub and the given tier peers (each
// gateway set).
func (n *Node) setXDPPeers(peers []netip.Addr) {
	f := n.XDP()
	if f == nil {
		return
	}
	if err := f.SetAlwaysAllow(n.alwaysAllow(peers)); err != nil {
		n.log.Warn("xdp: allow-listing the hub and tier peers", "err", err)
	}
}

// alwaysAllow is the hub's addresses (the leaf link's remote ends and the
// resolved hosts of Options.HubLeafURLs) and peers, as host prefixes.
func (n *Node) alwaysAllow(peers []netip.Addr) []netip.Prefix {
	addrs := append([]netip.Addr(nil), peers...)
	if n.leaf != nil {
		if lz, err := n.leaf.Leafz(nil); err == nil {
			for _, l := range lz.Leafs {
				if ip, err := netip.ParseAddr(l.IP); err == nil {
					addrs = append(addrs, ip)
				}
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, raw := range n.opts.HubLeafURLs {
		u, err := parseHubURL(raw)
		if err != nil {
			continue
		}
		host := u.Hostname()
		if ip, err := netip.ParseAddr(host); err == nil {
			addrs = append(addrs, ip)
			continue
		}
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			n.log.Warn("xdp: resolving the hub for the allow-list", "host", host, "err", err)
			continue
		}
		addrs = append(addrs, ips...)
	}
	seen := map[netip.Prefix]bool{}
	var out []netip.Prefix
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		p := netip.PrefixFrom(a, a.BitLen())
		if a.IsValid() && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// maxXDPError bounds an interface's error in a heartbeat.
const maxXDPError = 400

// reportXDP puts the attachment into a heartbeat.
func (n *Node) reportXDP(st *syncv1.NodeStatus) {
	if len(n.opts.XDPIfaces) == 0 {
		return
	}
	for _, s := range n.XDPStatus() {
		// A verifier refusal carries its whole log: the node's log has it,
		// the heartbeat a bounded head.
		e := s.Error
		if len(e) > maxXDPError {
			e = e[:maxXDPError] + "..."
		}
		st.Xdp = append(st.Xdp, &syncv1.XdpInterface{Name: s.Name, Mode: s.Mode, Error: strings.ToValidUTF8(e, "?")})
	}
}
