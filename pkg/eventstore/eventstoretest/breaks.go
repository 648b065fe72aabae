package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// SubscribeSurvives checks that a subscription from the start of s's log
// goes on through rounds breaks without losing or repeating an event: after
// the first five events arrive, each round calls brk (which breaks what the
// adapter subscribes with, as a server or network fault would) and appends
// five more, which must arrive within wait.
func SubscribeSurvives(t *testing.T, s eventstore.Store, rounds int, wait time.Duration, brk func(ctx context.Context, round int)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var mu sync.Mutex
	var seen []uint64
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(ctx, 0, func(e eventstore.Event) error {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, e.Position)
			return nil
		})
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	for round := 0; round <= rounds; round++ {
		if round > 0 {
			brk(ctx, round)
		}
		for i := range 5 {
			if _, err := s.Append(ctx, "app.r", eventstore.AnyVersion, eventstore.Event{ID: fmt.Sprintf("r%d-%d", round, i), Type: "t"}); err != nil {
				t.Fatal(err)
			}
		}
		natstest.CheckFor(t, wait, 10*time.Millisecond, func() error {
			if n := count(); n < 5*(round+1) {
				return fmt.Errorf("%d events seen, want %d", n, 5*(round+1))
			}
			return nil
		})
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, p := range seen {
		if p != uint64(i+1) {
			t.Fatalf("seen %v: not each position once in order", seen)
		}
	}
}

// JetStream is an event store on a JetStream server of its own, closed when
// t ends, with the connection and the JetStream context behind it.
func JetStream(t testing.TB) (*eventstore.JetStreamStore, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc := natstest.Connect(t, natstest.RunServer(t))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := eventstore.NewJetStream(context.Background(), js, eventstore.JetStreamOptions{})
	if err != nil {
		t.Fatalf("NewJetStream: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, nc, js
}
