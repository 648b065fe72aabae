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

func TestJoinRecordsAndUpdatesPublicAddresses(t *testing.T) {
	e := newEnv(t)
	tok := e.createToken(t, &configv1.CreateJoinTokenRequest{AutoApprove: true})
	key := newKey(t)
	req := &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: "edge-a", PublicKey: key.pub, PublicIpv4: "192.0.2.10", PublicIpv6: "2001:DB8::10"}
	resp, err := e.anon.Join(t.Context(), req)
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	if n := resp.GetNode(); n.GetPublicIpv4() != "192.0.2.10" || n.GetPublicIpv6() != "2001:db8::10" {
		t.Fatalf("addresses = %q %q, want 192.0.2.10 and canonical 2001:db8::10", n.GetPublicIpv4(), n.GetPublicIpv6())
	}
	first := resp.GetNode()
	// The same addresses again record nothing; other ones replace them.
	if _, err := e.anon.Join(t.Context(), req); err != nil {
		t.Fatalf("Join again: %v", err)
	}
	req.PublicIpv4, req.PublicIpv6 = "198.51.100.7", ""
	resp, err = e.anon.Join(t.Context(), req)
	if err != nil {
		t.Fatalf("Join with a new address: %v", err)
	}
	if n := resp.GetNode(); n.GetPublicIpv4() != "198.51.100.7" || n.GetPublicIpv6() != "" || n.GetId() != first.GetId() {
		t.Fatalf("after re-join: %v", n)
	}
}

// The nodes service publishes each partition's healthy online addresses per
// cluster; a node leaves the set when it reports unhealthy or stops
// reporting, and comes back with its next healthy report.
func TestGatewaySetFollowsHeartbeats(t *testing.T) {
	e := newEnv(t)
	ids, expect := gatewayNodes(t, e)
	beat := func(ip string, healthy bool) {
		hb, _ := proto.Marshal(&syncv1.NodeStatus{NodeId: ids[ip], Healthy: healthy, Time: timestamppb.Now()})
		if err := e.control.Publish(natsutil.NodeStatusSubject(ids[ip]), hb); err != nil {
			t.Fatal(err)
		}
	}
	beat("192.0.2.1", true)
	beat("192.0.2.2", true)
	expect("192.0.2.1", "192.0.2.2")

	beat("192.0.2.2", false)
	expect("192.0.2.1")
	beat("192.0.2.2", true)
	expect("192.0.2.1", "192.0.2.2")

	// Both reports age out of the window; only a keeps reporting.
	e.clock.Advance(3*nodes.DefaultHeartbeatInterval + time.Second)
	beat("192.0.2.1", true)
	expect("192.0.2.1")
	beat("192.0.2.2", true)
	expect("192.0.2.1", "192.0.2.2")
	if got := e.svc.GatewaySets()[partitionID].GetClusters()[0].GetAddresses(); !slices.Equal(got, []string{"192.0.2.1", "192.0.2.2"}) {
		t.Fatalf("GatewaySets = %v", got)
	}
}

// A node that says goodbye (a clean stop) leaves the gateway answers and
// goes offline at once, with no clock advance, and the control plane
// answers the goodbye; a node that crashes (just stops reporting) is online
// for exactly three heartbeat intervals after its last report and no longer
// (issue 11 defect 9).
func TestGoodbyeAndCrashBound(t *testing.T) {
	e := newEnv(t)
	ids, expect := gatewayNodes(t, e)
	status := func(ip string, leaving bool) []byte {
		b, _ := proto.Marshal(&syncv1.NodeStatus{NodeId: ids[ip], Healthy: !leaving, Leaving: leaving, Time: timestamppb.Now()})
		return b
	}
	online := func(ip string) bool { return e.svc.Statuses()[ids[ip]].Online }
	for _, ip := range []string{"192.0.2.1", "192.0.2.2"} {
		if err := e.control.Publish(natsutil.NodeStatusSubject(ids[ip]), status(ip, false)); err != nil {
			t.Fatal(err)
		}
	}
	expect("192.0.2.1", "192.0.2.2")

	// Goodbye: answered, then offline and out of the set without waiting.
	if _, err := e.control.Request(natsutil.NodeStatusSubject(ids["192.0.2.2"]), status("192.0.2.2", true), 5*time.Second); err != nil {
		t.Fatalf("goodbye not answered: %v", err)
	}
	if online("192.0.2.2") {
		t.Fatal("node online after its goodbye")
	}
	if got := e.svc.GatewaySets()[partitionID].GetClusters()[0].GetAddresses(); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Fatalf("GatewaySets after goodbye = %v", got)
	}
	expect("192.0.2.1")

	// Crash: a's last report ages out at exactly 3 intervals.
	e.clock.Advance(3 * nodes.DefaultHeartbeatInterval)
	if !online("192.0.2.1") {
		t.Fatal("offline before three heartbeat intervals without a report")
	}
	e.clock.Advance(time.Millisecond)
	if online("192.0.2.1") {
		t.Fatal("online after three heartbeat intervals without a report")
	}
	expect() // published at the next check, a fifth of an interval later at most
}

// gatewayNodes joins edge-a (192.0.2.1) and edge-b (192.0.2.2) and returns
// their ids by address, and expect, which waits until the gateway set
// published for the cluster lists exactly want.
func gatewayNodes(t *testing.T, e *env) (map[string]string, func(want ...string)) {
	tok := e.createToken(t, &configv1.CreateJoinTokenRequest{AutoApprove: true})
	ids := map[string]string{}
	for name, ip := range map[string]string{"edge-a": "192.0.2.1", "edge-b": "192.0.2.2"} {
		resp, err := e.anon.Join(t.Context(), &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: name, PublicKey: newKey(t).pub, PublicIpv4: ip})
		if err != nil {
			t.Fatalf("Join %s: %v", name, err)
		}
		ids[ip] = resp.GetNode().GetId()
	}
	sub, err := e.control.SubscribeSync(natsutil.GatewaysSubject(partitionID))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.control.Flush(); err != nil {
		t.Fatal(err)
	}
	expect := func(want ...string) {
		t.Helper()
		natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			m, err := sub.NextMsg(100 * time.Millisecond)
			if err != nil {
				return err
			}
			var set syncv1.GatewaySet
			if err := proto.Unmarshal(m.Data, &set); err != nil {
				return err
			}
			if set.GetPartitionId() != partitionID || len(set.GetClusters()) != 1 {
				return fmt.Errorf("set = %v", &set)
			}
			c := set.GetClusters()[0]
			if c.GetClusterId() != clusterID || c.GetClusterName() != clusterName || !slices.Equal(c.GetAddresses(), want) {
				return fmt.Errorf("cluster = %v, want addresses %v", c, want)
			}
			return nil
		})
	}
	return ids, expect
}
