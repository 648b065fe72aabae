package syncagent_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/node/syncagent"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

func TestOptionsValidation(t *testing.T) {
	h := startHub(t, 0)
	nc := h.connect()
	defer nc.Close()
	st, err := store.Open(filepath.Join(t.TempDir(), "node.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	valid := func() syncagent.Options {
		return syncagent.Options{NATS: nc, PartitionID: "p1", NodeID: "n1", Store: st, Apply: func(*syncv1.Snapshot) error { return nil }}
	}
	tests := []struct {
		name   string
		change func(*syncagent.Options)
		want   string
	}{
		{"no connection", func(o *syncagent.Options) { o.NATS = nil }, "Options.NATS: required"},
		{"no store", func(o *syncagent.Options) { o.Store = nil }, "Options.Store: required"},
		{"no apply", func(o *syncagent.Options) { o.Apply = nil }, "Options.Apply: required"},
		{"no partition", func(o *syncagent.Options) { o.PartitionID = "" }, "Options.PartitionID: required"},
		{"partition with dot", func(o *syncagent.Options) { o.PartitionID = "p.1" }, `Options.PartitionID "p.1": must not contain "."`},
		{"node with wildcard", func(o *syncagent.Options) { o.NodeID = "n*" }, `Options.NodeID "n*": must not contain "*"`},
		{"negative heartbeat", func(o *syncagent.Options) { o.Heartbeat = -time.Second }, "Options.Heartbeat -1s: must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := valid()
			tc.change(&o)
			_, err := syncagent.New(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := syncagent.New(valid()); err != nil {
		t.Fatalf("valid options: %v", err)
	}
}

// A node joining late takes the snapshot (not the history), then follows
// live deltas one by one.
func TestFreshNodeLoadsSnapshotThenFollows(t *testing.T) {
	h := startHub(t, 0)
	p := newPublisher(t, h)
	for range 5 {
		p.release()
	}
	n := startNode(t, h, "n1", nodeOpts{})
	waitSynced(t, n.agent)
	waitVersion(t, n, p, p.current())
	if vs := n.rec.versions(); len(vs) != 1 {
		t.Fatalf("Apply calls before live deltas = %v, want the snapshot only", vs)
	}
	want := []uint64{p.current()}
	for range 3 {
		v := p.release()
		want = append(want, v)
		waitVersion(t, n, p, v)
	}
	if got := n.rec.versions(); !slices.Equal(got, want) {
		t.Fatalf("Apply versions = %v, want %v", got, want)
	}
	if st := n.agent.Stats(); st.Snapshots != 1 || st.Applied != 3 || st.Skipped != 0 || st.Gaps != 0 {
		t.Fatalf("stats = %+v, want 1 snapshot, 3 deltas, no replayed history", st)
	}
	stored, meta, _ := n.store.Load()
	if meta.Version != p.current() || render(stored) != p.content() {
		t.Fatalf("store holds version %d %q, want %d %q", meta.Version, render(stored), p.current(), p.content())
	}
}

// Static stability: after a restart the node serves its stored snapshot
// before Start returns, with the hub down; when the hub comes back it
// catches up.
func TestRestartServesStoredSnapshotWithHubDown(t *testing.T) {
	h := startHub(t, 0)
	p := newPublisher(t, h)
	dir := t.TempDir()
	n := startNode(t, h, "n1", nodeOpts{dir: dir})
	for range 3 {
		p.release()
	}
	stored := p.current()
	waitVersion(t, n, p, stored)
	n.stop(t)
	n.store.Close()
	h.stop()

	n2 := startNode(t, h, "n1", nodeOpts{dir: dir, noStart: true})
	n2.start(t)
	if got := n2.rec.versions(); !slices.Equal(got, []uint64{stored}) || n2.agent.Version() != stored {
		t.Fatalf("after Start with the hub down: Apply versions %v, Version %d; want the stored %d", got, n2.agent.Version(), stored)
	}
	if got := render(n2.rec.last()); got != p.content() {
		t.Fatalf("served %q, want the stored %q", got, p.content())
	}
	select {
	case <-n2.agent.Synced():
		t.Fatal("Synced closed while the hub is down")
	default:
	}

	h.start()
	waitLeaf(t, n2.leaf)
	v := p.release()
	waitVersion(t, n2, p, v)
	waitSynced(t, n2.agent)

	// The hub restarts while the node runs: it keeps following.
	h.restart()
	waitLeaf(t, n2.leaf)
	v = p.release()
	waitVersion(t, n2, p, v)
	strictlyIncreasing(t, n2.rec.versions())
}

// A delta that does not start at the running version is never applied; the
// node re-syncs from the snapshot once the snapshot bridges the gap.
func TestGapResyncsFromSnapshot(t *testing.T) {
	h := startHub(t, 0)
	p := newPublisher(t, h)
	n := startNode(t, h, "n1", nodeOpts{})
	p.release()
	before := p.release()
	waitVersion(t, n, p, before)
	// How the node got to before (deltas, or a snapshot when it started late
	// on a loaded machine) is not this test's subject: count from here.
	snapshotsBefore := n.agent.Stats().Snapshots

	lost := p.change() // the model moves on, its delta never reaches the stream
	d := p.change()
	p.publish(d, d.ToVersion) // no snapshot yet
	natstest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if n.agent.Stats().Gaps == 0 {
			return errors.New("gap not detected")
		}
		return nil
	})
	if v := n.agent.Version(); v != before {
		t.Fatalf("after the gap the node runs %d, want still %d", v, before)
	}

	p.putSnapshot()
	waitVersion(t, n, p, d.ToVersion)
	vs := n.rec.versions()
	if slices.Contains(vs, lost.ToVersion) || vs[len(vs)-2] != before {
		t.Fatalf("Apply versions = %v: want %d followed directly by the snapshot %d", vs, before, d.ToVersion)
	}
	if st := n.agent.Stats(); st.Snapshots != snapshotsBefore+1 {
		t.Fatalf("stats = %+v, want one re-sync snapshot after the %d before the gap", st, snapshotsBefore)
	}
	// Live deltas resume after the snapshot.
	v := p.release()
	waitVersion(t, n, p, v)
	strictlyIncreasing(t, n.rec.versions())
}

// The same delta twice (another message id) and an old one re-published are
// skipped: each version is applied once.
func TestDuplicateDeltaSkipped(t *testing.T) {
	h := startHub(t, 0)
	p := newPublisher(t, h)
	n := startNode(t, h, "n1", nodeOpts{})
	waitSynced(t, n.agent)
	var first *syncv1.Delta
	for i := range 2 {
		d := p.change()
		if i == 0 {
			first = d
		}
		p.publish(d, d.ToVersion)
		p.putSnapshot()
	}
	d := p.change()
	p.publish(d, d.ToVersion)
	p.publish(d, d.ToVersion+1_000_000)         // duplicate past JetStream's dedup
	p.publish(first, first.ToVersion+2_000_000) // an old delta again
	last := p.release()
	waitVersion(t, n, p, last)
	want := append([]uint64{0}, p.released()...)
	if got := n.rec.versions(); !slices.Equal(got, want) {
		t.Fatalf("Apply versions = %v, want %v", got, want)
	}
	if st := n.agent.Stats(); st.Skipped != 2 || st.Gaps != 0 {
		t.Fatalf("stats = %+v, want 2 skipped, no gap", st)
	}
}

// A node offline while 50 releases happen applies all 50 deltas, in order,
// when its link comes back.
func TestOfflineNodeConvergesOnReconnect(t *testing.T) {
	h := startHub(t, 0)
	p := newPublisher(t, h)
	n := startNode(t, h, "n1", nodeOpts{})
	waitSynced(t, n.agent)
	waitVersion(t, n, p, p.release())
	n.link.cut()
	natstest.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if leafUp(n.leaf)() {
			return errors.New("leaf still up")
		}
		return nil
	})
	for range 50 {
		p.release()
	}
	n.link.restore()
	waitVersion(t, n, p, p.current())
	want := append([]uint64{0}, p.released()...)
	if got := n.rec.versions(); !slices.Equal(got, want) {
		t.Fatalf("Apply versions = %v, want %v", got, want)
	}
}

// 100 leaf link drops with releases while down and while up: every version
// is applied exactly once, in order.
func TestLinkFlapping(t *testing.T) {
	h := startHub(t, 0)
	p := newPublisher(t, h)
	n := startNode(t, h, "n1", nodeOpts{})
	waitSynced(t, n.agent)
	for i := range 100 {
		n.link.cut()
		natstest.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
			if leafUp(n.leaf)() {
				return errors.New("leaf still up")
			}
			return nil
		})
		for range i % 3 {
			p.release()
		}
		n.link.restore()
		waitLeaf(t, n.leaf)
		if i%2 == 0 {
			p.release()
		}
		if i%4 == 0 {
			waitVersion(t, n, p, p.current())
		}
	}
	waitVersion(t, n, p, p.current())
	want := append([]uint64{0}, p.released()...)
	if got := n.rec.versions(); !slices.Equal(got, want) {
		t.Fatalf("Apply versions (%d) = %v\nwant (%d) %v", len(got), got, len(want), want)
	}
	t.Logf("%d releases over 100 link drops, stats %+v", len(want)-1, n.agent.Stats())
}

// When the stream no longer reaches back to the node's version (few deltas
// kept per subject), the node loads the snapshot, then follows deltas again.
func TestShortHistoryUsesSnapshot(t *testing.T) {
	h := startHub(t, 3)
	p := newPublisher(t, h)
	dir := t.TempDir()
	n := startNode(t, h, "n1", nodeOpts{dir: dir})
	waitSynced(t, n.agent)
	waitVersion(t, n, p, p.release())
	n.link.cut()
	for range 10 {
		p.release()
	}
	n.link.restore()
	waitVersion(t, n, p, p.current())
	if st := n.agent.Stats(); st.Snapshots != 2 || st.Gaps != 1 {
		t.Fatalf("stats = %+v, want one gap and the re-sync snapshot", st)
	}
	for range 2 {
		waitVersion(t, n, p, p.release())
	}
	if st := n.agent.Stats(); st.Applied != 3 {
		t.Fatalf("stats = %+v, want 3 deltas applied (1 before, 2 after the re-sync)", st)
	}
	strictlyIncreasing(t, n.rec.versions())

	// Same after a restart: the stored version is older than the history.
	n.stop(t)
	n.store.Close()
	for range 10 {
		p.release()
	}
	n2 := startNode(t, h, "n1", nodeOpts{dir: dir})
	waitVersion(t, n2, p, p.current())
	if st := n2.agent.Stats(); st.Snapshots != 1 {
		t.Fatalf("after restart: stats = %+v, want one snapshot", st)
	}
}

// When every delta the node missed is gone from the stream (aged out or
// purged), only the snapshot knows: the node checks it on reconnect.
func TestPurgedHistoryUsesSnapshot(t *testing.T) {
	h := startHub(t, 0)
	p := newPublisher(t, h)
	n := startNode(t, h, "n1", nodeOpts{})
	waitVersion(t, n, p, p.release())
	n.link.cut()
	for range 3 {
		p.release()
	}
	stream, err := p.js.Stream(context.Background(), natsutil.SyncStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Purge(context.Background(), jetstream.WithPurgeSubject(natsutil.DeltaSubject(partition, false))); err != nil {
		t.Fatal(err)
	}
	n.link.restore()
	waitVersion(t, n, p, p.current())
	if st := n.agent.Stats(); st.Snapshots != 2 || st.Gaps != 0 {
		t.Fatalf("stats = %+v, want the snapshot without a gap", st)
	}
	waitVersion(t, n, p, p.release())
}

// A staging node follows the staging track only.
func TestStagingTrack(t *testing.T) {
	h := startHub(t, 0)
	stable := newPublisher(t, h)
	staging := newPublisher(t, h)
	staging.staging = true
	n := startNode(t, h, "n1", nodeOpts{staging: true})
	waitSynced(t, n.agent)
	stable.release()
	v := staging.release()
	stable.release()
	waitVersion(t, n, staging, v)
	if got := n.rec.versions(); !slices.Equal(got, []uint64{0, v}) {
		t.Fatalf("Apply versions = %v, want [0 %d] (staging only)", got, v)
	}
}

// The node reports the version it runs; a config the proxy rejects leaves
// the previous one running and the node unhealthy until the next one works.
func TestHeartbeatAndRejectedConfig(t *testing.T) {
	h := startHub(t, 0)
	p := newPublisher(t, h)
	n := startNode(t, h, "n1", nodeOpts{heartbeat: 20 * time.Millisecond, noStart: true})
	statuses := watchStatus(t, h, "n1")
	n.start(t)
	waitStatus := func(pred func(*syncv1.NodeStatus) error) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		var last error
		for {
			select {
			case st := <-statuses:
				if last = pred(st); last == nil {
					return
				}
			case <-deadline:
				t.Fatalf("no matching status: %v", last)
			}
		}
	}
	good := p.release()
	waitStatus(func(st *syncv1.NodeStatus) error {
		if st.GetVersion() != good || !st.GetHealthy() || st.GetNodeId() != "n1" || st.GetClusterId() != "c1" ||
			st.GetPartitionId() != partition || st.GetAppliedAt() == nil {
			return fmt.Errorf("status %v", st)
		}
		return nil
	})

	n.rec.mu.Lock()
	n.rec.fail = map[uint64]bool{}
	n.rec.mu.Unlock()
	d := p.change()
	n.rec.mu.Lock()
	n.rec.fail[d.ToVersion] = true
	n.rec.mu.Unlock()
	p.publish(d, d.ToVersion)
	waitStatus(func(st *syncv1.NodeStatus) error {
		if st.GetVersion() != good || st.GetHealthy() {
			return fmt.Errorf("status %v, want version %d unhealthy", st, good)
		}
		return nil
	})
	if v := n.agent.Version(); v != good {
		t.Fatalf("Version = %d after a rejected config, want %d", v, good)
	}
	fixed := p.release()
	waitVersion(t, n, p, fixed)
	waitStatus(func(st *syncv1.NodeStatus) error {
		if st.GetVersion() != fixed || !st.GetHealthy() {
			return fmt.Errorf("status %v, want version %d healthy", st, fixed)
		}
		return nil
	})
}

// A delta or snapshot of a newer sync schema is refused: the node keeps
// running its version and its status says to upgrade it (strata node list
// shows apply_error).
func TestNewerSchemaRefusedAndReported(t *testing.T) {
	h := startHub(t, 0)
	p := newPublisher(t, h)
	n := startNode(t, h, "n1", nodeOpts{heartbeat: 20 * time.Millisecond, noStart: true})
	statuses := watchStatus(t, h, "n1")
	n.start(t)
	good := p.release()
	waitVersion(t, n, p, good)

	d := p.change()
	d.Schema = natsutil.SyncSchema + 1
	p.publish(d, d.ToVersion)
	want := fmt.Sprintf("sync schema %d is newer than this node understands (%d): upgrade the node", natsutil.SyncSchema+1, natsutil.SyncSchema)
	deadline := time.After(10 * time.Second)
	for {
		var st *syncv1.NodeStatus
		select {
		case st = <-statuses:
		case <-deadline:
			t.Fatalf("no status saying %q", want)
		}
		if strings.Contains(st.GetApplyError(), want) {
			if st.GetVersion() != good || st.GetHealthy() {
				t.Fatalf("status %v, want version %d unhealthy", st, good)
			}
			break
		}
	}
	if v := n.agent.Version(); v != good {
		t.Fatalf("Version = %d after a refused delta, want %d", v, good)
	}
	if snap, _, _ := n.store.Load(); snap.GetVersion() != good {
		t.Fatalf("store holds version %d, want %d", snap.GetVersion(), good)
	}
}

// watchStatus collects the heartbeats of node id.
func watchStatus(t *testing.T, h *hub, id string) <-chan *syncv1.NodeStatus {
	t.Helper()
	obs := h.connect()
	t.Cleanup(obs.Close)
	statuses := make(chan *syncv1.NodeStatus, 1024)
	if _, err := obs.Subscribe(natsutil.NodeStatusSubject(id), func(m *nats.Msg) {
		st := &syncv1.NodeStatus{}
		if err := proto.Unmarshal(m.Data, st); err == nil {
			statuses <- st
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := obs.Flush(); err != nil {
		t.Fatal(err)
	}
	return statuses
}

// TestStopSaysGoodbye: a clean stop ends with one NodeStatus that says the
// node is leaving (unhealthy, DNS off), sent as a request the control plane
// answers, and no heartbeat after it (issue 11 defect 9).
func TestStopSaysGoodbye(t *testing.T) {
	h := startHub(t, 0)
	n := startNode(t, h, "n1", nodeOpts{heartbeat: 20 * time.Millisecond, noStart: true})
	obs := h.connect()
	t.Cleanup(obs.Close)
	statuses := make(chan *syncv1.NodeStatus, 1024)
	if _, err := obs.Subscribe(natsutil.NodeStatusSubject("n1"), func(m *nats.Msg) {
		st := &syncv1.NodeStatus{}
		if err := proto.Unmarshal(m.Data, st); err != nil {
			return
		}
		if st.GetLeaving() {
			if m.Reply == "" {
				t.Error("goodbye sent without a reply subject: the node cannot know it was heard")
			}
			m.Respond(nil)
		}
		statuses <- st
	}); err != nil {
		t.Fatal(err)
	}
	if err := obs.Flush(); err != nil {
		t.Fatal(err)
	}
	n.start(t)
	select {
	case st := <-statuses:
		if st.GetLeaving() {
			t.Fatalf("first heartbeat says leaving: %v", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no heartbeat")
	}
	n.stop(t)
	var bye *syncv1.NodeStatus
	for bye == nil {
		select {
		case st := <-statuses:
			if st.GetLeaving() {
				bye = st
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no goodbye after Stop")
		}
	}
	if bye.GetHealthy() || bye.GetDns() != configv1.NodeDnsState_NODE_DNS_STATE_OFF || bye.GetNodeId() != "n1" {
		t.Fatalf("goodbye = %v, want node n1 unhealthy with DNS off", bye)
	}
	// Nothing after it: five heartbeat intervals of silence.
	select {
	case st := <-statuses:
		t.Fatalf("status after the goodbye: %v", st)
	case <-time.After(100 * time.Millisecond):
	}
	n.stop(t) // a second Stop says nothing more
	select {
	case st := <-statuses:
		t.Fatalf("second Stop sent %v", st)
	case <-time.After(50 * time.Millisecond):
	}
}
