package nodes_test

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// Gateway sets carry the tier addresses of the healthy nodes (what child
// clusters ask on a cache miss), sorted by node id; a node that moves its
// tier address is republished at once, one that turns unhealthy leaves.
func TestGatewaySetCarriesTierNodes(t *testing.T) {
	e := newEnv(t)
	tok := e.createToken(t, &configv1.CreateJoinTokenRequest{AutoApprove: true})
	var ids []string
	for _, name := range []string{"shield-a", "shield-b"} {
		resp, err := e.anon.Join(t.Context(), &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: name, PublicKey: newKey(t).pub})
		if err != nil {
			t.Fatalf("Join %s: %v", name, err)
		}
		ids = append(ids, resp.GetNode().GetId())
	}
	sub, err := e.control.SubscribeSync(natsutil.GatewaysSubject(partitionID))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.control.Flush(); err != nil {
		t.Fatal(err)
	}
	beat := func(id, addr string, healthy bool) {
		hb, _ := proto.Marshal(&syncv1.NodeStatus{NodeId: id, Healthy: healthy, TierAddress: addr, Time: timestamppb.Now()})
		if err := e.control.Publish(natsutil.NodeStatusSubject(id), hb); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(want string) {
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
			got := ""
			for _, n := range set.GetClusters()[0].GetTierNodes() {
				got += n.GetNodeId() + "=" + n.GetAddress() + " "
			}
			if got != want {
				return fmt.Errorf("tier nodes %q, want %q", got, want)
			}
			return nil
		})
	}
	lo, hi := ids[0], ids[1]
	if hi < lo {
		lo, hi = hi, lo
	}
	beat(hi, "10.0.0.2:7480", true)
	beat(lo, "10.0.0.1:7480", true)
	expect(lo + "=10.0.0.1:7480 " + hi + "=10.0.0.2:7480 ")
	beat(lo, "10.0.0.1:8080", true)
	expect(lo + "=10.0.0.1:8080 " + hi + "=10.0.0.2:7480 ")
	beat(hi, "10.0.0.2:7480", false)
	expect(lo + "=10.0.0.1:8080 ")
}
