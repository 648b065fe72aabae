package natsutil

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// A new link id calls onNew once with it; 0 (link down) and the same id do
// not, and a link back after a drop shorter than the poll is still seen.
func TestWatchLinkReportsEachNewLink(t *testing.T) {
	var id atomic.Uint64
	id.Store(1)
	got := make(chan uint64, 8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		WatchLink(ctx, id.Load, func(link uint64) { got <- link })
	}()
	expect := func(want uint64) {
		t.Helper()
		select {
		case link := <-got:
			if link != want {
				t.Fatalf("onNew(%d), want %d", link, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no onNew(%d)", want)
		}
	}
	none := func() {
		t.Helper()
		select {
		case link := <-got:
			t.Fatalf("onNew(%d), want none", link)
		case <-time.After(4 * LinkPoll):
		}
	}
	none()
	id.Store(0)
	none()
	id.Store(2)
	expect(2)
	id.Store(3) // dropped and back within one poll
	expect(3)
	cancel()
	<-done
}

// UntilNudged ends the session at a nudge and says so; a session ending by
// itself, or by ctx, is not nudged.
func TestUntilNudged(t *testing.T) {
	nudge := make(chan struct{}, 1)
	session := func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}
	nudge <- struct{}{}
	if nudged, err := UntilNudged(context.Background(), nudge, session); !nudged || !errors.Is(err, context.Canceled) {
		t.Fatalf("nudged %v, err %v; want true, context.Canceled", nudged, err)
	}
	boom := errors.New("boom")
	if nudged, err := UntilNudged(context.Background(), nudge, func(context.Context) error { return boom }); nudged || err != boom {
		t.Fatalf("nudged %v, err %v; want false, boom", nudged, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if nudged, _ := UntilNudged(ctx, nudge, session); nudged {
		t.Fatal("a session ended by ctx reported nudged")
	}
}
