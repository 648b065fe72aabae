package edgesync

import (
	"context"
	"time"

	"github.com/strata-edge/strata/pkg/eventstore"
)

// Folder is a content service's read model. It folds every event of the
// global log, in log order, and sends the changes an event makes to the
// tracks (Apply) while it folds it.
type Folder interface {
	Handle(eventstore.Event) error
	Applied() uint64
}

// Contribute adds a content service's read model and the kinds it sends;
// call it before Follow. Folders see each event in the order they were
// added, so one that reads another's state (dns reads config's nodes) comes
// after it.
func (ts *Tracks) Contribute(f Folder, kinds ...Kind) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.folders = append(ts.folders, f)
	ts.kinds = append(ts.kinds, kinds...)
}

// Watch calls f after every Apply that added, changed or removed objects of
// kind on some track, with their ids: a kind that follows another
// (certificates go where their apps are) moves with it. f may Apply changes
// of its own; at the same position they join the same version.
func (ts *Tracks) Watch(kind string, f func(pos uint64, at time.Time, ids []string)) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.watchers = append(ts.watchers, watcher{kind, f})
}

type watcher struct {
	kind string
	f    func(pos uint64, at time.Time, ids []string)
}

// Follow hands the global log to every folder in one subscription until ctx
// ends: the tracks see the changes of the log in log order whichever
// service sends them, so two control planes folding the same log build
// equal tracks. Applied and CatchUp tell how far it got.
func (ts *Tracks) Follow(ctx context.Context, store eventstore.Store) {
	eventstore.Follow(ctx, store, ts.feed.Applied, ts.handle, ts.logger)
}

// CatchUp waits until every folder has folded the log as it is now (the
// tracks hold every change stored so far).
func (ts *Tracks) CatchUp(ctx context.Context, store eventstore.Store) error {
	return ts.feed.CatchUp(ctx, store)
}

// WaitFor waits until every folder has folded the event at pos.
func (ts *Tracks) WaitFor(ctx context.Context, pos uint64) error { return ts.feed.WaitFor(ctx, pos) }

func (ts *Tracks) handle(e eventstore.Event) error {
	ts.fold.Lock()
	defer ts.fold.Unlock()
	for _, f := range ts.folders {
		if err := f.Handle(e); err != nil {
			// One service refusing an event must not stop the others.
			ts.logger.Error("skip event", "position", e.Position, "type", e.Type, "err", err)
		}
	}
	ts.feed.Advance(e.Position)
	return nil
}
