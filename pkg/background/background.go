// Package background runs a service's background loops (its event-log
// follower, publishers, issuers) and stops them together, so every service's
// Start/Stop has one implementation.
package background

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrRunning is returned by Start on a group that is already running.
var ErrRunning = errors.New("already started")

// Group is a set of loops started and stopped together. The zero value is
// ready to use; a stopped group can be started again.
type Group struct {
	mu      sync.Mutex
	running bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Start marks the group running. Its loops run in a context that keeps ctx's
// values but not its cancellation (the caller's request context must not stop
// a service); Stop cancels it.
func (g *Group) Start(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running {
		return ErrRunning
	}
	g.ctx, g.cancel = context.WithCancel(context.WithoutCancel(ctx))
	g.running = true
	return nil
}

// Go runs loop in the group until Stop. It does nothing on a group that is
// not running.
func (g *Group) Go(loop func(ctx context.Context)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.running {
		return
	}
	g.wg.Add(1)
	ctx := g.ctx
	go func() {
		defer g.wg.Done()
		loop(ctx)
	}()
}

// Stop cancels the loops and waits for them to return, at most until ctx
// ends. Stopping a group that is not running does nothing.
func (g *Group) Stop(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.running {
		return nil
	}
	g.cancel()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("stop: %w", ctx.Err())
	}
	g.running = false
	return nil
}
