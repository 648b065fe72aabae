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
	// The slice grows to twice the bound before the oldest half is dropped
	// in place: trimming at the bound copied 1,023 entries per version,
	// which made a replay of 1M releases spend most of its time in memmove.
	if len(t.history) >= 2*maxTrackHistory {
		t.history = append(t.history[:0], t.recent()[1:]...)
	}
	t.history = append(t.history, trackVersion{version: version, at: at})
}

// recent is the newest maxTrackHistory versions of t's history.
func (t *track) recent() []trackVersion {
	return t.history[max(len(t.history)-maxTrackHistory, 0):]
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
	h := t.recent()
	for i, v := range h {
		if v.version > applied {
			return t.version, uint64(len(h) - i), max(now.Sub(v.at), 0)
		}
	}
	return t.version, 0, 0
}
