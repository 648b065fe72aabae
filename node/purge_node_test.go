package node_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// cached asks the node's cache for a.example/<path> and reports its cache
// status (the origin answers with the path).
func cached(t *testing.T, n *node.Node, path string) string {
	t.Helper()
	r := &cache.Request{Method: "GET", Host: "a.example", Path: path, Header: http.Header{}.Get}
	p := &cache.Policy{TTLByStatus: map[int]time.Duration{200: time.Hour}}
	res, err := n.Cache().Do(context.Background(), r, p, func(context.Context, http.Header) (*cache.Response, error) {
		return &cache.Response{Status: 200, Header: http.Header{}, Body: []byte(path)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.CacheStatus
}

// The node runs a purge agent on its cache: purges published on the hub are
// applied and acknowledged, and purges published while the node was down
// are applied before its (disk) cache serves again.
func TestNodeAppliesPurges(t *testing.T) {
	hub, leafURL := runHub(t)
	control := natstest.Connect(t, hub)
	js, _ := jetstream.New(control)
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: natsutil.PurgeStream, Subjects: []string{natsutil.PurgeSubjects}}); err != nil {
		t.Fatal(err)
	}
	acks := make(chan string, 16)
	if _, err := control.Subscribe(natsutil.PurgeAckAll, func(m *nats.Msg) {
		var a purgev1.PurgeAck
		if proto.Unmarshal(m.Data, &a) == nil {
			acks <- a.GetPurgeId()
		}
	}); err != nil {
		t.Fatal(err)
	}
	control.Flush()
	purge := func(id, url string) {
		b, _ := proto.Marshal(&purgev1.PurgeCommand{PurgeId: id, Kind: purgev1.PurgeKind_PURGE_KIND_URL, Values: []string{url}})
		if _, err := js.Publish(ctx, natsutil.PurgeSubject(partition), b); err != nil {
			t.Fatal(err)
		}
	}
	waitAck := func(id string) {
		t.Helper()
		for {
			select {
			case got := <-acks:
				if got == id {
					return
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no ack for %s", id)
			}
		}
	}

	dir := t.TempDir()
	opts := node.Options{DataDir: dir, HubLeafURLs: []string{leafURL}, CacheDiskBytes: 1 << 20}
	n := startNode(t, opts)
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if s := cached(t, n, "/a"); s != "MISS" && s != "HIT" {
			return fmt.Errorf("cache %s: still held", s)
		}
		return nil
	})
	if s := cached(t, n, "/a"); s != "HIT" {
		t.Fatalf("second request: %s, want HIT", s)
	}
	purge("p-1", "a.example/a")
	waitAck("p-1")
	if s := cached(t, n, "/a"); s != "MISS" {
		t.Fatalf("after purge: %s, want MISS", s)
	}
	cached(t, n, "/b")
	if s := cached(t, n, "/b"); s != "HIT" {
		t.Fatalf("/b: %s, want HIT", s)
	}
	stopNode(t, n)

	purge("p-2", "a.example/b") // while the node is down
	n = startNode(t, opts)
	waitAck("p-2")
	// The ack is sent just before the cache is released: BYPASS until then.
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if s := cached(t, n, "/a"); s != "HIT" {
			return fmt.Errorf("/a after restart: %s, want HIT from the disk cache", s)
		}
		return nil
	})
	if s := cached(t, n, "/b"); s != "MISS" {
		t.Fatalf("/b purged while down: %s, want MISS", s)
	}
	if n.PurgeApplied() != 2 {
		t.Fatalf("applied purge seq %d, want 2", n.PurgeApplied())
	}
}
