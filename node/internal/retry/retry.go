// Package retry runs the loops the ddos and purge agents share: the
// consumer session and the resend of their acknowledgements.
package retry

import (
	"context"
	"log/slog"
	"time"

	"github.com/strata-edge/strata/pkg/natsutil"
)

// The wait after a failed send doubles from Min up to Max.
const (
	Min = 250 * time.Millisecond
	Max = 10 * time.Second
)

// Loop calls send until ctx ends: after a send that left nothing it waits
// for kick, after one that did it waits for kick or the backoff.
func Loop(ctx context.Context, kick <-chan struct{}, send func(context.Context) bool) {
	backoff := Min
	for {
		if send(ctx) {
			backoff = Min
			select {
			case <-ctx.Done():
				return
			case <-kick:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, Max)
	}
}

// Sessions runs session until ctx ends: again at once when a nudge ended
// it, a second after it failed (logged as "<name>: session ended").
func Sessions(ctx context.Context, log *slog.Logger, name string, nudge <-chan struct{}, session func(context.Context) error) {
	started := time.Now()
	for ctx.Err() == nil {
		nudged, err := natsutil.UntilNudged(ctx, nudge, session)
		if nudged {
			log.Info(name + ": link to the hub is back; consumer restarted")
			continue
		}
		if err != nil && ctx.Err() == nil {
			log.Log(ctx, natsutil.RetryLevel(err, started), name+": session ended", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}
