package node

import (
	"net"

	"github.com/strata-edge/strata/node/forward"
)

// forwardHost is the host forward-proxy apps' ports open on:
// Options.StreamHost, else the host of the HTTP (or HTTPS) listener.
func (o *Options) forwardHost() string {
	if o.StreamHost != "" {
		return o.StreamHost
	}
	for _, a := range []string{o.HTTPAddr, o.HTTPSAddr} {
		if host, _, err := net.SplitHostPort(a); err == nil && a != "" {
			return host
		}
	}
	return ""
}

// Forward is the node's forward proxy (SOCKS5 and HTTP proxy apps); nil
// before Start.
func (n *Node) Forward() *forward.Forwarder {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.forward
}
