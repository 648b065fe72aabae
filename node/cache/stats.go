package cache

import "sync/atomic"

// Indexes of counters.status, in the order of StatusNames.
const (
	statusHit = iota
	statusMiss
	statusExpired
	statusStale
	statusBypass
	statusKinds
)

// StatusNames are the cache statuses Stats counts, in Stats.Requests order.
var StatusNames = [statusKinds]string{StatusHit, StatusMiss, StatusExpired, StatusStale, StatusBypass}

// counters are written once per request (one atomic add, no lock) and read
// by Stats at scrape time.
type counters struct {
	status         [statusKinds]atomic.Uint64
	purges, purged atomic.Uint64
}

// Stats are the cache's counters since it was opened.
type Stats struct {
	// Requests counts answers by cache status, indexed like StatusNames.
	Requests [statusKinds]uint64
	// Purges counts purge commands applied; Purged the objects they
	// deleted or marked stale.
	Purges, Purged uint64
	// Objects is the number of stored objects now.
	Objects int
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	var s Stats
	for i := range c.counts.status {
		s.Requests[i] = c.counts.status[i].Load()
	}
	s.Purges, s.Purged = c.counts.purges.Load(), c.counts.purged.Load()
	s.Objects = c.Len()
	return s
}

// CountBypass counts a request a rule sent past the cache that the server
// answered without calling Do (Do counts its own bypasses).
func (c *Cache) CountBypass() { c.counts.status[statusBypass].Add(1) }
