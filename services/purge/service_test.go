package purge

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	"github.com/strata-edge/strata/services/config"
	"github.com/strata-edge/strata/services/edgesync"
)

// env is a purge service on a real embedded JetStream, with a real config
// service as its topology: partition "default" (nodes n-a, n-b, n-off) and
// partition "eu" (node n-eu), an app "shop" in "default".
type env struct {
	t       *testing.T
	ctx     context.Context
	nc      *nats.Conn
	js      jetstream.JetStream
	store   eventstore.Store
	cfg     *config.Service
	svc     *Service
	clients []purgev1connect.PurgeServiceClient
	nodes   map[string]string // name -> id
	parts   map[string]string // name -> id
	app     string
	clock   *clock
	online  map[string]bool // node id -> online
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func serve(t *testing.T, mux *http.ServeMux) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(apiauth.WithPrincipal(r.Context(), apiauth.Principal{Name: "alice", Kind: "user"})))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, nodes: map[string]string{}, parts: map[string]string{}, online: map[string]bool{},
		clock: &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}}
	e.nc = natstest.Connect(t, natstest.RunServer(t))
	var err error
	if e.js, err = jetstream.New(e.nc); err != nil {
		t.Fatal(err)
	}
	if e.store, err = eventstore.NewJetStream(ctx, e.js, eventstore.JetStreamOptions{}); err != nil {
		t.Fatal(err)
	}
	if e.cfg, err = config.New(config.Options{Store: e.store}); err != nil {
		t.Fatal(err)
	}
	if err := e.cfg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cfg.Stop(context.Background()) })
	if err := e.cfg.EnsureDefaults(ctx); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(e.cfg.Handler())
	srv := serve(t, mux)
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

// start runs a purge service (again) on the env's store.
func (e *env) start() {
	t := e.t
	svc, err := New(Options{Store: e.store, JetStream: e.js, Conn: e.nc, Topology: e.cfg, Now: e.clock.now,
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
	mux := http.NewServeMux()
	mux.Handle(svc.Handler())
	srv := serve(t, mux)
	e.clients = []purgev1connect.PurgeServiceClient{
		purgev1connect.NewPurgeServiceClient(srv.Client(), srv.URL),
		purgev1connect.NewPurgeServiceClient(srv.Client(), srv.URL, connect.WithGRPC()),
	}
}

// ack publishes a node's acknowledgement as the node/purge agent does.
func (e *env) ack(nodeID, purgeID string, objects int64) {
	b, _ := proto.Marshal(&purgev1.PurgeAck{PurgeId: purgeID, NodeId: nodeID, Objects: objects})
	if err := e.nc.Publish(natsutil.PurgeAckSubject(nodeID), b); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) get(id string) *purgev1.Purge {
	r, err := e.clients[0].GetPurge(e.ctx, &purgev1.GetPurgeRequest{Id: id})
	if err != nil {
		e.t.Fatal(err)
	}
	return r.GetPurge()
}

func (e *env) waitDone(id string, done int32) *purgev1.Purge {
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
func (e *env) commands(partition string) []*purgev1.PurgeCommand {
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
	e := newEnv(t)
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
				if ev.Type == TypePurgeAcknowledged {
					msg, err := decode(ev.Type, ev.Data)
					if err != nil {
						return err
					}
					a := msg.(*purgeev.PurgeAcknowledged)
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
	e := newEnv(t)
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

func TestCreatePurgeRejectsBadInput(t *testing.T) {
	app := &purgev1.Scope{Target: &purgev1.Scope_AppId{AppId: "shop"}}
	url := purgev1.PurgeKind_PURGE_KIND_URL
	cond := purgev1.PurgeKind_PURGE_KIND_CONDITION
	tests := []struct {
		name  string
		req   *purgev1.CreatePurgeRequest
		field string
		want  string
	}{
		{"no kind", &purgev1.CreatePurgeRequest{Values: []string{"a.com/x"}, Scope: app}, "kind", "required"},
		{"no values", &purgev1.CreatePurgeRequest{Kind: url, Scope: app}, "values", "at least one"},
		{"too many values", &purgev1.CreatePurgeRequest{Kind: url, Values: slices.Repeat([]string{"a.com/x"}, MaxValues+1), Scope: app}, "values", "at most"},
		{"space in value", &purgev1.CreatePurgeRequest{Kind: url, Values: []string{"a.com/x", "a.com/a b"}, Scope: app}, "values[1]", "space"},
		{"url without host", &purgev1.CreatePurgeRequest{Kind: url, Values: []string{"https:///x"}, Scope: app}, "values[0]", "host"},
		{"ftp url", &purgev1.CreatePurgeRequest{Kind: url, Values: []string{"ftp://a.com/x"}, Scope: app}, "values[0]", "scheme"},
		{"prefix with query", &purgev1.CreatePurgeRequest{Kind: purgev1.PurgeKind_PURGE_KIND_PREFIX, Values: []string{"a.com/x?y=1"}, Scope: app}, "values[0]", "query"},
		{"bad host", &purgev1.CreatePurgeRequest{Kind: purgev1.PurgeKind_PURGE_KIND_HOST, Values: []string{"a..com"}, Scope: app}, "values[0]", "host name"},
		{"condition on url kind", &purgev1.CreatePurgeRequest{Kind: url, Values: []string{"a.com/x"}, Condition: &purgev1.Condition{Host: "a.com"}, Scope: app}, "condition", "only allowed"},
		{"condition missing", &purgev1.CreatePurgeRequest{Kind: cond, Scope: app}, "condition", "required"},
		{"condition values", &purgev1.CreatePurgeRequest{Kind: cond, Values: []string{"x"}, Condition: &purgev1.Condition{Host: "a.com"}, Scope: app}, "values", "not allowed"},
		{"condition no host", &purgev1.CreatePurgeRequest{Kind: cond, Condition: &purgev1.Condition{PathRegex: "^/x"}, Scope: app}, "condition.host", "required"},
		{"bad regex", &purgev1.CreatePurgeRequest{Kind: cond, Condition: &purgev1.Condition{Host: "a.com", PathRegex: "(a"}, Scope: app}, "condition.path_regex", "RE2"},
		{"backreference", &purgev1.CreatePurgeRequest{Kind: cond, Condition: &purgev1.Condition{Host: "a.com", PathRegex: `(a)\1`}, Scope: app}, "condition.path_regex", "RE2"},
		{"huge regex", &purgev1.CreatePurgeRequest{Kind: cond, Condition: &purgev1.Condition{Host: "a.com", PathRegex: "a{1000}b{1000}c{1000}d{1000}e{1000}f{1000}"}, Scope: app}, "condition.path_regex", "complex"},
		{"long regex", &purgev1.CreatePurgeRequest{Kind: cond, Condition: &purgev1.Condition{Host: "a.com", PathRegex: strings.Repeat("a", MaxRegexLen+1)}, Scope: app}, "condition.path_regex", "at most"},
		{"bad header", &purgev1.CreatePurgeRequest{Kind: cond, Condition: &purgev1.Condition{Host: "a.com", Header: "X Bad"}, Scope: app}, "condition.header", "header name"},
		{"header value alone", &purgev1.CreatePurgeRequest{Kind: cond, Condition: &purgev1.Condition{Host: "a.com", HeaderValue: "v"}, Scope: app}, "condition.header_value", "needs"},
		{"no scope", &purgev1.CreatePurgeRequest{Kind: url, Values: []string{"a.com/x"}}, "scope", "required"},
		{"scope all false", &purgev1.CreatePurgeRequest{Kind: url, Values: []string{"a.com/x"}, Scope: &purgev1.Scope{Target: &purgev1.Scope_All{}}}, "scope.all", "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validate(tt.req)
			for _, v := range apierr.Violations(err) {
				if v.Field == tt.field && strings.Contains(v.Reason, tt.want) {
					return
				}
			}
			t.Fatalf("got %v, want a violation on %s containing %q", err, tt.field, tt.want)
		})
	}
	ok := &purgev1.CreatePurgeRequest{Kind: cond, Condition: &purgev1.Condition{Host: "a.com", PathRegex: `^/img/.*\.png$`, Header: "Content-Type", HeaderValue: "image/png"}, Scope: app}
	if err := validate(ok); err != nil {
		t.Fatalf("valid condition purge rejected: %v", err)
	}

	// Through the API: InvalidArgument, nothing recorded, nothing sent.
	e := newEnv(t)
	_, err := e.clients[1].CreatePurge(e.ctx, tests[3].req)
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

func FuzzValidate(f *testing.F) {
	f.Add(int32(1), "https://a.com/x?y=1", "")
	f.Add(int32(5), "", `^/img/(a|b)+\.png$`)
	f.Add(int32(2), "a.com/x", "(")
	f.Fuzz(func(t *testing.T, kind int32, value, regex string) {
		req := &purgev1.CreatePurgeRequest{Kind: purgev1.PurgeKind(kind), Scope: &purgev1.Scope{Target: &purgev1.Scope_All{All: true}}}
		if value != "" {
			req.Values = []string{value}
		}
		if regex != "" {
			req.Condition = &purgev1.Condition{Host: "a.com", PathRegex: regex}
		}
		if err := validate(req); err != nil && len(apierr.Violations(err)) == 0 {
			t.Fatalf("error without field violations: %v", err)
		}
	})
}

// One purge.purge.acknowledged event may carry the acks of several nodes;
// folding it counts each node once, whichever field carried it.
func TestModelFoldsBatchedAcks(t *testing.T) {
	m := newModel()
	fold := func(pos uint64, typ string, msg proto.Message) {
		t.Helper()
		data, err := encode(typ, msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.handle(eventstore.Event{Position: pos, Type: typ, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	fold(1, TypePurgeRequested, &purgeev.PurgeRequested{PurgeId: "prg_1", Command: &purgev1.PurgeCommand{PurgeId: "prg_1"},
		ExpectedNodeIds: []string{"n1", "n2", "n3"}})
	at := timestamp(time.Unix(1_700_000_000, 0))
	fold(2, TypePurgeAcknowledged, &purgeev.PurgeAcknowledged{PurgeId: "prg_1", Ack: &purgev1.NodeAck{NodeId: "n1", AckedAt: at},
		Acks: []*purgev1.NodeAck{{NodeId: "n2", AckedAt: at}, {NodeId: "n1", AckedAt: at}}})
	p, _ := m.view("prg_1")
	if p.GetNodesDone() != 2 || p.GetNodesTotal() != 3 || p.GetTimeToLastAck() != nil {
		t.Fatalf("after a batch of n1, n2 (n1 twice): %d/%d done, time to last ack %v", p.GetNodesDone(), p.GetNodesTotal(), p.GetTimeToLastAck())
	}
	fold(3, TypePurgeAcknowledged, &purgeev.PurgeAcknowledged{PurgeId: "prg_1", Ack: &purgev1.NodeAck{NodeId: "n3", AckedAt: at}})
	if p, _ = m.view("prg_1"); p.GetNodesDone() != 3 || p.GetTimeToLastAck() == nil {
		t.Fatalf("after n3: %d/%d done, time to last ack %v", p.GetNodesDone(), p.GetNodesTotal(), p.GetTimeToLastAck())
	}
}
