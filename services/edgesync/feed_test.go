package edgesync

import (
	"log/slog"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/eventstore"
)

// folderFunc is a contributor whose Handle is f.
type folderFunc func(eventstore.Event) error

func (f folderFunc) Handle(e eventstore.Event) error { return f(e) }
func (folderFunc) Applied() uint64                   { return 0 }

// The publisher takes deltas only between events: a second contributor's
// changes at the position the first one moved the track to join that
// version's delta, however the publisher's take falls in between (it used to
// take the first half, and the second half reached nodes only through the
// next snapshot, though the version was the same).
func TestTakeWaitsForTheWholeEvent(t *testing.T) {
	ts := New(slog.New(slog.DiscardHandler), true, clusters())
	ts.Ensure("p1")
	at := time.Unix(1_700_000_000, 0)
	firstDone, proceed := make(chan struct{}), make(chan struct{})
	ts.Contribute(folderFunc(func(e eventstore.Event) error {
		ts.Apply(e.Position, at, Change{Kind: "cluster", ID: "c1", Values: Everywhere(&configv1.Cluster{Id: "c1"}, []string{"p1"})})
		close(firstDone)
		return nil
	}))
	ts.Contribute(folderFunc(func(e eventstore.Event) error {
		<-proceed
		ts.Apply(e.Position, at, Change{Kind: "cluster", ID: "c2", Values: Everywhere(&configv1.Cluster{Id: "c2"}, []string{"p1"})})
		return nil
	}))
	go ts.handle(eventstore.Event{Position: 4, Type: "test"})
	<-firstDone
	taken := make(chan []*syncv1.Delta, 1)
	go func() { taken <- ts.Take(Key{Partition: "p1"}) }()
	var got []*syncv1.Delta
	select {
	case got = <-taken: // taken mid-event
	case <-time.After(200 * time.Millisecond):
	}
	close(proceed)
	if got == nil {
		got = <-taken
	}
	if s := summary(got); s != "p1 +cluster/c1 +cluster/c2" {
		t.Fatalf("deltas taken during an event: %q, want both changes of position 4 in one delta", s)
	}
}
