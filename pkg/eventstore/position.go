package eventstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Position is a read model's applied position in the global log and a way to
// wait for it: a command handler that appended an event at position p calls
// WaitFor(ctx, p) so that its answer, read from the model, includes the event
// (read-your-writes). The zero value is ready to use.
//
// The model calls Advance after it has folded the event at pos, still under
// its own write lock; a woken waiter then takes the model's read lock and
// sees the state at pos or later.
type Position struct {
	pos atomic.Uint64
	mu  sync.Mutex
	ch  chan struct{} // closed by the next Advance; nil while nobody waits
}

// Applied returns the newest applied position (0 before any event).
func (p *Position) Applied() uint64 { return p.pos.Load() }

// Advance records pos as applied and wakes the waiters. A position that is
// not newer than the applied one is ignored: the log only moves forward.
func (p *Position) Advance(pos uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pos <= p.pos.Load() {
		return
	}
	p.pos.Store(pos)
	if p.ch != nil {
		close(p.ch)
		p.ch = nil
	}
}

// WaitFor blocks until the event at pos has been applied, or ctx ends; the
// error then names both positions and wraps ctx.Err().
func (p *Position) WaitFor(ctx context.Context, pos uint64) error {
	for {
		if p.pos.Load() >= pos {
			return nil
		}
		p.mu.Lock()
		applied := p.pos.Load()
		if applied >= pos {
			p.mu.Unlock()
			return nil
		}
		if p.ch == nil {
			p.ch = make(chan struct{})
		}
		ch := p.ch
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for event log position %d (applied %d): %w", pos, applied, ctx.Err())
		}
	}
}

// CatchUp waits until everything stored in the log when it is called has
// been applied: a command handler calls it before deciding on the model, so
// it sees the writes of other replicas and services too.
func (p *Position) CatchUp(ctx context.Context, s Store) error {
	head, err := s.Head(ctx)
	if err != nil {
		return fmt.Errorf("read log head: %w", err)
	}
	return p.WaitFor(ctx, head)
}
