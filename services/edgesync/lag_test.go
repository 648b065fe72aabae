package edgesync

import (
	"testing"
	"time"
)

func TestTrackHistoryIsBounded(t *testing.T) {
	tr := &track{}
	at := time.Unix(1_700_000_000, 0)
	const last = 5*maxTrackHistory + 10
	for v := uint64(1); v <= last; v++ {
		tr.remember(v, at.Add(time.Duration(v)*time.Second))
		tr.remember(v, at) // the same version twice is one entry
		if len(tr.history) > 2*maxTrackHistory {
			t.Fatalf("version %d: history holds %d entries, more than %d", v, len(tr.history), 2*maxTrackHistory)
		}
	}
	h := tr.recent()
	if len(h) != maxTrackHistory {
		t.Fatalf("history holds %d versions, want %d", len(h), maxTrackHistory)
	}
	for i, v := range h {
		if want := uint64(last - maxTrackHistory + 1 + i); v.version != want {
			t.Fatalf("kept version %d is %d, want %d", i, v.version, want)
		}
	}
	tr.version = last
	ts := &Tracks{tracks: map[Key]*track{{Partition: "p"}: tr}}
	latest, lag, _ := ts.Lag(Key{Partition: "p"}, 3, at.Add(10*time.Hour))
	if lag != maxTrackHistory || latest <= 3 {
		t.Errorf("node behind the kept history: lag %d, latest %d", lag, latest)
	}
	if _, lag, _ := ts.Lag(Key{Partition: "p"}, last-2, at.Add(10*time.Hour)); lag != 2 {
		t.Errorf("node 2 versions behind: lag %d", lag)
	}
}
