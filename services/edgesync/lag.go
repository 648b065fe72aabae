package edgesync

import "time"

// maxTrackHistory bounds the versions a track remembers for lag figures; a
// node further behind shows this many releases behind (at least).
const maxTrackHistory = 1024

// trackVersion is one version of a track and when it was made.
type trackVersion struct {
	version uint64
	at      time.Time
}

// remember records a new version of t (called with the write lock held).
func (t *track) remember(version uint64, at time.Time) {
	if n := len(t.history); n > 0 && t.history[n-1].version == version {
		return
	}
	if len(t.history) >= maxTrackHistory {
		t.history = append(t.history[:0:0], t.history[len(t.history)-maxTrackHistory+1:]...)
	}
	t.history = append(t.history, trackVersion{version: version, at: at})
}

// Lag tells how far a node of track k running version applied is behind:
// the track's newest version, the versions after applied and the time since
// the first of them (zero when in step or the track does not exist).
func (ts *Tracks) Lag(k Key, applied uint64, now time.Time) (latest, versions uint64, behind time.Duration) {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	t := ts.tracks[k]
	if t == nil {
		return 0, 0, 0
	}
	for i, v := range t.history {
		if v.version > applied {
			return t.version, uint64(len(t.history) - i), max(now.Sub(v.at), 0)
		}
	}
	return t.version, 0, 0
}
