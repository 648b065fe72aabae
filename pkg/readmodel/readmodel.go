// Package readmodel is a service's read model: state folded from the global
// event log one event at a time, in log order, behind one lock. Readers go
// through Read, live updates that are not events through Write, the log
// through Handle (the Store.Subscribe callback and edgesync's Folder), and
// the embedded Position tells how far it got (Applied, WaitFor, CatchUp).
package readmodel

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/strata-edge/strata/pkg/eventstore"
)

// Model holds state S (a pointer to the service's state) and folds events
// into it.
type Model[S any] struct {
	// Position is the applied position, advanced under the write lock after
	// each event.
	eventstore.Position

	mu     sync.RWMutex
	st     S
	decode func(typeID string, data []byte) (proto.Message, error)
	fold   func(st S, e eventstore.Event, msg proto.Message) error
	log    *slog.Logger
}

// New returns a model of st. decode gives an event's payload, nil for the
// events the model skips (another area's); a nil decode hands every event to
// fold with a nil payload. fold runs under the write lock.
//
// An event fold refuses or that does not decode is skipped and the position
// passes it all the same (a writer waiting for a later position must not
// hang): with log set it is logged and Handle returns nil, else Handle
// returns the error for its caller to log.
func New[S any](st S, decode func(typeID string, data []byte) (proto.Message, error), fold func(st S, e eventstore.Event, msg proto.Message) error, log *slog.Logger) *Model[S] {
	return &Model[S]{st: st, decode: decode, fold: fold, log: log}
}

// Read runs f with the state locked for reading.
func (m *Model[S]) Read(f func(st S)) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	f(m.st)
}

// Write runs f with the state locked for writing.
func (m *Model[S]) Write(f func(st S)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m.st)
}

// Handle folds one event of the global log; an event at or before the
// applied position is ignored.
func (m *Model[S]) Handle(e eventstore.Event) error {
	var msg proto.Message
	var err error
	if m.decode != nil {
		msg, err = m.decode(e.Type, e.Data)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.Position <= m.Applied() {
		return nil
	}
	defer m.Advance(e.Position)
	if err == nil && (msg != nil || m.decode == nil) {
		err = m.fold(m.st, e, msg)
	}
	if err == nil {
		return nil
	}
	if m.log == nil {
		return fmt.Errorf("skip event %d: %w", e.Position, err)
	}
	m.log.Error("skip event", "position", e.Position, "type", e.Type, "stream", e.Stream, "err", err)
	return nil
}

// Follow folds the log into the model until ctx ends (for a service that
// follows the log itself rather than through edgesync).
func (m *Model[S]) Follow(ctx context.Context, store eventstore.Store, log *slog.Logger) {
	eventstore.Follow(ctx, store, m.Applied, m.Handle, log)
}
