package edgesync

import (
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// NodeStatus is what the control plane last heard from a node: the
// heartbeats the nodes service receives.
type NodeStatus struct {
	// AppliedVersion is the snapshot version the node runs.
	AppliedVersion uint64
	// LastSeen is when the last heartbeat arrived (control-plane clock).
	LastSeen time.Time
	// Online: heard from recently and not disabled.
	Online bool
	// Healthy: online, reporting itself healthy and not failed by its
	// peers' active checks.
	Healthy bool
	// PeerChecks is what its peers' checks say ("3/3 reach it"; "" when
	// none reported) and HealthReason why it is not healthy ("" when it is).
	PeerChecks, HealthReason string
	// ApplyError is why the node rejected the newest snapshot it received
	// (empty when it runs it), and DNS what its DNS server does, both from
	// its last heartbeat.
	ApplyError string
	DNS        configv1.NodeDnsState
	// XDP is its XDP filter per interface, from its last heartbeat.
	XDP []*configv1.NodeXdpInterface
	// Roles is what it serves (http, https, dns, stream, socks5, forward),
	// from its last heartbeat.
	Roles []string
	// SoftwareVersion is the strata build it runs, from its last heartbeat.
	SoftwareVersion string
}

// StatusSource reports the latest status of the nodes that reported, by node
// id: the nodes service's heartbeats (through a small adapter in the
// wiring), read by the config service (sync status) and the purge service
// (the nodes a purge waits for).
type StatusSource interface {
	NodeStatuses() map[string]NodeStatus
}

// StatusSourceFunc adapts a function to StatusSource.
type StatusSourceFunc func() map[string]NodeStatus

// NodeStatuses calls f.
func (f StatusSourceFunc) NodeStatuses() map[string]NodeStatus { return f() }
