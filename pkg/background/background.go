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
	// Name (the service's) prefixes the errors of Start, Run and Stop.
	Name string
	// BeforeStop runs in Stop while the loops still run (to record what is
	// pending while the log is still followed), AfterStop once they returned.
	BeforeStop, AfterStop func(ctx context.Context)

	mu      sync.Mutex
	running bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func (g *Group) named(err error) error {
	if err == nil || g.Name == "" {
		return err
	}
	return fmt.Errorf("%s: %w", g.Name, err)
}

// Start marks the group running. Its loops run in a context that keeps ctx's
// values but not its cancellation (the caller's request context must not stop
// a service); Stop cancels it.
func (g *Group) Start(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running {
		return g.named(ErrRunning)
	}
	g.ctx, g.cancel = context.WithCancel(context.WithoutCancel(ctx))
	g.running = true
	return nil
}

// Run is a service's Start: it starts the group with loops, then waits for
// catchUp (the read model rebuilt from the log); when that fails it stops
// the group again.
func (g *Group) Run(ctx context.Context, catchUp func(context.Context) error, loops ...func(context.Context)) error {
	if err := g.Start(ctx); err != nil {
		return err
	}
	for _, l := range loops {
		g.Go(l)
	}
	if err := catchUp(ctx); err != nil {
		_ = g.Stop(context.Background())
		return g.named(fmt.Errorf("rebuild read model: %w", err))
	}
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
	if g.BeforeStop != nil {
		g.BeforeStop(ctx)
	}
	g.cancel()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return g.named(fmt.Errorf("stop: %w", ctx.Err()))
	}
	if g.AfterStop != nil {
		g.AfterStop(ctx)
	}
	g.running = false
	return nil
}
