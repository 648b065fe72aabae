package ddos

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	ddosv1 "github.com/strata-edge/strata/gen/strata/ddos/v1"
	"github.com/strata-edge/strata/gen/strata/ddos/v1/ddosv1connect"
	cfgev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/eventstore/eventstoretest"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	"github.com/strata-edge/strata/pkg/testenv"
	"github.com/strata-edge/strata/services/edgesync"
)

// topology is a fixed Clusters: cluster name -> id, id -> partition, node
// -> cluster.
type topology struct {
	names      map[string]string
	partitions map[string]string
	nodes      map[string]string
}

func (tp topology) ResolveCluster(ref string) (string, string, bool) {
	if id, ok := tp.names[ref]; ok {
		ref = id
	}
	p, ok := tp.partitions[ref]
	return ref, p, ok
}

func (tp topology) NodeCluster(id string) (string, bool) { c, ok := tp.nodes[id]; return c, ok }

func (tp topology) PartitionIDs() (out []string) {
	for _, p := range tp.partitions {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

var testTopology = topology{
	names:      map[string]string{"edge": "cls_1", "other": "cls_2"},
	partitions: map[string]string{"cls_1": "p1", "cls_2": "p2"},
	nodes:      map[string]string{"node_a": "cls_1", "node_b": "cls_1", "node_c": "cls_2"},
}

type env struct {
	svc     *Service
	tracks  *edgesync.Tracks
	store   eventstore.Store
	nc      *nats.Conn
	js      jetstream.JetStream
	ctx     context.Context
	clients []ddosv1connect.DdosServiceClient
}

func newEnv(t *testing.T, online ...string) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	store, nc, js := eventstoretest.JetStream(t)
	tracks := edgesync.New(slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	statuses := edgesync.StatusSourceFunc(func() map[string]edgesync.NodeStatus {
		out := map[string]edgesync.NodeStatus{}
		for _, n := range online {
			out[n] = edgesync.NodeStatus{Online: true}
		}
		return out
	})
	svc, err := New(Options{Store: store, Clusters: testTopology, Sync: tracks, JetStream: js, Conn: nc, Nodes: statuses})
	if err != nil {
		t.Fatal(err)
	}
	go tracks.Follow(ctx, store)
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	srv := testenv.ServeAs(t, "alice", svc.Handler)
	return &env{svc: svc, tracks: tracks, store: store, nc: nc, js: js, ctx: ctx, clients: []ddosv1connect.DdosServiceClient{
		ddosv1connect.NewDdosServiceClient(srv.Client(), srv.URL),
		ddosv1connect.NewDdosServiceClient(srv.Client(), srv.URL, connect.WithGRPC()),
	}}
}

func code(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return 0
}

func dur(s string) *durationpb.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return durationpb.New(d)
}

// synced is the policy of cls_1 in partition p1's track view (nil: none).
func (e *env) synced(t *testing.T, staging bool) *ddosv1.DdosPolicy {
	t.Helper()
	if err := e.tracks.CatchUp(e.ctx, e.store); err != nil {
		t.Fatal(err)
	}
	for _, p := range e.tracks.Snapshot("p1", staging).GetDdosPolicies() {
		if p.GetClusterId() == "cls_1" {
			return p
		}
	}
	return nil
}

func TestPolicyReleasesReachTheTracks(t *testing.T) {
	e := newEnv(t)
	c := e.clients[0]
	got, err := c.GetPolicy(e.ctx, &ddosv1.GetPolicyRequest{Cluster: "edge"})
	if err != nil || got.GetPolicy().GetClusterId() != "cls_1" || got.GetVersion() != 0 || got.GetReleased() != nil {
		t.Fatalf("policy never set: %v, %v", got, err)
	}
	v0 := uint64(0)
	up, err := c.UpdatePolicy(e.ctx, &ddosv1.UpdatePolicyRequest{Cluster: "edge", ExpectedVersion: &v0,
		Policy: &ddosv1.DdosPolicy{Enabled: true, DenyCidrs: []string{"192.0.2.0/24"}, TcpSyn: &ddosv1.RateLimit{PacketsPerSecond: 50}}})
	if err != nil {
		t.Fatal(err)
	}
	if e.synced(t, false) != nil || e.synced(t, true) != nil {
		t.Fatal("an unreleased policy reached the tracks")
	}
	if _, err := c.CreateRelease(e.ctx, &ddosv1.CreateReleaseRequest{Cluster: "cls_1", Note: "one", ExpectedVersion: &up.Version}); err != nil {
		t.Fatal(err)
	}
	for _, staging := range []bool{false, true} {
		if p := e.synced(t, staging); p.GetVersion() != 1 || !slices.Equal(p.GetDenyCidrs(), []string{"192.0.2.0/24"}) || p.GetTcpSyn().GetPacketsPerSecond() != 50 {
			t.Fatalf("staging %v: synced %v", staging, p)
		}
	}
	// A staging release reaches staging nodes only, until promoted.
	if _, err := c.UpdatePolicy(e.ctx, &ddosv1.UpdatePolicyRequest{Cluster: "edge", Policy: &ddosv1.DdosPolicy{Enabled: true, DenyCidrs: []string{"198.51.100.0/24"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateRelease(e.ctx, &ddosv1.CreateReleaseRequest{Cluster: "edge", Staging: true}); err != nil {
		t.Fatal(err)
	}
	if e.synced(t, false).GetVersion() != 1 || e.synced(t, true).GetVersion() != 2 {
		t.Fatalf("stable %v, staging %v", e.synced(t, false), e.synced(t, true))
	}
	if _, err := c.PromoteRelease(e.ctx, &ddosv1.PromoteReleaseRequest{Cluster: "edge"}); err != nil {
		t.Fatal(err)
	}
	if p := e.synced(t, false); p.GetVersion() != 2 || p.GetDenyCidrs()[0] != "198.51.100.0/24" {
		t.Fatalf("promoted: %v", p)
	}
	// Revert to release 1: a new release 3 with release 1's content on both tracks.
	rv, err := c.RevertPolicy(e.ctx, &ddosv1.RevertPolicyRequest{Cluster: "edge", ToRelease: 1, Note: "back"})
	if err != nil {
		t.Fatal(err)
	}
	if rv.GetRelease().GetNumber() != 3 || rv.GetRelease().GetRevertedTo() != 1 {
		t.Fatalf("revert: %v", rv)
	}
	for _, staging := range []bool{false, true} {
		if p := e.synced(t, staging); p.GetVersion() != 3 || !slices.Equal(p.GetDenyCidrs(), []string{"192.0.2.0/24"}) || p.GetTcpSyn().GetPacketsPerSecond() != 50 {
			t.Fatalf("reverted, staging %v: %v", staging, p)
		}
	}
	ls, err := e.clients[1].ListReleases(e.ctx, &ddosv1.ListReleasesRequest{Cluster: "edge"})
	if err != nil || len(ls.GetReleases()) != 3 || ls.GetStableRelease() != 3 || ls.GetReleases()[1].GetPromotedBy() != "alice" {
		t.Fatalf("releases: %v, %v", ls, err)
	}
	// Another cluster's partition carries nothing.
	if got := e.tracks.Snapshot("p2", false).GetDdosPolicies(); len(got) != 0 {
		t.Fatalf("p2 carries %v", got)
	}
}

func TestHandlerErrors(t *testing.T) {
	e := newEnv(t)
	for i, c := range e.clients {
		t.Run([]string{"connect", "grpc"}[i], func(t *testing.T) {
			stale := uint64(12345)
			for _, tc := range []struct {
				name string
				call func() error
				want connect.Code
			}{
				{"unknown cluster", func() error {
					_, err := c.GetPolicy(e.ctx, &ddosv1.GetPolicyRequest{Cluster: "nope"})
					return err
				}, connect.CodeInvalidArgument},
				{"no cluster", func() error {
					_, err := c.UpdatePolicy(e.ctx, &ddosv1.UpdatePolicyRequest{Policy: &ddosv1.DdosPolicy{}})
					return err
				}, connect.CodeInvalidArgument},
				{"bad CIDR", func() error {
					_, err := c.UpdatePolicy(e.ctx, &ddosv1.UpdatePolicyRequest{Cluster: "other", Policy: &ddosv1.DdosPolicy{DenyCidrs: []string{"1.2.3.4/33"}}})
					return err
				}, connect.CodeInvalidArgument},
				{"stale version", func() error {
					_, err := c.UpdatePolicy(e.ctx, &ddosv1.UpdatePolicyRequest{Cluster: "other", ExpectedVersion: &stale, Policy: &ddosv1.DdosPolicy{Enabled: true}})
					return err
				}, connect.CodeAborted},
				{"release of no policy", func() error {
					_, err := c.CreateRelease(e.ctx, &ddosv1.CreateReleaseRequest{Cluster: "other"})
					return err
				}, connect.CodeFailedPrecondition},
				{"unknown block", func() error {
					_, err := c.GetBlock(e.ctx, &ddosv1.GetBlockRequest{Id: "blk_x"})
					return err
				}, connect.CodeNotFound},
				{"block of an unknown cluster", func() error {
					_, err := c.Block(e.ctx, &ddosv1.BlockRequest{Cidrs: []string{"192.0.2.1"}, Ttl: dur("1m"), Scope: &ddosv1.BlockScope{Target: &ddosv1.BlockScope_Cluster{Cluster: "nope"}}})
					return err
				}, connect.CodeInvalidArgument},
				{"block ttl", func() error {
					_, err := c.Block(e.ctx, &ddosv1.BlockRequest{Cidrs: []string{"192.0.2.1"}, Ttl: dur("169h"), Scope: &ddosv1.BlockScope{Target: &ddosv1.BlockScope_All{All: true}}})
					return err
				}, connect.CodeInvalidArgument},
			} {
				if err := tc.call(); code(err) != tc.want {
					t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
				}
			}
		})
	}
}

// A block reaches the command stream of its cluster's partition and is
// done once every online node of the cluster acknowledged it; the first
// ack of a node counts, and a node's error is kept.
func TestBlockAcknowledged(t *testing.T) {
	e := newEnv(t, "node_a", "node_b", "node_c")
	c := e.clients[0]
	res, err := c.Block(e.ctx, &ddosv1.BlockRequest{Cidrs: []string{"203.0.113.5", "192.0.2.0/24"}, Ttl: dur("10m"),
		Scope: &ddosv1.BlockScope{Target: &ddosv1.BlockScope_Cluster{Cluster: "edge"}}})
	if err != nil {
		t.Fatal(err)
	}
	b := res.GetBlock()
	if b.GetNodesTotal() != 2 || b.GetNodesDone() != 0 || b.GetScope().GetCluster() != "cls_1" {
		t.Fatalf("block %v", b)
	}
	// The command, as the nodes of p1 read it.
	cons, err := e.js.OrderedConsumer(e.ctx, natsutil.DdosStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{natsutil.DdosSubject("p1")}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var cmd ddosv1.BlockCommand
	if err := proto.Unmarshal(msg.Data(), &cmd); err != nil {
		t.Fatal(err)
	}
	if cmd.GetBlockId() != b.GetId() || cmd.GetClusterId() != "cls_1" || !slices.Equal(cmd.GetCidrs(), []string{"192.0.2.0/24", "203.0.113.5/32"}) || cmd.GetTtl().AsDuration() != 10*time.Minute {
		t.Fatalf("command %v", &cmd)
	}
	ack := func(node, errText string) {
		t.Helper()
		data, _ := proto.Marshal(&ddosv1.BlockAck{BlockId: b.GetId(), Error: errText})
		if _, err := e.nc.Request(natsutil.DdosAckSubject(node), data, 5*time.Second); err != nil {
			t.Fatalf("ack of %s not answered: %v", node, err)
		}
	}
	ack("node_a", "")
	ack("node_a", "a second ack does not count")
	ack("node_b", "xdp not attached: no --xdp-iface")
	got, err := c.GetBlock(e.ctx, &ddosv1.GetBlockRequest{Id: b.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	g := got.GetBlock()
	if g.GetNodesDone() != 2 || len(g.GetAcks()) != 2 || g.GetAcks()[0].GetError() != "" || g.GetAcks()[1].GetError() != "xdp not attached: no --xdp-iface" {
		t.Fatalf("block after acks: %v", g)
	}
	// The acks are in the log: a second read model folds the same progress.
	other := newProjection(nil)
	go eventstore.Follow(e.ctx, e.store, other.Applied, other.Handle, slog.New(slog.DiscardHandler))
	if err := other.CatchUp(e.ctx, e.store); err != nil {
		t.Fatal(err)
	}
	var replayed *ddosv1.Block
	other.Read(func(st *state) { replayed = st.blocks.view(b.GetId()) })
	if replayed.GetNodesDone() != 2 {
		t.Fatalf("replayed block %v", replayed)
	}
	ls, err := c.ListBlocks(e.ctx, &ddosv1.ListBlocksRequest{})
	if err != nil || len(ls.GetBlocks()) != 1 {
		t.Fatalf("list: %v, %v", ls, err)
	}
}

func TestStatsFromReports(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"node_c", "node_a"} {
		data, _ := proto.Marshal(&ddosv1.DdosReport{NodeId: "lies", ClusterId: "lies", Attached: n == "node_a", Counters: map[string]uint64{"deny": 7}})
		if err := e.nc.Publish(natsutil.DdosReportSubject(n), data); err != nil {
			t.Fatal(err)
		}
	}
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		res, err := e.clients[0].GetStats(e.ctx, &ddosv1.GetStatsRequest{})
		if err != nil {
			return err
		}
		if len(res.GetNodes()) != 2 {
			return errors.New("reports not in yet")
		}
		return nil
	})
	res, err := e.clients[0].GetStats(e.ctx, &ddosv1.GetStatsRequest{Cluster: "edge"})
	if err != nil || len(res.GetNodes()) != 1 || res.GetNodes()[0].GetNodeId() != "node_a" || res.GetNodes()[0].GetClusterId() != "cls_1" || res.GetNodes()[0].GetCounters()["deny"] != 7 {
		t.Fatalf("stats of edge: %v, %v", res, err)
	}
}

// A deleted cluster's policy leaves the tracks and the read model.
func TestClusterDeletedTakesThePolicyOff(t *testing.T) {
	e := newEnv(t)
	c := e.clients[0]
	if _, err := c.UpdatePolicy(e.ctx, &ddosv1.UpdatePolicyRequest{Cluster: "edge", Policy: &ddosv1.DdosPolicy{Enabled: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateRelease(e.ctx, &ddosv1.CreateReleaseRequest{Cluster: "edge"}); err != nil {
		t.Fatal(err)
	}
	if e.synced(t, false) == nil {
		t.Fatal("released policy not on the track")
	}
	evs, err := configevents.Events(eventstore.Metadata{Actor: "test"}, &cfgev.ClusterDeleted{ClusterId: "cls_1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Append(e.ctx, "cluster.cls_1", eventstore.AnyVersion, evs...); err != nil {
		t.Fatal(err)
	}
	if p := e.synced(t, false); p != nil {
		t.Fatalf("stable track still carries %v", p)
	}
	if p := e.synced(t, true); p != nil {
		t.Fatalf("staging track still carries %v", p)
	}
	if err := e.svc.catchUp(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.svc.proj.Read(func(st *state) {
		if _, ok := st.policies["cls_1"]; ok {
			t.Error("the read model keeps the deleted cluster's policy")
		}
	})
}
