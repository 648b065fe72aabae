package eventstore

import (
	"context"
	"log/slog"
	"time"
)

// Follow keeps a projection subscribed to the global log until ctx ends: it
// subscribes after the position the projection has applied (from()), and when
// the subscription ends with an error it logs it and resubscribes with a
// capped backoff, so a broken link or a restarted server never stops a
// service's read model for good.
func Follow(ctx context.Context, store Store, from func() uint64, handle func(Event) error, log *slog.Logger) {
	backoff := 100 * time.Millisecond
	for {
		err := store.Subscribe(ctx, from(), handle)
		if ctx.Err() != nil {
			return
		}
		if log != nil {
			log.Error("event subscription ended; resubscribing", "err", err, "after", from())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
