package natsutil

import (
	"context"
	"time"
)

// LinkPoll is how often WatchLink reads the link id.
const LinkPoll = 50 * time.Millisecond

// WatchLink calls onNew each time linkID reports a new link to the hub (an
// id other than 0 and the last one read) until ctx ends. The node's agents
// (sync, purge) use it to restart their consumers as soon as the leaf link
// is back, rather than after a missed heartbeat: deliveries may have been
// lost on the old link. An id rather than up/down, so that a drop shorter
// than the poll interval is noticed too.
func WatchLink(ctx context.Context, linkID func() uint64, onNew func(id uint64)) {
	t := time.NewTicker(LinkPoll)
	defer t.Stop()
	link := linkID()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := linkID()
		if now != 0 && now != link {
			onNew(now)
		}
		link = now
	}
}

// UntilNudged runs session with a context that also ends at the next
// receive from nudge. It reports whether the nudge (not ctx) ended it.
func UntilNudged(ctx context.Context, nudge <-chan struct{}, session func(context.Context) error) (nudged bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-nudge:
			cancel()
		case <-sctx.Done():
		}
	}()
	err = session(sctx)
	return sctx.Err() != nil && ctx.Err() == nil, err
}
