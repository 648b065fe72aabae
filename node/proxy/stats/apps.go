package stats

import (
	"maps"
	"sync"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
)

// Apps is the counters of every app of a running config, by app id, safe
// for concurrent use: the proxy and the stream keep one each.
type Apps struct {
	perSecond bool
	mu        sync.Mutex
	m         map[string]*App
}

// NewApps makes an empty Apps whose apps keep per-second aggregates when
// perSecond is set.
func NewApps(perSecond bool) *Apps { return &Apps{perSecond: perSecond, m: map[string]*App{}} }

// For returns the counters of app id, made on first use.
func (s *Apps) For(id string) *App {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.m[id]
	if a == nil {
		a = NewApp(s.perSecond)
		s.m[id] = a
	}
	return a
}

// Prune drops the counters of every app keep says is gone.
func (s *Apps) Prune(keep func(id string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.m {
		if !keep(id) {
			delete(s.m, id)
		}
	}
}

// Delete drops the counters of the apps ids.
func (s *Apps) Delete(ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		delete(s.m, id)
	}
}

// Snapshots returns the counters of every app.
func (s *Apps) Snapshots() map[string]Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Snapshot, len(s.m))
	for id, a := range s.m {
		out[id] = a.Snapshot()
	}
	return out
}

// TakeSeconds appends the finished per-second aggregates of every app
// (seconds before before, Unix time) to out, with how many seconds were
// dropped because none took them in time.
func (s *Apps) TakeSeconds(before int64, out []*metricsv1.AppSecond) ([]*metricsv1.AppSecond, uint64) {
	s.mu.Lock()
	apps := maps.Clone(s.m)
	s.mu.Unlock()
	var dropped uint64
	for id, a := range apps {
		var d uint64
		out, d = a.TakeSeconds(id, before, out)
		dropped += d
	}
	return out, dropped
}
