// Package eventstoretest is the conformance suite every eventstore.Store
// implementation passes. An adapter runs it in two lines:
//
//	func TestConformance(t *testing.T) {
//		eventstoretest.Run(t, func(t *testing.T) eventstore.Store { return newStore(t) })
//	}
//
// newStore must return an empty store that nothing else writes to, and close
// it (and everything behind it) when t ends.
package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-edge/strata/pkg/eventstore"
)

// Options tunes the expensive parts of the suite.
type Options struct {
	// ConflictRounds is how often the concurrent-writers test runs its round
	// of ConflictWriters appends with the same expected version. Default
	// 1000 (100 with -short).
	ConflictRounds int
	// ConflictWriters is the number of concurrent writers per round.
	// Default 64.
	ConflictWriters int
}

// Run runs the whole suite with default options.
func Run(t *testing.T, newStore func(t *testing.T) eventstore.Store) {
	RunWith(t, newStore, Options{})
}

// RunWith runs the whole suite.
func RunWith(t *testing.T, newStore func(t *testing.T) eventstore.Store, o Options) {
	if o.ConflictRounds == 0 {
		o.ConflictRounds = 1000
		if testing.Short() {
			o.ConflictRounds = 100
		}
	}
	if o.ConflictWriters == 0 {
		o.ConflictWriters = 64
	}
	tests := []struct {
		name string
		run  func(t *testing.T, s eventstore.Store)
	}{
		{"AppendAndRead", testAppendAndRead},
		{"NewStreamExpectsZero", testNewStreamExpectsZero},
		{"AnyVersion", testAnyVersion},
		{"StaleVersionConflicts", testStaleVersionConflicts},
		{"ConcurrentWritersOneWins", func(t *testing.T, s eventstore.Store) { testConcurrentWriters(t, s, o) }},
		{"RetryIsIdempotent", testRetryIsIdempotent},
		{"IDReuseIsRejected", testIDReuseIsRejected},
		{"MultiEventAppendIsAtomic", testMultiEventAtomic},
		{"MetadataRoundTrips", testMetadataRoundTrips},
		{"SubscribeRestartMissesNothing", testSubscribeRestart},
		{"SubscribeReturnsHandlerError", testSubscribeHandlerError},
		{"SubscribeEndsWithContext", testSubscribeContext},
		{"InvalidInput", testInvalidInput},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// ev builds an event whose data names it.
func ev(id, typ string) eventstore.Event {
	return eventstore.Event{ID: id, Type: typ, Data: []byte("data of " + id)}
}

func mustAppend(t *testing.T, s eventstore.Store, stream string, expected uint64, events ...eventstore.Event) []eventstore.Event {
	t.Helper()
	out, err := s.Append(ctxFor(t), stream, expected, events...)
	if err != nil {
		t.Fatalf("Append(%q, %d, %d events): %v", stream, expected, len(events), err)
	}
	if len(out) != len(events) {
		t.Fatalf("Append(%q) returned %d events, want %d", stream, len(out), len(events))
	}
	return out
}

func readStream(t *testing.T, s eventstore.Store, stream string, after uint64) []eventstore.Event {
	t.Helper()
	out, err := s.ReadStream(ctxFor(t), stream, after)
	if err != nil {
		t.Fatalf("ReadStream(%q, %d): %v", stream, after, err)
	}
	return out
}

func readAll(t *testing.T, s eventstore.Store, after uint64, limit int) []eventstore.Event {
	t.Helper()
	out, err := s.ReadAll(ctxFor(t), after, limit)
	if err != nil {
		t.Fatalf("ReadAll(%d, %d): %v", after, limit, err)
	}
	return out
}

func head(t *testing.T, s eventstore.Store) uint64 {
	t.Helper()
	h, err := s.Head(ctxFor(t))
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	return h
}

func positions(evs []eventstore.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Position
	}
	return out
}

func ids(evs []eventstore.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// sameEvents fails unless got and want are equal event by event. Nil and
// empty Data are the same.
func sameEvents(t *testing.T, what string, got, want []eventstore.Event) {
	t.Helper()
	norm := func(evs []eventstore.Event) []eventstore.Event {
		out := make([]eventstore.Event, len(evs))
		for i, e := range evs {
			if len(e.Data) == 0 {
				e.Data = nil
			}
			out[i] = e
		}
		return out
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, g, w)
	}
}

func wantConflict(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("%s: error %v, want ErrConflict", what, err)
	}
}

func testAppendAndRead(t *testing.T, s eventstore.Store) {
	if h := head(t, s); h != 0 {
		t.Fatalf("Head of an empty store = %d, want 0", h)
	}
	if got := readAll(t, s, 0, 0); len(got) != 0 {
		t.Fatalf("ReadAll of an empty store = %v", got)
	}
	if got := readStream(t, s, "app.a", 0); len(got) != 0 {
		t.Fatalf("ReadStream of an unknown stream = %v", got)
	}

	before := time.Now().Add(-time.Second)
	a12 := mustAppend(t, s, "app.a", 0, ev("e1", "t.one"), ev("e2", "t.two"))
	b3 := mustAppend(t, s, "app.b", 0, ev("e3", "t.one"))
	a4 := mustAppend(t, s, "app.a", 2, ev("e4", "t.three"))
	// Names that share a prefix with app.a are other streams.
	ab5 := mustAppend(t, s, "app.a.b", 0, ev("e5", "t.one"))
	ab6 := mustAppend(t, s, "app.ab", 0, ev("e6", "t.one"))

	all := append(append(append(append(append([]eventstore.Event{}, a12...), b3...), a4...), ab5...), ab6...)
	if got, want := positions(all), []uint64{1, 2, 3, 4, 5, 6}; !reflect.DeepEqual(got, want) {
		t.Fatalf("positions = %v, want %v", got, want)
	}
	for _, e := range all {
		if e.Metadata.Time.Before(before) || e.Metadata.Time.After(time.Now().Add(time.Second)) || e.Metadata.Time.Location() != time.UTC {
			t.Fatalf("event %s: Metadata.Time = %v, want now in UTC", e.ID, e.Metadata.Time)
		}
	}
	if a12[0].Stream != "app.a" || b3[0].Stream != "app.b" {
		t.Fatalf("Append did not set Stream: %q, %q", a12[0].Stream, b3[0].Stream)
	}
	if a12[1].Type != "t.two" || string(a12[1].Data) != "data of e2" {
		t.Fatalf("Append changed type or data: %+v", a12[1])
	}

	sameEvents(t, "ReadStream(app.a, 0)", readStream(t, s, "app.a", 0), []eventstore.Event{a12[0], a12[1], a4[0]})
	sameEvents(t, "ReadStream(app.a, 1)", readStream(t, s, "app.a", 1), []eventstore.Event{a12[1], a4[0]})
	sameEvents(t, "ReadStream(app.a, 2)", readStream(t, s, "app.a", 2), []eventstore.Event{a4[0]})
	sameEvents(t, "ReadStream(app.a, 4)", readStream(t, s, "app.a", 4), nil)
	sameEvents(t, "ReadStream(app.b, 0)", readStream(t, s, "app.b", 0), b3)
	sameEvents(t, "ReadStream(app.a.b, 0)", readStream(t, s, "app.a.b", 0), ab5)
	sameEvents(t, "ReadStream(app, 0)", readStream(t, s, "app", 0), nil)

	sameEvents(t, "ReadAll(0, 0)", readAll(t, s, 0, 0), all)
	sameEvents(t, "ReadAll(0, -1)", readAll(t, s, 0, -1), all)
	sameEvents(t, "ReadAll(1, 2)", readAll(t, s, 1, 2), all[1:3])
	sameEvents(t, "ReadAll(4, 10)", readAll(t, s, 4, 10), all[4:])
	sameEvents(t, "ReadAll(6, 0)", readAll(t, s, 6, 0), nil)
	sameEvents(t, "ReadAll(100, 0)", readAll(t, s, 100, 0), nil)
	if h := head(t, s); h != 6 {
		t.Fatalf("Head = %d, want 6", h)
	}
}

func testNewStreamExpectsZero(t *testing.T, s eventstore.Store) {
	ctx := ctxFor(t)
	mustAppend(t, s, "app.new", 0, ev("n1", "t"))
	_, err := s.Append(ctx, "app.new", 0, ev("n2", "t"))
	wantConflict(t, err, "second Append with expected 0")
	_, err = s.Append(ctx, "app.never", 1, ev("n3", "t"))
	wantConflict(t, err, "Append to an empty stream with expected 1")
	if got := readStream(t, s, "app.never", 0); len(got) != 0 {
		t.Fatalf("conflicting append stored %v", got)
	}
	sameEvents(t, "ReadAll", readAll(t, s, 0, 0)[1:], nil)
}

func testAnyVersion(t *testing.T, s eventstore.Store) {
	a := mustAppend(t, s, "app.any", eventstore.AnyVersion, ev("a1", "t"))
	mustAppend(t, s, "app.other", 0, ev("o1", "t"))
	b := mustAppend(t, s, "app.any", eventstore.AnyVersion, ev("a2", "t"), ev("a3", "t"))
	if got, want := positions(append(a, b...)), []uint64{1, 3, 4}; !reflect.DeepEqual(got, want) {
		t.Fatalf("positions = %v, want %v", got, want)
	}
	if got := ids(readStream(t, s, "app.any", 0)); !reflect.DeepEqual(got, []string{"a1", "a2", "a3"}) {
		t.Fatalf("stream = %v", got)
	}
}

func testStaleVersionConflicts(t *testing.T, s eventstore.Store) {
	ctx := ctxFor(t)
	mustAppend(t, s, "app.s", 0, ev("s1", "t"))
	mustAppend(t, s, "app.s", 1, ev("s2", "t"))
	before := readAll(t, s, 0, 0)
	for _, expected := range []uint64{0, 1, 3, 1000} {
		_, err := s.Append(ctx, "app.s", expected, ev(fmt.Sprintf("stale%d", expected), "t"))
		wantConflict(t, err, fmt.Sprintf("Append with expected %d at version 2", expected))
	}
	sameEvents(t, "log after conflicts", readAll(t, s, 0, 0), before)
	if h := head(t, s); h != 2 {
		t.Fatalf("Head after conflicts = %d, want 2", h)
	}
	// A failed append leaves no hole in the global order.
	got := mustAppend(t, s, "app.s", 2, ev("s3", "t"))
	if got[0].Position != 3 {
		t.Fatalf("position after conflicts = %d, want 3", got[0].Position)
	}
}

func testConcurrentWriters(t *testing.T, s eventstore.Store, o Options) {
	ctx := ctxFor(t)
	const stream = "app.race"
	var version uint64
	start := time.Now()
	for round := 0; round < o.ConflictRounds; round++ {
		var (
			wg        sync.WaitGroup
			go1       = make(chan struct{})
			winners   atomic.Int32
			conflicts atomic.Int32
			winnerPos atomic.Uint64
			otherErr  atomic.Value
		)
		for w := 0; w < o.ConflictWriters; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-go1
				out, err := s.Append(ctx, stream, version, ev(fmt.Sprintf("r%d-w%d", round, w), "t"))
				switch {
				case err == nil:
					winners.Add(1)
					winnerPos.Store(out[0].Position)
				case errors.Is(err, eventstore.ErrConflict):
					conflicts.Add(1)
				default:
					otherErr.Store(err)
				}
			}()
		}
		close(go1)
		wg.Wait()
		if err := otherErr.Load(); err != nil {
			t.Fatalf("round %d: unexpected error: %v", round, err)
		}
		if winners.Load() != 1 || int(conflicts.Load()) != o.ConflictWriters-1 {
			t.Fatalf("round %d: %d winners and %d conflicts, want 1 and %d", round, winners.Load(), conflicts.Load(), o.ConflictWriters-1)
		}
		if p := winnerPos.Load(); p != uint64(round+1) {
			t.Fatalf("round %d: winner at position %d, want %d", round, p, round+1)
		}
		version = winnerPos.Load()
	}
	if n := len(readStream(t, s, stream, 0)); n != o.ConflictRounds {
		t.Fatalf("stream has %d events after %d rounds, want one per round", n, o.ConflictRounds)
	}
	t.Logf("%d rounds of %d writers in %s", o.ConflictRounds, o.ConflictWriters, time.Since(start).Round(time.Millisecond))
}

func testRetryIsIdempotent(t *testing.T, s eventstore.Store) {
	tests := []struct {
		name     string
		stream   string
		expected uint64
		events   []eventstore.Event
	}{
		{"single event with version", "app.r1", 0, []eventstore.Event{ev("r1", "t")}},
		{"batch with version", "app.r2", 0, []eventstore.Event{ev("r2a", "t"), ev("r2b", "t"), ev("r2c", "t")}},
		{"single event any version", "app.r3", eventstore.AnyVersion, []eventstore.Event{ev("r3", "t")}},
		{"batch any version", "app.r4", eventstore.AnyVersion, []eventstore.Event{ev("r4a", "t"), ev("r4b", "t")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first := mustAppend(t, s, tc.stream, tc.expected, tc.events...)
			h := head(t, s)
			// The same append again, right away and after the stream moved on:
			// the expected version is stale now, yet it is a retry.
			again := mustAppend(t, s, tc.stream, tc.expected, tc.events...)
			sameEvents(t, "retry", again, first)
			last := first[len(first)-1].Position
			mustAppend(t, s, tc.stream, last, ev(tc.stream+"-later", "t"))
			later := mustAppend(t, s, tc.stream, tc.expected, tc.events...)
			sameEvents(t, "retry after the stream moved on", later, first)
			if got := head(t, s); got != h+1 {
				t.Fatalf("Head = %d, want %d (retries store nothing)", got, h+1)
			}
			if n := len(readStream(t, s, tc.stream, 0)); n != len(tc.events)+1 {
				t.Fatalf("stream has %d events, want %d", n, len(tc.events)+1)
			}
		})
	}
}

func testIDReuseIsRejected(t *testing.T, s eventstore.Store) {
	ctx := ctxFor(t)
	mustAppend(t, s, "app.u", 0, ev("u1", "t"), ev("u2", "t"))
	h := head(t, s)
	tests := []struct {
		name     string
		stream   string
		expected uint64
		events   []eventstore.Event
	}{
		{"known ID in another stream", "app.other", 0, []eventstore.Event{ev("u1", "t")}},
		{"known ID in another stream, any version", "app.other", eventstore.AnyVersion, []eventstore.Event{ev("u1", "t")}},
		{"new and known IDs", "app.u", 2, []eventstore.Event{ev("new1", "t"), ev("u2", "t")}},
		{"new and known IDs, any version", "app.u", eventstore.AnyVersion, []eventstore.Event{ev("new2", "t"), ev("u1", "t")}},
		{"known IDs in another order", "app.u", 0, []eventstore.Event{ev("u2", "t"), ev("u1", "t")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.Append(ctx, tc.stream, tc.expected, tc.events...)
			if err == nil {
				t.Fatalf("Append succeeded with %v, want an error", positions(out))
			}
			wantConflict(t, err, "Append reusing an event ID")
			if got := head(t, s); got != h {
				t.Fatalf("Head = %d, want %d: something was stored", got, h)
			}
		})
	}
}

func testMultiEventAtomic(t *testing.T, s eventstore.Store) {
	ctx := ctxFor(t)
	mustAppend(t, s, "app.m", 0, ev("m1", "t"))
	mustAppend(t, s, "app.x", 0, ev("x1", "t"))
	batch := []eventstore.Event{ev("m2", "t"), ev("m3", "t"), ev("m4", "t")}
	_, err := s.Append(ctx, "app.m", 0, batch...)
	wantConflict(t, err, "stale multi-event append")
	if got := ids(readAll(t, s, 0, 0)); !reflect.DeepEqual(got, []string{"m1", "x1"}) {
		t.Fatalf("log after a failed batch = %v, want [m1 x1]", got)
	}
	// The IDs of the failed batch are still free.
	got := mustAppend(t, s, "app.m", 1, batch...)
	if !reflect.DeepEqual(positions(got), []uint64{3, 4, 5}) {
		t.Fatalf("batch positions = %v, want [3 4 5]", positions(got))
	}
	big := make([]eventstore.Event, 200)
	for i := range big {
		big[i] = ev(fmt.Sprintf("big%03d", i), "t")
	}
	got = mustAppend(t, s, "app.m", 5, big...)
	for i, e := range got {
		if e.Position != uint64(6+i) {
			t.Fatalf("big batch event %d at %d, want %d", i, e.Position, 6+i)
		}
	}
	if n := len(readStream(t, s, "app.m", 0)); n != 204 {
		t.Fatalf("stream has %d events, want 204", n)
	}
}

func testMetadataRoundTrips(t *testing.T, s eventstore.Store) {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	given := time.Date(2024, 2, 29, 23, 59, 58, 123456000, zone)
	in := []eventstore.Event{
		{
			ID: "meta-1", Type: "config.app.created",
			Data: []byte{0, 1, 2, 0xff, '\n', 0},
			Metadata: eventstore.Metadata{
				Actor: "Zoë Ölçer <zoe@example.com>", RequestID: "req-01HZX", Time: given,
				CausationID: "cmd-42",
			},
		},
		{ID: "meta-2", Type: "config.app.deleted", Metadata: eventstore.Metadata{Actor: "system"}},
		{ID: "meta-3", Type: "t", Data: []byte("x"), Metadata: eventstore.Metadata{Time: time.Date(2024, 1, 1, 0, 0, 0, 999, time.UTC)}},
	}
	out := mustAppend(t, s, "app.meta", 0, in...)
	if !out[0].Metadata.Time.Equal(given) || out[0].Metadata.Time.Location() != time.UTC {
		t.Fatalf("given time %v came back as %v, want the same instant in UTC", given, out[0].Metadata.Time)
	}
	if out[1].Metadata.Time.IsZero() {
		t.Fatalf("zero time not filled in")
	}
	if want := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC); !out[2].Metadata.Time.Equal(want) {
		t.Fatalf("nanoseconds: %v, want microsecond precision %v", out[2].Metadata.Time, want)
	}
	for i := range in {
		if out[i].Metadata.Actor != in[i].Metadata.Actor || out[i].Metadata.RequestID != in[i].Metadata.RequestID ||
			out[i].Metadata.CausationID != in[i].Metadata.CausationID || string(out[i].Data) != string(in[i].Data) {
			t.Fatalf("Append changed event %d: %+v", i, out[i])
		}
	}
	sameEvents(t, "ReadStream", readStream(t, s, "app.meta", 0), out)
	sameEvents(t, "ReadAll", readAll(t, s, 0, 0), out)
	var sub []eventstore.Event
	errEnough := errors.New("enough")
	err := s.Subscribe(ctxFor(t), 0, func(e eventstore.Event) error {
		sub = append(sub, e)
		if len(sub) == len(out) {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("Subscribe: %v", err)
	}
	sameEvents(t, "Subscribe", sub, out)
}

func testSubscribeRestart(t *testing.T, s eventstore.Store) {
	ctx := ctxFor(t)
	const writers, perWriter = 4, 60
	total := 0
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		// Writer w appends batches of 1, 2, 3, ... events.
		n := 0
		for size := 1; n < perWriter; size = size%3 + 1 {
			n += size
		}
		total += n
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("app.w%d", w)
			version := uint64(0)
			for i, size := 0, 1; i < n; size = size%3 + 1 {
				batch := make([]eventstore.Event, size)
				for j := range batch {
					batch[j] = ev(fmt.Sprintf("w%d-%d", w, i+j), "t")
				}
				out, err := s.Append(ctx, stream, version, batch...)
				if err != nil {
					errs <- err
					return
				}
				version = out[len(out)-1].Position
				i += size
			}
		}()
	}

	// The subscriber stops after every few events and starts again after the
	// last one it saw, while the writers go on.
	errStop := errors.New("stop")
	var seen []eventstore.Event
	last := uint64(0)
	for restarts := 0; len(seen) < total; restarts++ {
		n := 0
		stopAfter := 1 + restarts%9
		err := s.Subscribe(ctx, last, func(e eventstore.Event) error {
			if e.Position != last+1 {
				return fmt.Errorf("got position %d after %d", e.Position, last)
			}
			seen = append(seen, e)
			last = e.Position
			n++
			if n == stopAfter || len(seen) == total {
				return errStop
			}
			return nil
		})
		if !errors.Is(err, errStop) {
			t.Fatalf("Subscribe after %d: %v", last, err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	sameEvents(t, "events seen by the restarting subscriber", seen, readAll(t, s, 0, 0))
	if h := head(t, s); h != uint64(total) {
		t.Fatalf("Head = %d, want %d", h, total)
	}
	// Each writer's stream is in its own order.
	for w := 0; w < writers; w++ {
		prev := -1
		for _, e := range seen {
			if e.Stream != fmt.Sprintf("app.w%d", w) {
				continue
			}
			var i int
			fmt.Sscanf(strings.TrimPrefix(e.ID, fmt.Sprintf("w%d-", w)), "%d", &i)
			if i != prev+1 {
				t.Fatalf("stream app.w%d: event %d after %d", w, i, prev)
			}
			prev = i
		}
	}
}

func testSubscribeHandlerError(t *testing.T, s eventstore.Store) {
	mustAppend(t, s, "app.h", 0, ev("h1", "t"), ev("h2", "t"), ev("h3", "t"))
	boom := errors.New("boom")
	var got []uint64
	err := s.Subscribe(ctxFor(t), 1, func(e eventstore.Event) error {
		got = append(got, e.Position)
		if e.Position == 2 {
			return fmt.Errorf("handle %d: %w", e.Position, boom)
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Subscribe returned %v, want the handler's error", err)
	}
	if !reflect.DeepEqual(got, []uint64{2}) {
		t.Fatalf("handled %v, want [2]", got)
	}
}

func testSubscribeContext(t *testing.T, s eventstore.Store) {
	mustAppend(t, s, "app.c", 0, ev("c1", "t"))
	ctx, cancel := context.WithCancel(ctxFor(t))
	handled := make(chan eventstore.Event, 10)
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(ctx, 0, func(e eventstore.Event) error {
			handled <- e
			return nil
		})
	}()
	if e := <-handled; e.ID != "c1" {
		t.Fatalf("first event %q, want c1", e.ID)
	}
	// A live event reaches the waiting subscriber.
	mustAppend(t, s, "app.c", 1, ev("c2", "t"))
	select {
	case e := <-handled:
		if e.ID != "c2" || e.Position != 2 {
			t.Fatalf("live event %q at %d, want c2 at 2", e.ID, e.Position)
		}
	case err := <-done:
		t.Fatalf("Subscribe ended early: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatalf("live event not delivered within 30s")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Subscribe returned %v after cancel, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Subscribe did not return within 30s of cancel")
	}
}

func testInvalidInput(t *testing.T, s eventstore.Store) {
	ctx := ctxFor(t)
	mustAppend(t, s, "app.ok", 0, ev("ok1", "t"))
	tests := []struct {
		name   string
		stream string
		events []eventstore.Event
		field  string // the error must name it
	}{
		{"no events", "app.ok", nil, "events"},
		{"empty ID", "app.ok", []eventstore.Event{{Type: "t"}}, "events[0].ID"},
		{"empty type", "app.ok", []eventstore.Event{ev("x1", "t"), {ID: "x2"}}, "events[1].Type"},
		{"space in ID", "app.ok", []eventstore.Event{ev("a b", "t")}, "events[0].ID"},
		{"repeated ID", "app.ok", []eventstore.Event{ev("x3", "t"), ev("x3", "t")}, "events[1].ID"},
		{"newline in actor", "app.ok", []eventstore.Event{{ID: "x4", Type: "t", Metadata: eventstore.Metadata{Actor: "a\r\nb"}}}, "Metadata.Actor"},
		{"empty stream", "", []eventstore.Event{ev("x5", "t")}, "stream name"},
		{"leading dot", ".app", []eventstore.Event{ev("x6", "t")}, "stream name"},
		{"trailing dot", "app.", []eventstore.Event{ev("x7", "t")}, "stream name"},
		{"double dot", "app..x", []eventstore.Event{ev("x8", "t")}, "stream name"},
		{"wildcard", "app.*", []eventstore.Event{ev("x9", "t")}, "stream name"},
		{"full wildcard", "app.>", []eventstore.Event{ev("x10", "t")}, "stream name"},
		{"space", "app x", []eventstore.Event{ev("x11", "t")}, "stream name"},
		{"non-ASCII", "app.ü", []eventstore.Event{ev("x12", "t")}, "stream name"},
		{"too long", strings.Repeat("a", eventstore.MaxStreamNameLen+1), []eventstore.Event{ev("x13", "t")}, "stream name"},
		// Every store refuses what NATS could not carry (issue 11.4).
		{"data too large", "app.ok", []eventstore.Event{ev("x14", "t"), {ID: "x15", Type: "t", Data: make([]byte, eventstore.MaxDataLen+1)}},
			"events[1].Data (t): 1032193 bytes, more than the limit of 1032192"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Append(ctx, tc.stream, eventstore.AnyVersion, tc.events...)
			if !errors.Is(err, eventstore.ErrInvalid) {
				t.Fatalf("Append: error %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q does not name %s", err, tc.field)
			}
		})
	}
	if _, err := s.ReadStream(ctx, "app..x", 0); !errors.Is(err, eventstore.ErrInvalid) {
		t.Fatalf("ReadStream with a bad name: %v, want ErrInvalid", err)
	}
	if got := ids(readAll(t, s, 0, 0)); !reflect.DeepEqual(got, []string{"ok1"}) {
		t.Fatalf("log after invalid appends = %v, want [ok1]", got)
	}
}

func testClose(t *testing.T, s eventstore.Store) {
	mustAppend(t, s, "app.z", 0, ev("z1", "t"))
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(ctxFor(t), 0, func(e eventstore.Event) error {
			close(started)
			return nil
		})
	}()
	<-started
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("running Subscribe returned %v after Close, want ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("running Subscribe did not end within 30s of Close")
	}
	ctx := ctxFor(t)
	if _, err := s.Append(ctx, "app.z", 1, ev("z2", "t")); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	if _, err := s.ReadAll(ctx, 0, 0); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("ReadAll after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
