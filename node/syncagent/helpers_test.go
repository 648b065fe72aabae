package syncagent_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/node/syncagent"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"

	"github.com/strata-edge/strata/node/internal/nettest"
)

const partition = "p1"

// hub is the control plane's NATS: JetStream in domain hub, a leaf port, and
// the sync stream. It can be restarted on the same ports and store.
type hub struct {
	t        testing.TB
	srv      *server.Server
	dir      string
	port     int
	leafPort int
	maxPer   int64
}

func startHub(t testing.TB, maxMsgsPerSubject int64) *hub {
	t.Helper()
	h := &hub{t: t, dir: t.TempDir(), port: -1, leafPort: -1, maxPer: maxMsgsPerSubject}
	if base := os.Getenv("STRATA_BENCH_SYNC_HUBDIR"); base != "" {
		dir, err := os.MkdirTemp(base, "strata-sync-hub-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		h.dir = dir
	}
	h.start()
	t.Cleanup(h.stop)
	nc := h.connect()
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: natsutil.SyncStream, Subjects: []string{natsutil.SyncSubjects},
		Storage: jetstream.FileStorage, MaxMsgsPerSubject: maxMsgsPerSubject,
	}); err != nil {
		t.Fatalf("create sync stream: %v", err)
	}
	return h
}

func (h *hub) start() {
	h.t.Helper()
	s, err := natsutil.StartServer(natsutil.ServerOptions{
		ServerName: "hub", Port: h.port, LeafPort: h.leafPort, StoreDir: h.dir, NoLog: true,
		// Leaf servers must keep dialing the link proxy, not the hub's own
		// leaf URL it would otherwise advertise.
		Configure: func(o *server.Options) { o.LeafNode.NoAdvertise = true },
	})
	if err != nil {
		h.t.Fatalf("start hub: %v", err)
	}
	h.srv = s
	h.port = s.Addr().(*net.TCPAddr).Port
	v, err := s.Varz(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.leafPort = v.LeafNode.Port
}

func (h *hub) stop() {
	if h.srv != nil {
		h.srv.Shutdown()
		h.srv.WaitForShutdown()
		h.srv = nil
	}
}

func (h *hub) restart() {
	h.t.Helper()
	h.stop()
	h.start()
}

func (h *hub) connect() *nats.Conn {
	h.t.Helper()
	nc, err := nats.Connect(h.srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		h.t.Fatalf("connect to hub: %v", err)
	}
	return nc
}

func (h *hub) leafURL() string { return fmt.Sprintf("nats-leaf://127.0.0.1:%d", h.leafPort) }

// publisher plays the config service: it keeps a model of the track's apps
// and publishes one delta per release (Nats-Msg-Id
// "<partition>.<track>.<to_version>") and, unless told otherwise, the full
// snapshot after it.
type publisher struct {
	t       testing.TB
	js      jetstream.JetStream
	obs     jetstream.ObjectStore
	staging bool
	rnd     *rand.Rand

	mu       gosync.Mutex
	version  uint64
	apps     map[string]*configv1.App
	versions []uint64 // every released version, in order
	next     int      // app id counter
}

func newPublisher(t testing.TB, h *hub) *publisher {
	t.Helper()
	nc := h.connect()
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	obs, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: natsutil.SnapshotBucket(partition), Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatalf("create snapshot bucket: %v", err)
	}
	return &publisher{t: t, js: js, obs: obs, rnd: rand.New(rand.NewPCG(1, 2)), apps: map[string]*configv1.App{}}
}

// change returns the next delta of the model (applied to the model) without
// publishing it. Versions grow by 1 to 3 (event-log positions, not counters).
func (p *publisher) change() *syncv1.Delta {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := &syncv1.Delta{PartitionId: partition, Staging: p.staging, FromVersion: p.version, CreatedAt: timestamppb.Now(), Schema: natsutil.SyncSchema}
	p.version += 1 + p.rnd.Uint64N(3)
	d.ToVersion = p.version
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range p.apps {
			if !yield(id) {
				return
			}
		}
	})
	if len(ids) > 3 && p.rnd.IntN(3) == 0 {
		id := ids[p.rnd.IntN(len(ids))]
		delete(p.apps, id)
		d.Deletes = append(d.Deletes, store.Refs("app", id)...)
	}
	var id string
	if len(ids) > 0 && p.rnd.IntN(2) == 0 {
		id = ids[p.rnd.IntN(len(ids))]
	} else {
		p.next++
		id = "app-" + strconv.Itoa(p.next)
	}
	if !slices.ContainsFunc(d.Deletes, func(r *syncv1.ResourceRef) bool { return r.Id == id }) {
		app := &configv1.App{Id: id, Name: id, Domains: []string{id + ".example.com"}, Release: p.version}
		p.apps[id] = app
		d.Upserts = append(d.Upserts, store.Resource(app, p.version))
	}
	p.versions = append(p.versions, p.version)
	return d
}

// release publishes the next delta and the snapshot.
func (p *publisher) release() uint64 {
	p.t.Helper()
	d := p.change()
	p.publish(d, d.ToVersion)
	p.putSnapshot()
	return d.ToVersion
}

// publish sends d with the message id of version msgIDVersion.
func (p *publisher) publish(d *syncv1.Delta, msgIDVersion uint64) {
	p.t.Helper()
	data, err := proto.Marshal(d)
	if err != nil {
		p.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := fmt.Sprintf("%s.%s.%d", partition, natsutil.Track(p.staging), msgIDVersion)
	if _, err := p.js.Publish(ctx, natsutil.DeltaSubject(partition, p.staging), data, jetstream.WithMsgID(id)); err != nil {
		p.t.Fatalf("publish delta %d: %v", d.ToVersion, err)
	}
}

func (p *publisher) snapshot() *syncv1.Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &syncv1.Snapshot{PartitionId: partition, Staging: p.staging, Version: p.version, CreatedAt: timestamppb.Now()}
	for _, app := range p.apps {
		s.Apps = append(s.Apps, app)
	}
	return s
}

func (p *publisher) putSnapshot() {
	p.t.Helper()
	s := p.snapshot()
	data, err := proto.Marshal(store.BundleOf(s))
	if err != nil {
		p.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v := strconv.FormatUint(s.Version, 10)
	if _, err := p.obs.Put(ctx, jetstream.ObjectMeta{
		Name:     natsutil.SnapshotKey(p.staging),
		Metadata: map[string]string{syncagent.SnapshotVersionMeta: v},
	}, bytes.NewReader(data)); err != nil {
		p.t.Fatalf("put snapshot %d: %v", s.Version, err)
	}
}

func (p *publisher) current() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.version
}

func (p *publisher) released() []uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.versions)
}

// content renders the model like render renders a snapshot.
func (p *publisher) content() string { return render(p.snapshot()) }

// render is a canonical text form of a snapshot's apps.
func render(s *syncv1.Snapshot) string {
	var out []string
	for _, a := range s.GetApps() {
		out = append(out, fmt.Sprintf("%s=%s@%d", a.GetId(), strings.Join(a.GetDomains(), ","), a.GetRelease()))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// recorder is the Apply callback: it records every snapshot it is given.
type recorder struct {
	mu    gosync.Mutex
	snaps []*syncv1.Snapshot
	fail  map[uint64]bool // versions to reject
}

func (r *recorder) apply(s *syncv1.Snapshot) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail[s.GetVersion()] {
		return fmt.Errorf("version %d rejected", s.GetVersion())
	}
	r.snaps = append(r.snaps, s)
	return nil
}

func (r *recorder) versions() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]uint64, len(r.snaps))
	for i, s := range r.snaps {
		out[i] = s.GetVersion()
	}
	return out
}

func (r *recorder) last() *syncv1.Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.snaps) == 0 {
		return nil
	}
	return r.snaps[len(r.snaps)-1]
}

// strictlyIncreasing fails unless vs never repeats or goes back.
func strictlyIncreasing(t testing.TB, vs []uint64) {
	t.Helper()
	for i := 1; i < len(vs); i++ {
		if vs[i] <= vs[i-1] {
			t.Fatalf("Apply versions not strictly increasing at %d: %v", i, vs)
		}
	}
}

// link is a TCP proxy standing for the network between a node and the hub's
// leaf port; cut drops every connection and refuses new ones until restore.
type link struct {
	ln     net.Listener
	target string

	mu    gosync.Mutex
	up    bool
	conns []net.Conn
}

func newLink(t testing.TB, target string) *link {
	t.Helper()
	ln := nettest.Listen(t)
	l := &link{ln: ln, target: target, up: true}
	t.Cleanup(func() {
		ln.Close()
		l.cut()
	})
	go l.serve()
	return l
}

func (l *link) url() string { return "nats-leaf://" + l.ln.Addr().String() }

func (l *link) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		up := l.up
		l.mu.Unlock()
		if !up {
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", strings.TrimPrefix(l.target, "nats-leaf://"))
		if err != nil {
			c.Close()
			continue
		}
		l.mu.Lock()
		if !l.up {
			l.mu.Unlock()
			c.Close()
			u.Close()
			continue
		}
		l.conns = append(l.conns, c, u)
		l.mu.Unlock()
		go func() { io.Copy(u, c); u.Close(); c.Close() }()
		go func() { io.Copy(c, u); u.Close(); c.Close() }()
	}
}

func (l *link) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.up = false
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

func (l *link) restore() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.up = true
}

// startLeaf starts a node's embedded leaf server (no JetStream, no client
// port) linked to hubURL, reconnecting every 20 ms.
func startLeaf(t testing.TB, name, hubURL string) *server.Server {
	t.Helper()
	u, err := url.Parse(hubURL)
	if err != nil {
		t.Fatal(err)
	}
	s, err := natsutil.StartServer(natsutil.ServerOptions{
		ServerName: name, NoJetStream: true, DontListen: true, NoLog: true,
		LeafRemotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{u}, Compression: leafCompression()}},
		Configure:   func(o *server.Options) { o.LeafNode.ReconnectInterval = 20 * time.Millisecond },
	})
	if err != nil {
		t.Fatalf("start leaf: %v", err)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// leafCompression is off unless STRATA_BENCH_SYNC_COMPRESSION names a
// nats-server mode (s2_auto is nats-server's default): on loopback it only
// costs CPU, and s2_auto picks "best" when the machine is loaded enough for
// the first RTT sample to exceed 100 ms.
func leafCompression() server.CompressionOpts {
	if m := os.Getenv("STRATA_BENCH_SYNC_COMPRESSION"); m != "" {
		return server.CompressionOpts{Mode: m}
	}
	return server.CompressionOpts{Mode: server.CompressionOff}
}

func leafUp(s *server.Server) func() bool { return func() bool { return s.NumLeafNodes() > 0 } }

// leafLink is the agent's Options.LinkID for a leaf server: the id of its
// current leaf connection.
func leafLink(s *server.Server) func() uint64 {
	return func() uint64 {
		lz, err := s.Leafz(nil)
		if err != nil || len(lz.Leafs) == 0 {
			return 0
		}
		return lz.Leafs[0].ID
	}
}

func waitLeaf(t testing.TB, s *server.Server) {
	t.Helper()
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !leafUp(s)() {
			return fmt.Errorf("leaf link of %s not up", s.Name())
		}
		return nil
	})
}

// node is an agent with its own store, leaf server and link.
type node struct {
	agent *syncagent.Agent
	rec   *recorder
	store *store.Store
	path  string
	leaf  *server.Server
	link  *link
	nc    *nats.Conn
}

type nodeOpts struct {
	dir       string // reuse a data dir (restart)
	heartbeat time.Duration
	staging   bool
	noStart   bool
}

func startNode(t testing.TB, h *hub, id string, o nodeOpts) *node {
	t.Helper()
	n := &node{rec: &recorder{}}
	n.link = newLink(t, h.leafURL())
	n.leaf = startLeaf(t, id, n.link.url())
	n.nc = natstest.Connect(t, n.leaf, nats.CustomInboxPrefix(natsutil.NodeInboxPrefix(id)))
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	n.path = filepath.Join(dir, "node.db")
	st, err := store.Open(n.path)
	if err != nil {
		t.Fatal(err)
	}
	n.store = st
	t.Cleanup(func() { st.Close() })
	n.agent, err = syncagent.New(syncagent.Options{
		NATS: n.nc, PartitionID: partition, Staging: o.staging, NodeID: id, ClusterID: "c1",
		Store: st, Apply: n.rec.apply, LinkID: leafLink(n.leaf), Heartbeat: o.heartbeat,
		Logger: testLogger(id),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !o.noStart {
		n.start(t)
	}
	return n
}

// testLogger discards logs unless STRATA_TEST_LOG is set.
func testLogger(id string) *slog.Logger {
	if os.Getenv("STRATA_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", id)
}

func (n *node) start(t testing.TB) {
	t.Helper()
	if err := n.agent.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(t) })
}

func (n *node) stop(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.agent.Stop(ctx); err != nil {
		t.Errorf("stop agent: %v", err)
		if os.Getenv("STRATA_TEST_LOG") != "" {
			pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		}
	}
}

// waitVersion waits until the node runs version v with the model's content.
func waitVersion(t testing.TB, n *node, p *publisher, v uint64) {
	t.Helper()
	natstest.CheckFor(t, 20*time.Second, 5*time.Millisecond, func() error {
		if got := n.agent.Version(); got != v {
			return fmt.Errorf("node runs version %d, want %d (stats %+v)", got, v, n.agent.Stats())
		}
		return nil
	})
	if p != nil && p.current() == v {
		if got, want := render(n.rec.last()), p.content(); got != want {
			t.Fatalf("node content at version %d:\n got %s\nwant %s", v, got, want)
		}
	}
}

func waitSynced(t testing.TB, a *syncagent.Agent) {
	t.Helper()
	select {
	case <-a.Synced():
	case <-time.After(20 * time.Second):
		t.Fatalf("agent not synced after 20s (stats %+v)", a.Stats())
	}
}
