package config

import (
	"testing"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/eventstore"
)

// nodeEvent appends one node event as the nodes service writes it.
func (e *env) nodeEvent(id string, msg proto.Message) {
	e.t.Helper()
	if _, err := e.svc.appendAndWait(e.ctx, "node."+id, eventstore.AnyVersion, []proto.Message{msg}); err != nil {
		e.t.Fatal(err)
	}
}

// A node that joins again with other public addresses (NodeAddressSet,
// recorded by the nodes service) shows them in ListNodes.
func TestListNodesShowsChangedAddresses(t *testing.T) {
	e := newEnv(t, envOptions{})
	cl := must(e.client.CreateCluster(e.ctx, &configv1.CreateClusterRequest{Name: "edge", Partition: "default"}))(t).Cluster
	e.nodeEvent("node_a", &ev.NodeRegistered{Node: &configv1.Node{Id: "node_a", Name: "a", ClusterId: cl.Id, Approved: true,
		PublicIpv4: "192.0.2.1", PublicIpv6: "2001:db8::1"}})
	addrs := func() (string, string) {
		t.Helper()
		nodes := must(e.client.ListNodes(e.ctx, &configv1.ListNodesRequest{Cluster: "edge"}))(t).Nodes
		if len(nodes) != 1 {
			t.Fatalf("nodes: %v", nodes)
		}
		return nodes[0].GetNode().GetPublicIpv4(), nodes[0].GetNode().GetPublicIpv6()
	}
	if v4, v6 := addrs(); v4 != "192.0.2.1" || v6 != "2001:db8::1" {
		t.Fatalf("join-time addresses: %s %s", v4, v6)
	}
	e.nodeEvent("node_a", &ev.NodeAddressSet{NodeId: "node_a", PublicIpv4: "198.51.100.7"})
	if v4, v6 := addrs(); v4 != "198.51.100.7" || v6 != "" {
		t.Fatalf("after NodeAddressSet: %q %q, want 198.51.100.7 and no IPv6", v4, v6)
	}
	// Also after a restart (the projection is rebuilt from the log).
	e.restart(envOptions{})
	if v4, v6 := addrs(); v4 != "198.51.100.7" || v6 != "" {
		t.Fatalf("after restart: %q %q", v4, v6)
	}
}
