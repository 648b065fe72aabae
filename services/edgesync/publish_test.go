package edgesync

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// startPublisher runs a Publisher of cluster tracks on an embedded hub;
// tune, when set, adjusts it before it runs.
func startPublisher(t *testing.T, tune func(*Publisher)) (*Tracks, *Publisher, jetstream.JetStream) {
	t.Helper()
	js, err := jetstream.New(natstest.Connect(t, natstest.RunServer(t)))
	if err != nil {
		t.Fatal(err)
	}
	ts := New(slog.New(slog.DiscardHandler), true, clusters())
	p := NewPublisher(js, ts, nil, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	if err := p.EnsureStream(ctx); err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(p)
	}
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ts, p, js
}

// bigCluster changes cluster c1 of partition eu to one of size bytes.
func bigCluster(size int, fill string) Change {
	return Change{Kind: "cluster", ID: "c1", Values: map[string]proto.Message{
		"eu": &configv1.Cluster{Id: "c1", Name: strings.Repeat(fill, size)}}}
}

func waitIdle(t *testing.T, p *Publisher) {
	t.Helper()
	natstest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if !p.Idle() {
			return context.DeadlineExceeded
		}
		return nil
	})
}

// TestLargeDeltaByReference (issue 11.1): a delta over NATS's max payload
// goes to the partition's bucket and the stream gets a small delta naming
// it; the bucket keeps at most maxDeltaObjects of them per track.
func TestLargeDeltaByReference(t *testing.T) {
	ts, p, js := startPublisher(t, nil)
	ctx := context.Background()
	ts.Apply(5, time.Now(), bigCluster(2<<20, "x"))
	waitIdle(t, p)

	stream, _ := js.Stream(ctx, natsutil.SyncStream)
	msg, err := stream.GetLastMsgForSubject(ctx, natsutil.DeltaSubject("eu", false))
	if err != nil {
		t.Fatal(err)
	}
	small := &syncv1.Delta{}
	if err := proto.Unmarshal(msg.Data, small); err != nil {
		t.Fatal(err)
	}
	if len(msg.Data) > 1024 || small.Object != natsutil.DeltaObjectKey(false, 5) || small.ToVersion != 5 || len(small.Upserts) != 0 {
		t.Fatalf("published %d bytes: %v, want a small reference to %s", len(msg.Data), small, natsutil.DeltaObjectKey(false, 5))
	}
	obs, err := js.ObjectStore(ctx, natsutil.SnapshotBucket("eu"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := obs.GetBytes(ctx, small.Object)
	if err != nil {
		t.Fatal(err)
	}
	full := &syncv1.Delta{}
	if err := proto.Unmarshal(data, full); err != nil || len(full.Upserts) != 1 || len(full.Upserts[0].Payload) < 2<<20 || full.FromVersion != 0 {
		t.Fatalf("stored delta: %v (%d upserts)", err, len(full.Upserts))
	}

	// Superseded ones are deleted: the bucket stays bounded.
	for i := range maxDeltaObjects + 4 {
		ts.Apply(uint64(10+i), time.Now(), bigCluster(300<<10, strconv.Itoa(i%10)))
	}
	waitIdle(t, p)
	list, err := obs.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var deltas []string
	for _, o := range list {
		if strings.HasPrefix(o.Name, "delta.") {
			deltas = append(deltas, o.Name)
		}
	}
	if len(deltas) != maxDeltaObjects {
		t.Fatalf("bucket holds %d referenced deltas %v, want the newest %d", len(deltas), deltas, maxDeltaObjects)
	}
}

// TestPublishGivesUp (issue 11.1): a delta the stream refuses every time
// is given up after a bounded number of attempts, the error is reported
// for the track, and the track moves on: the snapshot is stored, and a
// later version is published after it.
func TestPublishGivesUp(t *testing.T) {
	ts, p, js := startPublisher(t, func(p *Publisher) { p.attempts = 2 })
	ctx := context.Background()
	ts.Apply(3, time.Now(), bigCluster(10, "a"))
	waitIdle(t, p)
	// From now on the stream refuses every delta.
	stream, _ := js.Stream(ctx, natsutil.SyncStream)
	cfg := stream.CachedInfo().Config
	cfg.MaxMsgSize = 32
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	k := Key{Partition: "eu"}
	ts.Apply(7, time.Now(), bigCluster(10, "b"))
	waitIdle(t, p)
	if e := p.Err(k); !strings.Contains(e, "delta 7 given up after 2 attempts") {
		t.Fatalf("Err = %q, want delta 7 given up", e)
	}
	obs, _ := js.ObjectStore(ctx, natsutil.SnapshotBucket("eu"))
	info, err := obs.GetInfo(ctx, natsutil.SnapshotKey(false))
	if err != nil || info.Metadata[versionKey] != "7" {
		t.Fatalf("snapshot %v %v, want version 7 stored after giving up", info, err)
	}

	cfg.MaxMsgSize = 0
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	ts.Apply(9, time.Now(), bigCluster(10, "c"))
	waitIdle(t, p)
	msg, err := stream.GetLastMsgForSubject(ctx, natsutil.DeltaSubject("eu", false))
	if err != nil {
		t.Fatal(err)
	}
	d := &syncv1.Delta{}
	if err := proto.Unmarshal(msg.Data, d); err != nil || d.FromVersion != 7 || d.ToVersion != 9 {
		t.Fatalf("newest delta %v %v, want 7 -> 9", d, err)
	}
	if e := p.Err(k); e != "" {
		t.Fatalf("Err after a published delta = %q, want empty", e)
	}
}
