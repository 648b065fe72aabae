package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-edge/strata/pkg/eventstore"
)

func TestPositionWaitForReturnsOnceApplied(t *testing.T) {
	var p eventstore.Position
	ctx := context.Background()
	if err := p.WaitFor(ctx, 0); err != nil {
		t.Fatalf("WaitFor(0) on a new position: %v", err)
	}

	// Waiters for 1..n each return only once Advance reached their position.
	const n = 20
	var wg sync.WaitGroup
	seen := make([]uint64, n+1) // Applied() observed when WaitFor(pos) returned
	for pos := uint64(1); pos <= n; pos++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := p.WaitFor(wctx, pos); err != nil {
				t.Errorf("WaitFor(%d): %v", pos, err)
			}
			seen[pos] = p.Applied()
		}()
	}
	for pos := uint64(1); pos <= n; pos += 3 { // skipping positions wakes every waiter passed
		p.Advance(pos)
	}
	p.Advance(n)
	wg.Wait()
	for pos := uint64(1); pos <= n; pos++ {
		if seen[pos] < pos {
			t.Errorf("WaitFor(%d) returned with Applied() = %d", pos, seen[pos])
		}
	}
	if err := p.WaitFor(ctx, n); err != nil {
		t.Fatalf("WaitFor of an applied position: %v", err)
	}
}

func TestPositionNeverMovesBack(t *testing.T) {
	var p eventstore.Position
	p.Advance(7)
	p.Advance(3)
	p.Advance(7)
	if got := p.Applied(); got != 7 {
		t.Fatalf("Applied() = %d after Advance(7), Advance(3): want 7", got)
	}
}

func TestPositionWaitForEndsWithContext(t *testing.T) {
	var p eventstore.Position
	p.Advance(4)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := p.WaitFor(ctx, 5)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor(5) at 4 with an ending context: %v, want DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "position 5 (applied 4)") {
		t.Fatalf("error %q does not name the positions", err)
	}

	// A cancelled waiter leaves the position usable for the next one.
	done := make(chan error, 1)
	go func() { done <- p.WaitFor(context.Background(), 5) }()
	p.Advance(5)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitFor(5) did not return after Advance(5)")
	}
}

func BenchmarkPositionAdvanceNoWaiters(b *testing.B) {
	var p eventstore.Position
	for i := range b.N {
		p.Advance(uint64(i) + 1)
	}
}

// CatchUp returns once a model following the log applied everything stored
// when it was called.
func TestPositionCatchUpWaitsForTheLogHead(t *testing.T) {
	s := newJetStreamStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 5 {
		if _, err := s.Append(ctx, fmt.Sprintf("app.c%d", i), 0, eventstore.Event{ID: fmt.Sprintf("c%d", i), Type: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	var p eventstore.Position
	followCtx, stop := context.WithCancel(ctx)
	defer stop()
	go eventstore.Follow(followCtx, s, p.Applied, func(e eventstore.Event) error { p.Advance(e.Position); return nil }, nil)
	if err := p.CatchUp(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got := p.Applied(); got < 5 {
		t.Fatalf("CatchUp returned at %d, before the head 5", got)
	}

	_ = s.Close()
	if err := p.CatchUp(ctx, s); err == nil || !strings.Contains(err.Error(), "read log head") {
		t.Fatalf("CatchUp on a closed store: %v", err)
	}
}
