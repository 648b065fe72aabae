package stack_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ddosv1 "github.com/strata-edge/strata/gen/strata/ddos/v1"
	"github.com/strata-edge/strata/gen/strata/ddos/v1/ddosv1connect"
	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/internal/stack"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// DDoS end to end on strata dev: a released policy reaches the dev node's
// snapshot, a block is acknowledged by the node through its own NATS
// credentials, and the node's filter report reaches GetStats. Without XDP
// the node acknowledges with why it could not block; as root, with the
// filter on a veth, it blocks and reports its counters.
func TestDevDDoSPolicyAndBlock(t *testing.T) {
	t.Run("no xdp", func(t *testing.T) {
		checkDevDDoS(t, runDev(t), "xdp not attached: the node runs without --xdp-iface")
	})
	t.Run("xdp on a veth", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root (veth, BPF)")
		}
		dev := fmt.Sprintf("sds%da", os.Getpid()%100000)
		if out, err := exec.Command("ip", "link", "add", dev, "type", "veth", "peer", "name", dev[:len(dev)-1]+"b").CombinedOutput(); err != nil {
			t.Fatalf("ip link add: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "link", "del", dev).Run() })
		if out, err := exec.Command("ip", "link", "set", dev, "up").CombinedOutput(); err != nil {
			t.Fatalf("ip link set up: %v %s", err, out)
		}
		checkDevDDoS(t, runDev(t, func(o *stack.DevOptions) { o.XDPIfaces = []string{dev} }), "")
	})
}

func checkDevDDoS(t *testing.T, d *devStack, ackError string) {
	t.Helper()
	bg := context.Background()
	admin := clientsFor(d.api, d.token)
	ddos := ddosv1connect.NewDdosServiceClient(&http.Client{Timeout: 15 * time.Second}, d.api, connect.WithInterceptors(apiauth.BearerToken(d.token)))
	// The node must be online for a block to wait for it.
	var nodeID string
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		res, err := admin.config.ListNodes(bg, &configv1.ListNodesRequest{})
		if err != nil {
			return err
		}
		for _, n := range res.GetNodes() {
			if n.GetOnline() {
				nodeID = n.GetNode().GetId()
				return nil
			}
		}
		return errors.New("no node online yet")
	})
	// strata node list shows the filter from the node's heartbeat.
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		res, err := admin.config.ListNodes(bg, &configv1.ListNodesRequest{})
		if err != nil {
			return err
		}
		for _, n := range res.GetNodes() {
			if n.GetNode().GetId() != nodeID {
				continue
			}
			xdp := n.GetXdp()
			switch {
			case ackError != "" && len(xdp) != 0:
				return fmt.Errorf("a node without --xdp-iface lists XDP %v", xdp)
			case ackError == "" && (len(xdp) != 1 || xdp[0].GetMode() == "" || xdp[0].GetError() != ""):
				return fmt.Errorf("node list XDP %v: want the veth attached", xdp)
			}
			return nil
		}
		return errors.New("node gone")
	})

	// A large deny list: 40,000 host entries, about 600 KB encoded, in one
	// delta to the node and one Apply on its filter.
	deny := []string{"203.0.113.0/24"}
	for i := range 40_000 {
		deny = append(deny, fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&0xff, i&0xff))
	}
	must[*ddosv1.UpdatePolicyResponse](t)(ddos.UpdatePolicy(bg, &ddosv1.UpdatePolicyRequest{Cluster: "default",
		Policy: &ddosv1.DdosPolicy{Enabled: true, DenyCidrs: deny, TcpSyn: &ddosv1.RateLimit{PacketsPerSecond: 500}}}))
	released := time.Now()
	rel := must[*ddosv1.CreateReleaseResponse](t)(ddos.CreateRelease(bg, &ddosv1.CreateReleaseRequest{Cluster: "default", Note: "first"}))
	if rel.GetRelease().GetNumber() != 1 {
		t.Fatalf("release %v", rel.GetRelease())
	}
	// The partition's snapshot carries it, and the node runs that version.
	snap := must[*configv1.GetSnapshotResponse](t)(admin.config.GetSnapshot(bg, &configv1.GetSnapshotRequest{Partition: "default"}))
	if !strings.Contains(snap.String(), "203.0.113.0/24") {
		t.Fatalf("the snapshot does not carry the policy: %v", snap)
	}
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		res, err := admin.config.ListNodes(bg, &configv1.ListNodesRequest{})
		if err != nil {
			return err
		}
		for _, n := range res.GetNodes() {
			if n.GetNode().GetId() == nodeID && n.GetAppliedVersion() >= snap.GetVersion() {
				return nil
			}
		}
		return fmt.Errorf("node %s not at version %d yet", nodeID, snap.GetVersion())
	})
	t.Logf("a policy of %d deny entries ran on the node %s after its release", len(deny), time.Since(released).Round(time.Millisecond))

	blocked := time.Now()
	blk := must[*ddosv1.BlockResponse](t)(ddos.Block(bg, &ddosv1.BlockRequest{Cidrs: []string{"198.51.100.7"}, Ttl: durationpb.New(10 * time.Minute),
		Scope: &ddosv1.BlockScope{Target: &ddosv1.BlockScope_Cluster{Cluster: "default"}}})).GetBlock()
	if blk.GetNodesTotal() != 1 {
		t.Fatalf("block waits for %d nodes, want the dev node", blk.GetNodesTotal())
	}
	var got *ddosv1.Block
	natstest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		res, err := ddos.GetBlock(bg, &ddosv1.GetBlockRequest{Id: blk.GetId()})
		if err != nil {
			return err
		}
		if got = res.GetBlock(); got.GetNodesDone() != 1 {
			return errors.New("not acknowledged yet")
		}
		return nil
	})
	if a := got.GetAcks()[0]; a.GetNodeId() != nodeID || a.GetError() != ackError {
		t.Fatalf("ack %v, want error %q", a, ackError)
	}
	t.Logf("block acknowledged %s after the call (seen by polling every 20 ms)", time.Since(blocked).Round(time.Millisecond))

	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		res, err := ddos.GetStats(bg, &ddosv1.GetStatsRequest{Cluster: "default"})
		if err != nil {
			return err
		}
		if len(res.GetNodes()) != 1 {
			return errors.New("no report yet")
		}
		r := res.GetNodes()[0]
		if ackError != "" {
			if r.GetAttached() || r.GetDetail() != ackError {
				return fmt.Errorf("report %v", r)
			}
			return nil
		}
		if !r.GetAttached() || r.GetDetail() != "" || len(r.GetCounters()) == 0 {
			return fmt.Errorf("report %v", r)
		}
		return nil
	})

	// The counters also reach the metrics service with the node's system
	// samples (strata metrics node), none without a filter.
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		res, err := admin.metric.GetNodeStats(bg, &metricsv1.GetNodeStatsRequest{NodeId: nodeID, Start: timestamppb.New(time.Now().Add(-time.Minute))})
		if err != nil {
			return err
		}
		smp := res.GetSamples()
		if len(smp) == 0 {
			return errors.New("no system sample yet")
		}
		xdp := smp[len(smp)-1].GetXdpPackets()
		switch {
		case ackError != "" && len(xdp) != 0:
			return fmt.Errorf("a node without a filter sends xdp_packets %v", xdp)
		case ackError == "" && !slices.ContainsFunc(xdp, func(c *metricsv1.NameCount) bool { return c.GetName() == "passed" }):
			return fmt.Errorf("xdp_packets %v: want the filter's counters", xdp)
		}
		return nil
	})
}

// The ddos rules: a policy is checked on its cluster (through the
// cluster's partition), blocks and stats need the permission over
// everything, and a viewer reads but does not write.
func TestDevDDoSAuthorization(t *testing.T) {
	dev := runDev(t)
	admin := clientsFor(dev.api, dev.token)
	bg := context.Background()
	must[*configv1.CreatePartitionResponse](t)(admin.config.CreatePartition(bg, &configv1.CreatePartitionRequest{Name: "eu"}))
	must[*configv1.CreateClusterResponse](t)(admin.config.CreateCluster(bg, &configv1.CreateClusterRequest{Name: "fra", Partition: "eu"}))
	client := func(user, role string) ddosv1connect.DdosServiceClient {
		must[*iamv1.CreateUserResponse](t)(admin.iam.CreateUser(bg, &iamv1.CreateUserRequest{Name: user, ServiceAccount: true}))
		must[*iamv1.CreateGrantResponse](t)(admin.iam.CreateGrant(bg, &iamv1.CreateGrantRequest{User: user, Role: role, ScopeKind: "partition", ScopeObject: "eu"}))
		tok := must[*iamv1.CreateTokenResponse](t)(admin.iam.CreateToken(bg, &iamv1.CreateTokenRequest{User: user}))
		return ddosv1connect.NewDdosServiceClient(&http.Client{Timeout: 15 * time.Second}, dev.api, connect.WithInterceptors(apiauth.BearerToken(tok.Secret)))
	}
	euAdmin, euViewer := client("eu-admin", "admin"), client("eu-viewer", "viewer")
	set := func(c ddosv1connect.DdosServiceClient, cluster string) error {
		_, err := c.UpdatePolicy(bg, &ddosv1.UpdatePolicyRequest{Cluster: cluster, Policy: &ddosv1.DdosPolicy{Enabled: true}})
		return err
	}
	block := &ddosv1.BlockRequest{Cidrs: []string{"192.0.2.1"}, Ttl: durationpb.New(time.Minute), Scope: &ddosv1.BlockScope{Target: &ddosv1.BlockScope_Cluster{Cluster: "fra"}}}
	for _, tc := range []struct {
		name string
		err  error
		want connect.Code
	}{
		{"eu admin sets fra's policy", set(euAdmin, "fra"), 0},
		{"eu admin releases it", func() error {
			_, err := euAdmin.CreateRelease(bg, &ddosv1.CreateReleaseRequest{Cluster: "fra"})
			return err
		}(), 0},
		{"eu admin sets default's policy", set(euAdmin, "default"), connect.CodePermissionDenied},
		{"eu viewer reads fra's policy", func() error { _, err := euViewer.GetPolicy(bg, &ddosv1.GetPolicyRequest{Cluster: "fra"}); return err }(), 0},
		{"eu viewer sets fra's policy", set(euViewer, "fra"), connect.CodePermissionDenied},
		{"eu admin blocks", func() error { _, err := euAdmin.Block(bg, block); return err }(), connect.CodePermissionDenied},
		{"eu admin reads stats", func() error { _, err := euAdmin.GetStats(bg, &ddosv1.GetStatsRequest{}); return err }(), connect.CodePermissionDenied},
	} {
		if got := connect.CodeOf(tc.err); (tc.want == 0 && tc.err != nil) || (tc.want != 0 && got != tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}
