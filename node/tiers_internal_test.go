package node

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

// The peers of a gateway set: public addresses and tier address hosts,
// names resolved once each; a name that fails to resolve keeps the
// addresses it had; unusable entries are skipped.
func TestTierPeers(t *testing.T) {
	set := &syncv1.GatewaySet{PartitionId: "p", Clusters: []*syncv1.ClusterAddresses{
		{ClusterId: "edge", Addresses: []string{"203.0.113.1", "2001:db8::1", "not-an-ip"}, TierNodes: []*syncv1.TierNode{
			{NodeId: "e1", Address: "10.0.0.1:7480"},
			{NodeId: "e2", Address: "[fd00::2]:7480"},
			{NodeId: "e3", Address: "no-port"},
		}},
		{ClusterId: "shield", TierNodes: []*syncv1.TierNode{
			{NodeId: "s1", Address: "shield-1.internal:7480"},
			{NodeId: "s2", Address: "shield-1.internal:7481"},
			{NodeId: "s3", Address: "gone.internal:7480"},
		}},
	}}
	lookups := map[string]int{}
	lookup := func(_ context.Context, _, host string) ([]netip.Addr, error) {
		lookups[host]++
		if host == "shield-1.internal" {
			return []netip.Addr{netip.MustParseAddr("10.0.1.1")}, nil
		}
		return nil, errors.New("no such host")
	}
	prev := map[string][]netip.Addr{"gone.internal": {netip.MustParseAddr("10.0.1.9")}}
	got, names := tierPeers(context.Background(), set, prev, lookup)
	want := []string{"203.0.113.1", "2001:db8::1", "10.0.0.1", "fd00::2", "10.0.1.1", "10.0.1.9"}
	var gotS []string
	for _, a := range got {
		gotS = append(gotS, a.String())
	}
	if !slices.Equal(gotS, want) {
		t.Fatalf("peers %v, want %v", gotS, want)
	}
	if lookups["shield-1.internal"] != 1 || len(names) != 2 {
		t.Fatalf("lookups %v, names %v", lookups, names)
	}
	// Next set without the unresolvable name: it is forgotten.
	set.Clusters[1].TierNodes = set.Clusters[1].TierNodes[:1]
	if _, names = tierPeers(context.Background(), set, names, lookup); len(names) != 1 {
		t.Fatalf("names %v", names)
	}
}
