package nodes_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	"github.com/strata-edge/strata/services/nodes"
)

// A node a majority of its reporting peers (at least two) cannot reach
// leaves the gateway answers, though its own heartbeats say healthy; it
// stays in the check list and in all_addresses, and comes back when the
// peers reach it again. One peer of two failing it is not enough; checks
// older than the window are ignored.
func TestPeerChecksFailANode(t *testing.T) {
	e := newEnv(t)
	tok := e.createToken(t, &configv1.CreateJoinTokenRequest{AutoApprove: true})
	ids := map[string]string{}
	for _, n := range []string{"a", "b", "c"} {
		resp, err := e.anon.Join(t.Context(), &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: "edge-" + n, PublicKey: newKey(t).pub, PublicIpv4: ip(n)})
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = resp.GetNode().GetId()
	}
	beat := func(n string, checks map[string]bool, age time.Duration) {
		t.Helper()
		now := time.Now()
		st := &syncv1.NodeStatus{NodeId: ids[n], Healthy: true, Time: timestamppb.New(now), TierAddress: ip(n) + ":8080"}
		for peer, ok := range checks {
			st.PeerChecks = append(st.PeerChecks, &syncv1.PeerCheck{NodeId: ids[peer], Ok: ok, Time: timestamppb.New(now.Add(-age))})
		}
		b, _ := proto.Marshal(st)
		if err := e.control.Publish(natsutil.NodeStatusSubject(ids[n]), b); err != nil {
			t.Fatal(err)
		}
	}
	cluster := func() *syncv1.ClusterAddresses { return e.svc.GatewaySets()[partitionID].GetClusters()[0] }
	expect := func(want string, addrs ...string) {
		t.Helper()
		natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			st := e.svc.Statuses()[ids["c"]]
			if got := st.Peers.String(); got != want {
				return fmt.Errorf("peers of c: %q, want %q", got, want)
			}
			if got := cluster().GetAddresses(); !slices.Equal(got, addrs) {
				return fmt.Errorf("addresses %v, want %v", got, addrs)
			}
			return nil
		})
	}
	beat("c", nil, 0)
	beat("a", map[string]bool{"b": true, "c": true}, 0)
	beat("b", map[string]bool{"a": true, "c": true}, 0)
	expect("2/2 reach it", ip("a"), ip("b"), ip("c"))

	beat("a", map[string]bool{"b": true, "c": false}, 0)
	expect("1/2 cannot reach it", ip("a"), ip("b"), ip("c")) // one of two: not a majority

	beat("b", map[string]bool{"a": true, "c": false}, 0)
	expect("2/2 cannot reach it", ip("a"), ip("b"))
	st := e.svc.Statuses()[ids["c"]]
	if st.Healthy || !st.Online || st.Reason != "peers cannot reach it (2/2 cannot reach it)" {
		t.Fatalf("c: healthy %v online %v reason %q", st.Healthy, st.Online, st.Reason)
	}
	c := cluster()
	if !slices.Equal(c.GetAllAddresses(), []string{ip("a"), ip("b"), ip("c")}) || len(c.GetCheckNodes()) != 3 {
		t.Fatalf("a failed node left all_addresses or check_nodes: %v", c)
	}

	// Stale failures (older than three heartbeat intervals) do not count.
	beat("a", map[string]bool{"c": false}, 3*nodes.DefaultHeartbeatInterval+time.Second)
	beat("b", map[string]bool{"c": false}, 3*nodes.DefaultHeartbeatInterval+time.Second)
	expect("", ip("a"), ip("b"), ip("c"))

	// Every node failing every other's checks is the probes' fault: no node
	// is failed by them.
	beat("a", map[string]bool{"b": false, "c": false}, 0)
	beat("b", map[string]bool{"a": false, "c": false}, 0)
	beat("c", map[string]bool{"a": false, "b": false}, 0)
	expect("2/2 cannot reach it (ignored: most nodes fail their checks)", ip("a"), ip("b"), ip("c"))
}

func ip(n string) string {
	return map[string]string{"a": "192.0.2.1", "b": "192.0.2.2", "c": "192.0.2.3"}[n]
}
