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
	"github.com/strata-edge/strata/services/nodes"
)

// TestClockSkewHeartbeats (reliability suite, issue 11: clock skew between
// control plane and node): nodes whose clocks run minutes or a day ahead of
// or behind the control plane's report the skewed time in every heartbeat.
// Liveness is judged on the control plane's clock alone: each node stays
// online while it reports, goes offline exactly three intervals after its
// last report (not earlier because its clock is behind, not later because
// it is ahead), and joins with a token valid for the token's TTL on the
// control plane's clock.
func TestClockSkewHeartbeats(t *testing.T) {
	e := newEnv(t)
	ids, expect := gatewayNodes(t, e)
	skew := map[string]time.Duration{"192.0.2.1": 10 * time.Minute, "192.0.2.2": -10 * time.Minute}
	beat := func(ip string) {
		t.Helper()
		b, _ := proto.Marshal(&syncv1.NodeStatus{NodeId: ids[ip], Healthy: true, Time: timestamppb.New(e.clock.Now().Add(skew[ip]))})
		if err := e.control.Publish(natsutil.NodeStatusSubject(ids[ip]), b); err != nil {
			t.Fatal(err)
		}
	}
	// received waits until the service has the heartbeat sent at sent.
	received := func(ip string, sent time.Time) nodes.NodeStatus {
		t.Helper()
		var st nodes.NodeStatus
		natstest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
			st = e.svc.Statuses()[ids[ip]]
			if !st.ReceivedAt.Equal(sent) {
				return fmt.Errorf("%s: received at %v, want the control plane's %v", ip, st.ReceivedAt, sent)
			}
			return nil
		})
		return st
	}
	for _, s := range []time.Duration{10 * time.Minute, 24*time.Hour + time.Minute} {
		skew["192.0.2.1"], skew["192.0.2.2"] = s, -s
		// Twelve heartbeats, one interval apart: online throughout.
		for range 12 {
			e.clock.Advance(nodes.DefaultHeartbeatInterval)
			for ip := range skew {
				beat(ip)
				st := received(ip, e.clock.Now())
				if !st.Online || !st.Healthy {
					t.Fatalf("skew %v: %s reporting every interval shows online %v healthy %v", skew[ip], ip, st.Online, st.Healthy)
				}
				if got := st.Status.GetTime().AsTime(); !got.Equal(e.clock.Now().Add(skew[ip])) {
					t.Fatalf("%s: reported time %v, want the node's own %v", ip, got, e.clock.Now().Add(skew[ip]))
				}
			}
		}
		expect("192.0.2.1", "192.0.2.2")
		// Silent: both offline at the same moment of the control plane's clock.
		e.clock.Advance(3 * nodes.DefaultHeartbeatInterval)
		for ip := range skew {
			if !e.svc.Statuses()[ids[ip]].Online {
				t.Fatalf("skew %v: %s offline before three intervals without a report", skew[ip], ip)
			}
		}
		e.clock.Advance(time.Millisecond)
		for ip := range skew {
			if e.svc.Statuses()[ids[ip]].Online {
				t.Fatalf("skew %v: %s online after three intervals without a report", skew[ip], ip)
			}
		}
		expect()
	}

	// Join tokens expire on the control plane's clock: a node's clock, ahead
	// or behind, plays no part (a join request carries no time).
	tok := e.createToken(t, &configv1.CreateJoinTokenRequest{AutoApprove: true, TtlSeconds: 3600})
	e.clock.Advance(59 * time.Minute)
	if _, err := e.anon.Join(t.Context(), &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: "edge-c", PublicKey: newKey(t).pub}); err != nil {
		t.Fatalf("join 59 minutes into a 1-hour token: %v", err)
	}
	e.clock.Advance(2 * time.Minute)
	if _, err := e.anon.Join(t.Context(), &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: "edge-d", PublicKey: newKey(t).pub}); err == nil {
		t.Fatal("join 61 minutes into a 1-hour token accepted")
	}
}
