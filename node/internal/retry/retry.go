// Package retry runs the resend loop the ddos and purge agents share for
// their acknowledgements.
package retry

import (
	"context"
	"time"
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
