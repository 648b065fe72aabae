package stack

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	purgeev "github.com/strata-edge/strata/gen/strata/events/purge/v1"
	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/gen/strata/purge/v1/purgev1connect"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	"github.com/strata-edge/strata/pkg/testenv"
	"github.com/strata-edge/strata/services/config"
	"github.com/strata-edge/strata/services/edgesync"
	purgesvc "github.com/strata-edge/strata/services/purge"
)

// purgeEnv is a purge service on a real embedded JetStream, with a real config
// service as its topology: partition "default" (nodes n-a, n-b, n-off) and
// partition "eu" (node n-eu), an app "shop" in "default".
type purgeEnv struct {
	t       *testing.T
	ctx     context.Context
	nc      *nats.Conn
	js      jetstream.JetStream
	store   eventstore.Store
	cfg     *config.Service
	svc     *purgesvc.Service
	clients []purgev1connect.PurgeServiceClient
	nodes   map[string]string // name -> id
	parts   map[string]string // name -> id
	app     string
	clock   *purgeClock
	online  map[string]bool // node id -> online
}

type purgeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *purgeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func newPurgeEnv(t *testing.T) *purgeEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	e := &purgeEnv{t: t, ctx: ctx, nodes: map[string]string{}, parts: map[string]string{}, online: map[string]bool{},
		clock: &purgeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}}
	e.nc = natstest.Connect(t, natstest.RunServer(t))
	var err error
	if e.js, err = jetstream.New(e.nc); err != nil {
		t.Fatal(err)
	}
	if e.store, err = eventstore.NewJetStream(ctx, e.js, eventstore.JetStreamOptions{}); err != nil {
		t.Fatal(err)
	}
	if e.cfg, err = config.New(config.Options{Store: e.store, Nodes: startNodeCommands(t, ctx, e.store)}); err != nil {
		t.Fatal(err)
	}
	if err := e.cfg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cfg.Stop(context.Background()) })
	if err := e.cfg.EnsureDefaults(ctx); err != nil {
		t.Fatal(err)
	}
	srv := testenv.ServeAs(t, "alice", e.cfg.Handler)
	cfgc := configv1connect.NewConfigServiceClient(srv.Client(), srv.URL)
	eu, err := cfgc.CreatePartition(ctx, &configv1.CreatePartitionRequest{Name: "eu"})
	if err != nil {
		t.Fatal(err)
	}
	e.parts["eu"] = eu.GetPartition().GetId()
	e.parts["default"], _ = e.cfg.ResolvePartition("default")
	if _, err := cfgc.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "eu1", Partition: "eu"}); err != nil {
		t.Fatal(err)
	}
	for name, cluster := range map[string]string{"n-a": "default", "n-b": "default", "n-off": "default", "n-eu": "eu1"} {
		r, err := cfgc.RegisterNode(ctx, &configv1.RegisterNodeRequest{Name: name, Cluster: cluster})
		if err != nil {
			t.Fatal(err)
		}
		e.nodes[name] = r.GetNode().GetId()
		e.online[r.GetNode().GetId()] = name != "n-off"
	}
	app, err := cfgc.CreateApp(ctx, &configv1.CreateAppRequest{Name: "shop", Domains: []string{"shop.example"}})
	if err != nil {
		t.Fatal(err)
	}
	e.app = app.GetApp().GetId()
	e.start()
	return e
}

// start runs a purge service (again) on the purgeEnv's store.
func (e *purgeEnv) start() {
	t := e.t
	svc, err := purgesvc.New(purgesvc.Options{Store: e.store, JetStream: e.js, Conn: e.nc, Topology: e.cfg, Now: e.clock.now,
		Nodes: edgesync.StatusSourceFunc(func() map[string]edgesync.NodeStatus {
			out := map[string]edgesync.NodeStatus{}
			for id, on := range e.online {
				out[id] = edgesync.NodeStatus{Online: on}
			}
			return out
		})})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	e.svc = svc
	srv := testenv.ServeAs(t, "alice", svc.Handler)
	e.clients = []purgev1connect.PurgeServiceClient{
		purgev1connect.NewPurgeServiceClient(srv.Client(), srv.URL),
		purgev1connect.NewPurgeServiceClient(srv.Client(), srv.URL, connect.WithGRPC()),
	}
}

// ack publishes a node's acknowledgement as the node/purge agent does.
func (e *purgeEnv) ack(nodeID, purgeID string, objects int64) {
	b, _ := proto.Marshal(&purgev1.PurgeAck{PurgeId: purgeID, NodeId: nodeID, Objects: objects})
	if err := e.nc.Publish(natsutil.PurgeAckSubject(nodeID), b); err != nil {
		e.t.Fatal(err)
	}
}

func (e *purgeEnv) get(id string) *purgev1.Purge {
	r, err := e.clients[0].GetPurge(e.ctx, &purgev1.GetPurgeRequest{Id: id})
	if err != nil {
		e.t.Fatal(err)
	}
	return r.GetPurge()
}

func (e *purgeEnv) waitDone(id string, done int32) *purgev1.Purge {
	var p *purgev1.Purge
	natstest.CheckFor(e.t, 10*time.Second, 10*time.Millisecond, func() error {
		if p = e.get(id); p.GetNodesDone() != done {
			return errors.New("not yet")
		}
		return nil
	})
	return p
}

// commands reads the purge commands stored for a partition.
func (e *purgeEnv) commands(partition string) []*purgev1.PurgeCommand {
	cons, err := e.js.OrderedConsumer(e.ctx, natsutil.PurgeStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{natsutil.PurgeSubject(partition)}})
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := cons.Info(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*purgev1.PurgeCommand
	for range info.NumPending {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			e.t.Fatal(err)
		}
		var c purgev1.PurgeCommand
		if err := proto.Unmarshal(m.Data(), &c); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, &c)
	}
	return out
}

func TestPurgeWaitsForTheOnlineNodesOfItsScope(t *testing.T) {
	e := newPurgeEnv(t)
	for i, c := range e.clients {
		t.Run([]string{"connect", "grpc"}[i], func(t *testing.T) {
			r, err := c.CreatePurge(e.ctx, &purgev1.CreatePurgeRequest{Kind: purgev1.PurgeKind_PURGE_KIND_URL,
				Values: []string{"https://shop.example/a.css"}, Soft: true, Scope: &purgev1.Scope{Target: &purgev1.Scope_AppId{AppId: "shop"}}})
			if err != nil {
				t.Fatal(err)
			}
			p := r.GetPurge()
			def := e.parts["default"]
			if !slices.Equal(p.GetPartitionIds(), []string{def}) || p.GetNodesTotal() != 2 || p.GetNodesDone() != 0 || p.GetActor() != "alice" {
				t.Fatalf("created purge: partitions %v, %d/%d nodes, actor %q; want [%s], 0/2 (n-off is offline, n-eu elsewhere), alice",
					p.GetPartitionIds(), p.GetNodesDone(), p.GetNodesTotal(), p.GetActor(), def)
			}
			if p.GetTimeToLastAck() != nil {
				t.Fatal("time to last ack set before any ack")
			}
			cmds := e.commands(def)
			last := cmds[len(cmds)-1]
			if last.GetPurgeId() != p.GetId() || !last.GetSoft() || !slices.Equal(last.GetValues(), []string{"https://shop.example/a.css"}) {
				t.Fatalf("command on %s: %v", natsutil.PurgeSubject(def), last)
			}
			if n := len(e.commands(e.parts["eu"])); n != 0 {
				t.Fatalf("%d commands sent to partition eu, outside the scope", n)
			}

			e.ack(e.nodes["n-a"], p.GetId(), 3)
			e.ack(e.nodes["n-eu"], p.GetId(), 0) // not expected: listed, not counted
			p = e.waitDone(p.GetId(), 1)
			if p.GetTimeToLastAck() != nil {
				t.Fatal("time to last ack set at 1/2")
			}
			e.ack(e.nodes["n-b"], p.GetId(), 1)
			e.ack(e.nodes["n-b"], p.GetId(), 1) // a duplicate changes nothing
			p = e.waitDone(p.GetId(), 2)
			var lastAck time.Time
			nodes := map[string]int64{}
			for _, a := range p.GetAcks() {
				nodes[a.GetNodeId()] = a.GetObjects()
				if a.GetNodeId() != e.nodes["n-eu"] && a.GetAckedAt().AsTime().After(lastAck) {
					lastAck = a.GetAckedAt().AsTime()
				}
			}
			if len(nodes) != 3 || nodes[e.nodes["n-a"]] != 3 || nodes[e.nodes["n-b"]] != 1 {
				t.Fatalf("acks %v", nodes)
			}
			want := lastAck.Sub(p.GetCreatedAt().AsTime())
			if got := p.GetTimeToLastAck().AsDuration(); got != want || got <= 0 {
				t.Fatalf("time to last ack %v, want %v", got, want)
			}
		})
	}

	t.Run("progress survives a restart", func(t *testing.T) {
		list, err := e.clients[0].ListPurges(e.ctx, &purgev1.ListPurgesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		before := list.GetPurges()
		// Acks reach the log in batches; wait until they are all there.
		natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			events, err := e.store.ReadAll(e.ctx, 0, 0)
			if err != nil {
				return err
			}
			n := 0
			for _, ev := range events {
				if ev.Type == purgesvc.TypePurgeAcknowledged {
					var a purgeev.PurgeAcknowledged
					if err := proto.Unmarshal(ev.Data, &a); err != nil {
						return err
					}
					n += 1 + len(a.GetAcks()) // ack, then the others of the batch
				}
			}
			if n != 6 {
				return errors.New("acks not all recorded yet")
			}
			return nil
		})
		e.svc.Stop(e.ctx)
		e.start()
		for _, b := range before {
			a := e.get(b.GetId())
			if a.GetNodesDone() != 2 || a.GetNodesTotal() != 2 || len(a.GetAcks()) != 3 ||
				a.GetTimeToLastAck().AsDuration() != b.GetTimeToLastAck().AsDuration() {
				t.Fatalf("after restart: %d/%d, %d acks, %v; before %v", a.GetNodesDone(), a.GetNodesTotal(), len(a.GetAcks()), a.GetTimeToLastAck().AsDuration(), b.GetTimeToLastAck().AsDuration())
			}
		}
	})
}

func TestPurgeScopes(t *testing.T) {
	e := newPurgeEnv(t)
	c := e.clients[0]
	all, err := c.CreatePurge(e.ctx, &purgev1.CreatePurgeRequest{Kind: purgev1.PurgeKind_PURGE_KIND_TAG, Values: []string{"product-1"},
		Scope: &purgev1.Scope{Target: &purgev1.Scope_All{All: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := all.GetPurge().GetPartitionIds(), []string{e.parts["default"], e.parts["eu"]}; !slices.Equal(got, slices.Sorted(slices.Values(want))) || all.GetPurge().GetNodesTotal() != 3 {
		t.Fatalf("scope all: partitions %v, %d nodes", got, all.GetPurge().GetNodesTotal())
	}
	for _, p := range []string{"default", "eu"} {
		if cmds := e.commands(e.parts[p]); len(cmds) != 1 || cmds[0].GetPurgeId() != all.GetPurge().GetId() {
			t.Fatalf("partition %s got %v", p, cmds)
		}
	}
	eu, err := c.CreatePurge(e.ctx, &purgev1.CreatePurgeRequest{Kind: purgev1.PurgeKind_PURGE_KIND_HOST, Values: []string{"shop.example"},
		Scope: &purgev1.Scope{Target: &purgev1.Scope_PartitionId{PartitionId: "eu"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := eu.GetPurge().GetPartitionIds(); !slices.Equal(got, []string{e.parts["eu"]}) || eu.GetPurge().GetNodesTotal() != 1 {
		t.Fatalf("scope partition eu (by name): %v, %d nodes", got, eu.GetPurge().GetNodesTotal())
	}

	list, err := c.ListPurges(e.ctx, &purgev1.ListPurgesRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetPurges()) != 1 || list.GetPurges()[0].GetId() != eu.GetPurge().GetId() || list.GetNextPageToken() == "" {
		t.Fatalf("first page: %v, token %q", list.GetPurges(), list.GetNextPageToken())
	}
	list, err = c.ListPurges(e.ctx, &purgev1.ListPurgesRequest{PageSize: 1, PageToken: list.GetNextPageToken()})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetPurges()) != 1 || list.GetPurges()[0].GetId() != all.GetPurge().GetId() || list.GetNextPageToken() != "" {
		t.Fatalf("second page: %v, token %q", list.GetPurges(), list.GetNextPageToken())
	}

	for name, sc := range map[string]*purgev1.Scope{
		"unknown app":       {Target: &purgev1.Scope_AppId{AppId: "nope"}},
		"unknown partition": {Target: &purgev1.Scope_PartitionId{PartitionId: "nope"}},
	} {
		_, err := c.CreatePurge(e.ctx, &purgev1.CreatePurgeRequest{Kind: purgev1.PurgeKind_PURGE_KIND_TAG, Values: []string{"x"}, Scope: sc})
		if connect.CodeOf(err) != connect.CodeNotFound {
			t.Errorf("%s: %v, want NotFound", name, err)
		}
	}
	if _, err := c.GetPurge(e.ctx, &purgev1.GetPurgeRequest{Id: "prg_nope"}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("get unknown purge: %v", err)
	}
}

// A bad purge through the API: InvalidArgument naming the value, nothing
// recorded, nothing sent (services/purge tests every rule of validate).
func TestPurgeAPIRejectsBadInput(t *testing.T) {
	e := newPurgeEnv(t)
	_, err := e.clients[1].CreatePurge(e.ctx, &purgev1.CreatePurgeRequest{Kind: purgev1.PurgeKind_PURGE_KIND_URL,
		Values: []string{"a.com/x", "a.com/a b"}, Scope: &purgev1.Scope{Target: &purgev1.Scope_AppId{AppId: "shop"}}})
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "values[1]") {
		t.Fatalf("bad purge over gRPC: %v", err)
	}
	if n := len(e.commands(e.parts["default"])); n != 0 {
		t.Fatalf("%d commands sent for a rejected purge", n)
	}
	if list, _ := e.clients[0].ListPurges(e.ctx, &purgev1.ListPurgesRequest{}); len(list.GetPurges()) != 0 {
		t.Fatalf("rejected purge listed")
	}
}
