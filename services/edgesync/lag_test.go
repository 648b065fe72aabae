package edgesync

import (
	"testing"
	"time"
)

func TestTrackHistoryIsBounded(t *testing.T) {
	tr := &track{}
	at := time.Unix(1_700_000_000, 0)
	for v := uint64(1); v <= maxTrackHistory+10; v++ {
		tr.remember(v, at.Add(time.Duration(v)*time.Second))
		tr.remember(v, at) // the same version twice is one entry
	}
	if len(tr.history) != maxTrackHistory {
		t.Fatalf("history holds %d versions, want %d", len(tr.history), maxTrackHistory)
	}
	if first := tr.history[0].version; first != 11 {
		t.Fatalf("oldest kept version %d, want 11", first)
	}
	tr.version = maxTrackHistory + 10
	ts := &Tracks{tracks: map[Key]*track{{Partition: "p"}: tr}}
	latest, lag, _ := ts.Lag(Key{Partition: "p"}, 3, at.Add(time.Hour))
	if lag != maxTrackHistory || latest <= 3 {
		t.Errorf("node behind the kept history: lag %d, latest %d", lag, latest)
	}
}
