package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// A handler error ends one subscription; Follow resubscribes after the last
// applied position, so the projection sees every event exactly once.
func TestFollowResubscribesWithoutGapsOrRepeats(t *testing.T) {
	s := newJetStreamStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	var applied uint64
	var seen []uint64
	failedOnce := false
	handle := func(e eventstore.Event) error {
		mu.Lock()
		defer mu.Unlock()
		if e.Position == 3 && !failedOnce {
			failedOnce = true
			return errors.New("projection hiccup")
		}
		seen = append(seen, e.Position)
		applied = e.Position
		return nil
	}
	from := func() uint64 { mu.Lock(); defer mu.Unlock(); return applied }
	done := make(chan struct{})
	go func() { eventstore.Follow(ctx, s, from, handle, nil); close(done) }()

	for i := range 6 {
		if _, err := s.Append(ctx, fmt.Sprintf("app.f%d", i), 0, eventstore.Event{ID: fmt.Sprintf("f%d", i), Type: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 6 {
			return fmt.Errorf("seen %v", seen)
		}
		for i, p := range seen {
			if p != uint64(i+1) {
				return fmt.Errorf("seen %v, want 1..6 in order once each", seen)
			}
		}
		return nil
	})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not return after its context ended")
	}
}
