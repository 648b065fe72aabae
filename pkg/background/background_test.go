package background

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestGroupStartsStopsAndRestarts(t *testing.T) {
	var g Group
	reqCtx, cancelReq := context.WithCancel(context.Background())
	if err := g.Start(reqCtx); err != nil {
		t.Fatal(err)
	}
	if err := g.Start(reqCtx); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Start: %v, want ErrRunning", err)
	}
	stopped := make(chan struct{})
	g.Go(func(ctx context.Context) { <-ctx.Done(); close(stopped) })

	// The caller's context ending must not stop the loops.
	cancelReq()
	select {
	case <-stopped:
		t.Fatal("loop stopped when the Start context ended")
	case <-time.After(50 * time.Millisecond):
	}
	if err := g.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("Stop returned before the loop ended")
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if err := g.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestGroupStopGivesUpAtDeadline(t *testing.T) {
	var g Group
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	g.Go(func(context.Context) { <-release }) // ignores cancellation
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop: %v, want deadline exceeded", err)
	}
}

func TestRunStopsWhenCatchUpFailsAndStopRunsItsHooksInOrder(t *testing.T) {
	var order []string
	g := Group{Name: "svc",
		BeforeStop: func(context.Context) { order = append(order, "before") },
		AfterStop:  func(context.Context) { order = append(order, "after") }}
	loop := func(ctx context.Context) { <-ctx.Done(); order = append(order, "loop ended") }
	err := g.Run(context.Background(), func(context.Context) error { return errors.New("log unreadable") }, loop)
	if err == nil || err.Error() != "svc: rebuild read model: log unreadable" {
		t.Fatalf("Run = %v", err)
	}
	if got := strings.Join(order, ", "); got != "before, loop ended, after" {
		t.Fatalf("stop order %q", got)
	}
	if err := g.Run(context.Background(), func(context.Context) error { return nil }, loop); err != nil {
		t.Fatalf("Run after a failed Run: %v", err)
	}
	if err := g.Start(context.Background()); err == nil || err.Error() != "svc: already started" {
		t.Fatalf("Start of a running group = %v", err)
	}
	if err := g.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}
