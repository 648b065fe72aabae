package purge

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

func publishPush(t *testing.T, js jetstream.JetStream, id string, push *purgev1.PushCommand) uint64 {
	t.Helper()
	b, _ := proto.Marshal(&purgev1.PurgeCommand{PurgeId: id, Push: push})
	ack, err := js.Publish(context.Background(), natsutil.PurgeSubject("p1"), b)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// The agent runs pushes through Options.Push with their concurrency,
// reports failed URLs, skips pushes for other clusters and expired ones,
// and keeps its saved position before a push still running while the
// purges after it are applied.
func TestAgentRunsPushes(t *testing.T) {
	nc, js := setup(t)
	acks := make(chan *purgev1.PurgeAck, 10)
	sub, _ := nc.Subscribe(natsutil.PurgeAckAll, func(m *nats.Msg) {
		var a purgev1.PurgeAck
		if proto.Unmarshal(m.Data, &a) == nil {
			acks <- &a
		}
		_ = m.Respond(nil)
	})
	defer sub.Unsubscribe()
	nextAck := func() *purgev1.PurgeAck {
		t.Helper()
		select {
		case a := <-acks:
			return a
		case <-time.After(10 * time.Second):
			t.Fatal("no ack")
			return nil
		}
	}

	var mu sync.Mutex
	inFlight, most, calls := 0, 0, 0
	slow := make(chan struct{})
	push := func(ctx context.Context, url string) PushURL {
		mu.Lock()
		inFlight, calls = inFlight+1, calls+1
		most = max(most, inFlight)
		mu.Unlock()
		defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
		switch {
		case strings.HasSuffix(url, "/slow"):
			select {
			case <-slow:
			case <-ctx.Done():
				return PushURL{Err: context.Cause(ctx)}
			}
		case strings.HasSuffix(url, "/404"):
			return PushURL{Status: 404, Bytes: 9, Err: errors.New("status 404")}
		case strings.HasSuffix(url, "/private"):
			return PushURL{Status: 200, Bytes: 5, Err: errors.New("not cacheable: the response was not stored")}
		}
		time.Sleep(time.Millisecond) // overlap the fetches a little
		return PushURL{Status: 200, Bytes: 10, Cached: true}
	}
	dir := t.TempDir()
	c := openCache(t, filepath.Join(dir, "cache"))
	a, err := New(Options{NATS: nc, NodeID: "n1", PartitionID: "p1", ClusterID: "c1", Cache: c,
		PositionPath: filepath.Join(dir, "purge.db"), Push: push, SaveInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer a.Stop(context.Background())

	urls := []string{"http://a.com/1", "http://a.com/404", "http://a.com/2", "http://a.com/private", "http://a.com/3", "http://a.com/4"}
	publishPush(t, js, "psh_1", &purgev1.PushCommand{Urls: urls, Concurrency: 2})
	ack := nextAck()
	r := ack.GetPush()
	if ack.GetPurgeId() != "psh_1" || ack.GetError() != "" || r.GetCached() != 4 || r.GetFailed() != 2 || r.GetBytes() != 54 || len(r.GetFailures()) != 2 {
		t.Fatalf("ack %v", ack)
	}
	if f := r.GetFailures()[0]; f.GetUrl() != "http://a.com/404" || f.GetStatus() != 404 || f.GetError() != "status 404" {
		t.Fatalf("first failure %v", f)
	}
	mu.Lock()
	if most > 2 || calls != len(urls) {
		t.Fatalf("%d fetches at most at once (concurrency 2), %d calls for %d URLs", most, calls, len(urls))
	}
	calls = 0
	mu.Unlock()

	// Another cluster's push: no fetch, no ack; an expired one: an ack
	// with an error, no fetch.
	publishPush(t, js, "psh_other", &purgev1.PushCommand{Urls: urls, ClusterIds: []string{"c2"}})
	publishPush(t, js, "psh_old", &purgev1.PushCommand{Urls: urls, ClusterIds: []string{"c2", "c1"},
		ExpiresAt: timestamppb.New(time.Now().Add(-time.Minute))})
	if ack := nextAck(); ack.GetPurgeId() != "psh_old" || !strings.Contains(ack.GetError(), "expired") || ack.GetPush() != nil {
		t.Fatalf("ack of an expired push %v", ack)
	}

	// A running push does not hold up the purge after it, and the saved
	// position stays before it until it is acknowledged.
	seq := publishPush(t, js, "psh_slow", &purgev1.PushCommand{Urls: []string{"http://a.com/slow"}})
	publish(t, js, "pg_after", purgev1.PurgeKind_PURGE_KIND_URL, "a.com/x")
	if ack := nextAck(); ack.GetPurgeId() != "pg_after" {
		t.Fatalf("ack %v while the push runs, want the purge's", ack)
	}
	if got := a.savable(); got != seq-1 {
		t.Fatalf("savable position %d while the push at %d runs, want %d", got, seq, seq-1)
	}
	close(slow)
	if ack := nextAck(); ack.GetPurgeId() != "psh_slow" || ack.GetPush().GetCached() != 1 {
		t.Fatalf("ack %v, want psh_slow's", ack)
	}
	natstest.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if got := a.savable(); got != seq+1 {
			return errors.New("position not past the push yet")
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Fatalf("%d fetches for the skipped, expired and slow pushes, want 1", calls)
	}
}
