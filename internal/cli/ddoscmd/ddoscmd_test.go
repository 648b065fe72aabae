package ddoscmd

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/strata-edge/strata/gen/strata/ddos/v1/ddosv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx/clitest"
	nodeddos "github.com/strata-edge/strata/node/ddos"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	ddossvc "github.com/strata-edge/strata/services/ddos"
	"github.com/strata-edge/strata/services/edgesync"
)

type factory struct {
	clitest.Env
	c ddosv1connect.DdosServiceClient
}

func (f *factory) DdosClient() (ddosv1connect.DdosServiceClient, error) { return f.c, nil }

// topology: cluster "fra" (cls_fra) in partition p1 with node node_fra1;
// cluster "ams" (cls_ams) in p1 without nodes.
type topology struct{}

func (topology) ResolveCluster(ref string) (string, string, bool) {
	switch ref {
	case "fra", "cls_fra":
		return "cls_fra", "p1", true
	case "ams", "cls_ams":
		return "cls_ams", "p1", true
	}
	return "", "", false
}

func (topology) NodeCluster(id string) (string, bool) { return "cls_fra", id == "node_fra1" }
func (topology) PartitionIDs() []string               { return []string{"p1"} }

// newFactory runs the ddos service on an embedded JetStream and a node
// agent of node_fra1 without an XDP filter on the same server.
func newFactory(t *testing.T) (*factory, *nodeddos.Agent) {
	t.Helper()
	nc := natstest.Connect(t, natstest.RunServer(t))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store, err := eventstore.NewJetStream(context.Background(), js, eventstore.JetStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	online := edgesync.StatusSourceFunc(func() map[string]edgesync.NodeStatus {
		return map[string]edgesync.NodeStatus{"node_fra1": {Online: true}}
	})
	svc, err := ddossvc.New(ddossvc.Options{Store: store, Clusters: topology{}, JetStream: js, Conn: nc, Nodes: online})
	if err != nil {
		t.Fatal(err)
	}
	srv := clitest.Serve(t, svc)
	agent, err := nodeddos.New(nodeddos.Options{NATS: nc, NodeID: "node_fra1", ClusterID: "cls_fra", PartitionID: "p1", ReportInterval: -1,
		Filter: func() (nodeddos.Filter, string) { return nil, "the node runs without --xdp-iface" }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Stop(context.Background()) })
	return &factory{c: ddosv1connect.NewDdosServiceClient(srv.Client(), srv.URL)}, agent
}

func (f *factory) run(args ...string) (string, error) { return f.Run(Commands(f), args...) }

// TestDDoSJSONGolden: every ddos command's -o json output, pinned in
// testdata/json (refresh with -update).
func TestDDoSJSONGolden(t *testing.T) {
	f, agent := newFactory(t)
	cmds := func() []*cobra.Command { return Commands(f) }
	list := filepath.Join(t.TempDir(), "deny.txt")
	if err := os.WriteFile(list, []byte("# bad sources\n192.0.2.0/24\n\n2001:db8:bad::/48  # v6\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.GoldenSteps(t, cmds, []clitest.Step{
		{Name: "ddos-policy-show-empty", Args: []string{"ddos", "policy", "show", "--cluster", "fra"}},
		{Name: "ddos-policy-set", Args: []string{"ddos", "policy", "set", "--cluster", "fra", "--enable", "--deny", "203.0.113.7", "--allow", "10.0.0.0/8", "--syn-rate", "200", "--syn-burst", "400", "--drop-fragments", "--syn-cookies"}},
		{Name: "ddos-release-create", Args: []string{"ddos", "release", "create", "--cluster", "fra", "--note", "first"}},
		{Name: "ddos-policy-set-file", Args: []string{"ddos", "policy", "set", "--cluster", "fra", "--deny-file", list, "--dns-rate", "50", "--syn-rate", "0", "--syn-cookies=false"}},
		{Name: "ddos-release-create-staging", Args: []string{"ddos", "release", "create", "--cluster", "fra", "--staging"}},
		{Name: "ddos-release-promote", Args: []string{"ddos", "release", "promote", "--cluster", "fra"}},
		{Name: "ddos-release-revert", Args: []string{"ddos", "release", "revert", "--cluster", "fra", "--to", "1", "--note", "back"}},
		{Name: "ddos-release-list", Args: []string{"ddos", "release", "list", "--cluster", "fra"}},
		{Name: "ddos-policy-show", Args: []string{"ddos", "policy", "show", "--cluster", "fra"}},
		{Name: "ddos-block-wait", Args: []string{"ddos", "block", "198.51.100.7", "--ttl", "10m", "--cluster", "ams", "--wait"}},
	})
	agent.Report()
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		out, err := f.run("ddos", "stats")
		if err == nil && !strings.Contains(out, "node_fra1") {
			err = os.ErrNotExist
		}
		return err
	})
	f.GoldenSteps(t, cmds, []clitest.Step{
		{Name: "ddos-stats", Args: []string{"ddos", "stats", "--cluster", "fra"}},
		{Name: "ddos-blocks", Args: []string{"ddos", "blocks"}},
	})
}

// block --wait waits for the cluster's online node, and fails naming it
// when it could not apply the block; the text output names the block.
func TestDDoSBlockWait(t *testing.T) {
	f, _ := newFactory(t)
	_, err := f.run("ddos", "block", "198.51.100.7", "203.0.113.0/24", "--ttl", "10m", "--cluster", "fra", "--wait")
	if err == nil || !strings.Contains(err.Error(), "node node_fra1: xdp not attached: the node runs without --xdp-iface") {
		t.Fatalf("block --wait on a node without XDP: %v", err)
	}
	out, err := f.run("ddos", "blocks")
	if err != nil || !strings.Contains(out, "198.51.100.7/32 203.0.113.0/24") || !strings.Contains(out, "1/1") {
		t.Fatalf("blocks: %v\n%s", err, out)
	}
	if _, err := f.run("ddos", "block", "x", "--ttl", "10m"); err == nil || !strings.Contains(err.Error(), "cidrs[0]") {
		t.Fatalf("bad CIDR: %v", err)
	}
	if _, err := f.run("ddos", "block", "192.0.2.1"); err == nil || !strings.Contains(err.Error(), "ttl") {
		t.Fatalf("no --ttl: %v", err)
	}
	if _, err := f.run("ddos", "policy", "set", "--cluster", "fra", "--enable", "--disable"); err == nil {
		t.Fatal("--enable --disable accepted")
	}
	if _, err := f.run("ddos", "policy", "set", "--cluster", "fra", "--deny", "1.2.3.4/40"); err == nil || !strings.Contains(err.Error(), "policy.deny_cidrs[0]") {
		t.Fatalf("bad deny CIDR: %v", err)
	}
	out, err = f.run("ddos", "policy", "show", "--cluster", "fra")
	if err != nil || !strings.Contains(out, "enabled: no") {
		t.Fatalf("show: %v\n%s", err, out)
	}
}
