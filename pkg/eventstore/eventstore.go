// Package eventstore is Strata's append-only event log: every config mutation of
// every control service is an Event appended to a Stream (one stream per
// aggregate, e.g. "app.app_01h..."), and the concatenation of all streams in
// commit order is the global log that projections fold into state.
//
// Versions are positions: an event's Position is its place in the global log
// (1, 2, 3, ... with no gaps), and a stream's version is the Position of its
// newest event (0 for a stream that has none). Appends carry the version the
// writer last saw; a stale one fails with ErrConflict and stores nothing.
//
// Implementations: JetStream (jetstream.go, the default, embedded) and
// PostgreSQL (postgres.go). Both pass the conformance suite in
// eventstoretest.
package eventstore

import (
	"context"
	"errors"
	"time"
)

// ErrConflict is returned by Append when the stream's version is not the one the
// writer expected. Nothing was stored.
var ErrConflict = errors.New("eventstore: version conflict")

// ErrClosed is returned by calls on a closed store.
var ErrClosed = errors.New("eventstore: closed")

// AnyVersion disables the optimistic concurrency check of Append.
const AnyVersion = ^uint64(0)

// Event is one recorded fact.
type Event struct {
	// ID identifies the event for idempotency: an Append retried with the same
	// event IDs stores the events once. Required; unique across the log.
	ID string
	// Stream is the aggregate the event belongs to, e.g. "app.app_123". Set by
	// Append from its argument. Allowed characters: letters, digits, '_', '-', '.'
	// (no leading, trailing or double dots).
	Stream string
	// Type is the stable type id, e.g. "config.app.created". Never a Go type name.
	Type string
	// Data is the protobuf-encoded payload.
	Data []byte
	// Metadata carries who and why.
	Metadata Metadata
	// Position is the event's place in the global log, assigned by Append.
	Position uint64
}

// Metadata is the audit context of an event.
type Metadata struct {
	// Actor is who caused the event: a user name, "token:<id>", "system".
	Actor string
	// RequestID ties the event to the API request that caused it.
	RequestID string
	// Time is when the event was recorded; set by Append when zero. UTC.
	Time time.Time
	// CausationID is the ID of the event or command that caused this event.
	CausationID string
}

// Store is an append-only event log.
type Store interface {
	// Append adds events to one stream atomically (all or none). expected is the
	// stream's current version as the caller saw it (0 for a new stream), or
	// AnyVersion. It returns the events with Stream, Position and Metadata.Time
	// filled in. On a version mismatch it returns ErrConflict (wrapped). When every
	// event ID was already appended before (a retry), it returns the stored events
	// and no error, and stores nothing.
	//
	// A retry is the same call again: the same stream, the same IDs in the same
	// order, the same expected version. IDs stored by a different append (another
	// stream, another grouping or order) give ErrConflict. Bad input (see
	// ValidateAppend) gives ErrInvalid (wrapped) naming the field.
	Append(ctx context.Context, stream string, expected uint64, events ...Event) ([]Event, error)

	// ReadStream returns the events of one stream with Position > after, oldest
	// first. An unknown stream has no events (no error).
	ReadStream(ctx context.Context, stream string, after uint64) ([]Event, error)

	// ReadAll returns up to limit events of the global log with Position > after,
	// in order. limit <= 0 means no limit.
	ReadAll(ctx context.Context, after uint64, limit int) ([]Event, error)

	// Subscribe calls handle for every event with Position > after, in order,
	// first the stored ones, then new ones as they are appended, until ctx ends
	// or handle returns an error. It returns that error, or ctx.Err() (ErrClosed
	// when the store was closed). handle is never called concurrently, never
	// skips a position and never repeats one.
	Subscribe(ctx context.Context, after uint64, handle func(Event) error) error

	// Head returns the Position of the newest event in the log (0 when empty).
	Head(ctx context.Context) (uint64, error)

	// Close releases the store's resources; it does not close connections it was
	// given.
	Close() error
}
