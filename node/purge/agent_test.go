package purge

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

var policy = &cache.Policy{TTLByStatus: map[int]time.Duration{200: time.Hour}}

func get(t *testing.T, c *cache.Cache, path string) string {
	t.Helper()
	r := &cache.Request{Method: "GET", Host: "a.com", Path: path, Header: http.Header{}.Get}
	res, err := c.Do(context.Background(), r, policy, func(context.Context, http.Header) (*cache.Response, error) {
		return &cache.Response{Status: 200, Header: http.Header{"Cache-Tag": {"t" + path}}, Body: []byte(path)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.CacheStatus
}

func setup(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	s := natstest.RunServer(t)
	nc := natstest.Connect(t, s)
	js, _ := jetstream.New(nc)
	_, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: natsutil.PurgeStream, Subjects: []string{natsutil.PurgeSubjects}})
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func publish(t *testing.T, js jetstream.JetStream, id string, kind purgev1.PurgeKind, values ...string) {
	b, _ := proto.Marshal(&purgev1.PurgeCommand{PurgeId: id, Kind: kind, Values: values})
	if _, err := js.Publish(context.Background(), natsutil.PurgeSubject("p1"), b); err != nil {
		t.Fatal(err)
	}
}

func openCache(t *testing.T, dir string) *cache.Cache {
	c, err := cache.New(cache.Options{Open: func(ev cache.EvictFunc) (cache.Store, error) { return cache.OpenDisk(dir, 1<<20, ev) }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func startAgent(t *testing.T, nc *nats.Conn, c *cache.Cache, pos string) *Agent {
	a, err := New(Options{NATS: nc, NodeID: "n1", PartitionID: "p1", Cache: c, PositionPath: pos})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAgentAppliesAndAcks(t *testing.T) {
	nc, js := setup(t)
	acks := make(chan *purgev1.PurgeAck, 10)
	sub, _ := nc.Subscribe(natsutil.PurgeAckAll, func(m *nats.Msg) {
		var a purgev1.PurgeAck
		if proto.Unmarshal(m.Data, &a) == nil {
			acks <- &a
		}
		_ = m.Respond(nil) // as the purge service does
	})
	defer sub.Unsubscribe()
	dir := t.TempDir()
	c := openCache(t, filepath.Join(dir, "cache"))
	a := startAgent(t, nc, c, filepath.Join(dir, "purge.db"))
	defer a.Stop(context.Background())
	select {
	case <-a.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("agent never ready on an empty stream")
	}
	for _, p := range []string{"/a", "/b"} {
		get(t, c, p)
		if s := get(t, c, p); s != cache.StatusHit {
			t.Fatalf("%s: %s before purge", p, s)
		}
	}
	publish(t, js, "pg1", purgev1.PurgeKind_PURGE_KIND_TAG, "t/a")
	select {
	case ack := <-acks:
		if ack.PurgeId != "pg1" || ack.NodeId != "n1" || ack.Objects != 1 || ack.Error != "" {
			t.Fatalf("ack %v", ack)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ack")
	}
	if s := get(t, c, "/a"); s != cache.StatusMiss {
		t.Fatalf("/a after purge: %s", s)
	}
	if s := get(t, c, "/b"); s != cache.StatusHit {
		t.Fatalf("/b after purge of /a: %s", s)
	}
}

func TestOfflineNodeAppliesMissedPurgesBeforeServing(t *testing.T) {
	nc, js := setup(t)
	dir := t.TempDir()
	cdir, pos := filepath.Join(dir, "cache"), filepath.Join(dir, "purge.db")
	c := openCache(t, cdir)
	a := startAgent(t, nc, c, pos)
	<-a.Ready()
	for i := range 3 {
		get(t, c, fmt.Sprint("/o", i))
	}
	publish(t, js, "before", purgev1.PurgeKind_PURGE_KIND_URL, "a.com/o0")
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if a.Applied() != 1 {
			return fmt.Errorf("applied %d", a.Applied())
		}
		return nil
	})
	get(t, c, "/o0") // cached again
	a.Stop(context.Background())
	c.Close()

	// While the node is down, two purges happen.
	publish(t, js, "missed1", purgev1.PurgeKind_PURGE_KIND_URL, "a.com/o0")
	publish(t, js, "missed2", purgev1.PurgeKind_PURGE_KIND_PREFIX, "a.com/o1")

	c2 := openCache(t, cdir)
	if c2.Len() != 3 {
		t.Fatalf("restart lost objects: %d", c2.Len())
	}
	a2, err := New(Options{NATS: nc, NodeID: "n1", PartitionID: "p1", Cache: c2, PositionPath: pos})
	if err != nil {
		t.Fatal(err)
	}
	if s := get(t, c2, "/o2"); s != cache.StatusBypass {
		t.Fatalf("served %s from cache before catching up", s)
	}
	a2.Start(context.Background())
	defer a2.Stop(context.Background())
	select {
	case <-a2.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("never caught up")
	}
	if a2.Applied() != 3 {
		t.Fatalf("applied up to %d, want 3", a2.Applied())
	}
	for path, want := range map[string]string{"/o0": cache.StatusMiss, "/o1": cache.StatusMiss, "/o2": cache.StatusHit} {
		if s := get(t, c2, path); s != want {
			t.Errorf("%s: %s, want %s", path, s, want)
		}
	}
}

// crash ends a without saving its position, as a killed process would.
func crash(a *Agent) {
	a.cancel()
	<-a.done
	a.db.Close()
}

func (a *Agent) savedPosition() uint64 {
	a.saveMu.Lock()
	defer a.saveMu.Unlock()
	return a.saved
}

// The position is saved behind the acks; a node that crashes before saving
// replays the purges after its saved position (acknowledging them again),
// holding its cache until then: a purge is applied twice, never skipped.
func TestCrashReplaysPurgesAfterSavedPosition(t *testing.T) {
	nc, js := setup(t)
	acks := make(chan string, 20)
	sub, _ := nc.Subscribe(natsutil.PurgeAckAll, func(m *nats.Msg) {
		var a purgev1.PurgeAck
		if proto.Unmarshal(m.Data, &a) == nil {
			acks <- a.PurgeId
		}
		_ = m.Respond(nil)
	})
	defer sub.Unsubscribe()
	dir := t.TempDir()
	cdir, pos := filepath.Join(dir, "cache"), filepath.Join(dir, "purge.db")
	c := openCache(t, cdir)
	a, err := New(Options{NATS: nc, NodeID: "n1", PartitionID: "p1", Cache: c, PositionPath: pos, SaveInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	a.Start(context.Background())
	<-a.Ready()
	for i := range 3 {
		get(t, c, fmt.Sprint("/o", i))
	}
	waitAcks := func(want ...string) { // in any order: acks go out in parallel
		t.Helper()
		left := map[string]bool{}
		for _, w := range want {
			left[w] = true
		}
		for len(left) > 0 {
			select {
			case id := <-acks:
				if !left[id] {
					t.Fatalf("ack for %s, want one of %v", id, left)
				}
				delete(left, id)
			case <-time.After(5 * time.Second):
				t.Fatalf("no ack for %v", left)
			}
		}
	}
	publish(t, js, "p1", purgev1.PurgeKind_PURGE_KIND_URL, "a.com/o0")
	waitAcks("p1")
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if s := a.savedPosition(); s != 1 {
			return fmt.Errorf("saved position %d, want 1", s)
		}
		return nil
	})
	// Within the save interval: applied and acknowledged, not saved.
	publish(t, js, "p2", purgev1.PurgeKind_PURGE_KIND_URL, "a.com/o1")
	publish(t, js, "p3", purgev1.PurgeKind_PURGE_KIND_TAG, "t/o0")
	waitAcks("p2", "p3")
	if a.Applied() != 3 || a.savedPosition() != 1 {
		t.Fatalf("applied %d, saved %d; want 3, 1", a.Applied(), a.savedPosition())
	}
	crash(a)
	c.Close()

	c2 := openCache(t, cdir)
	defer c2.Close()
	a2, err := New(Options{NATS: nc, NodeID: "n1", PartitionID: "p1", Cache: c2, PositionPath: pos})
	if err != nil {
		t.Fatal(err)
	}
	if a2.Applied() != 1 {
		t.Fatalf("position after the crash %d, want 1 (the last saved)", a2.Applied())
	}
	if s := get(t, c2, "/o2"); s != cache.StatusBypass {
		t.Fatalf("served %s from cache before replaying", s)
	}
	a2.Start(context.Background())
	defer a2.Stop(context.Background())
	waitAcks("p2", "p3") // replayed
	<-a2.Ready()
	for path, want := range map[string]string{"/o0": cache.StatusMiss, "/o1": cache.StatusMiss, "/o2": cache.StatusHit} {
		if s := get(t, c2, path); s != want {
			t.Errorf("%s: %s, want %s", path, s, want)
		}
	}
}

// An ack nobody answers (lost with the link, or the purge service away) is
// sent again until it is answered, and the saved position stays before its
// purge until then, so that a restart acknowledges it again.
func TestUnansweredAckIsSentAgain(t *testing.T) {
	nc, js := setup(t)
	var answer atomic.Bool
	acks := make(chan string, 100)
	sub, _ := nc.Subscribe(natsutil.PurgeAckAll, func(m *nats.Msg) {
		var a purgev1.PurgeAck
		if proto.Unmarshal(m.Data, &a) == nil {
			acks <- a.PurgeId
		}
		if answer.Load() {
			_ = m.Respond(nil)
		}
	})
	defer sub.Unsubscribe()
	dir := t.TempDir()
	c := openCache(t, filepath.Join(dir, "cache"))
	a, err := New(Options{NATS: nc, NodeID: "n1", PartitionID: "p1", Cache: c,
		PositionPath: filepath.Join(dir, "purge.db"), SaveInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a.Start(context.Background())
	defer a.Stop(context.Background())
	<-a.Ready()
	publish(t, js, "p1", purgev1.PurgeKind_PURGE_KIND_URL, "a.com/o0")
	for range 2 { // the first ack and at least one resend
		select {
		case id := <-acks:
			if id != "p1" {
				t.Fatalf("ack for %s, want p1", id)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("unanswered ack not sent again")
		}
	}
	if a.Applied() != 1 || a.savedPosition() != 0 {
		t.Fatalf("applied %d, saved %d; want 1, 0 while the ack is unanswered", a.Applied(), a.savedPosition())
	}
	answer.Store(true)
	natstest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if s := a.savedPosition(); s != 1 {
			return fmt.Errorf("saved position %d, want 1 once the ack is answered", s)
		}
		return nil
	})
}

// consumerNames lists the purge stream's consumers.
func consumerNames(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	st, err := js.Stream(context.Background(), natsutil.PurgeStream)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	l := st.ConsumerNames(context.Background())
	for n := range l.Name() {
		names = append(names, n)
	}
	return names
}

// A new leaf link restarts the purge consumer (a new one on the hub, from the
// position after the last applied purge), and purges go on arriving: the
// ordered consumer of the old link could stay stalled after the link had
// dropped packets, and no purge reached the node any more.
func TestNewLinkRestartsTheConsumer(t *testing.T) {
	nc, js := setup(t)
	sub, _ := nc.Subscribe(natsutil.PurgeAckAll, func(m *nats.Msg) { _ = m.Respond(nil) })
	defer sub.Unsubscribe()
	var link atomic.Uint64
	link.Store(1)
	dir := t.TempDir()
	c := openCache(t, filepath.Join(dir, "cache"))
	a, err := New(Options{NATS: nc, NodeID: "n1", PartitionID: "p1", Cache: c, PositionPath: filepath.Join(dir, "purge.db"), LinkID: link.Load})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer a.Stop(context.Background())
	<-a.Ready()
	publish(t, js, "pg1", purgev1.PurgeKind_PURGE_KIND_TAG, "t/a")
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if a.Applied() != 1 {
			return fmt.Errorf("applied %d", a.Applied())
		}
		return nil
	})
	var before []string
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if before = consumerNames(t, js); len(before) != 1 {
			return fmt.Errorf("consumers %v", before)
		}
		return nil
	})
	link.Store(2)
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		now := consumerNames(t, js)
		for _, n := range now {
			if n != before[0] {
				return nil
			}
		}
		return fmt.Errorf("consumers %v, still the one of the old link %s", now, before[0])
	})
	get(t, c, "/b")
	publish(t, js, "pg2", purgev1.PurgeKind_PURGE_KIND_TAG, "t/b")
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if a.Applied() != 2 {
			return fmt.Errorf("applied %d after the new link", a.Applied())
		}
		return nil
	})
	if s := get(t, c, "/b"); s != cache.StatusMiss {
		t.Fatalf("/b after its purge on the new link: %s", s)
	}
}
