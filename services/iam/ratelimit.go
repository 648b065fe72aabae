package iam

import (
	"math"
	"sync"
	"time"
)

// LoginLimits bound password login attempts with token buckets: every
// attempt from a client address takes a token of that address's bucket,
// every failed attempt for a user name a token of that name's bucket. An
// empty bucket refuses logins (ResourceExhausted) until it refills.
type LoginLimits struct {
	// PerUserBurst failed logins for one user name, then one more per
	// PerUserEvery. Defaults: 5, 1 minute.
	PerUserBurst int
	PerUserEvery time.Duration
	// PerAddressBurst attempts from one client address, then one more per
	// PerAddressEvery. Defaults: 20, 3 seconds.
	PerAddressBurst int
	PerAddressEvery time.Duration
}

func (l LoginLimits) withDefaults() LoginLimits {
	if l.PerUserBurst <= 0 {
		l.PerUserBurst = 5
	}
	if l.PerUserEvery <= 0 {
		l.PerUserEvery = time.Minute
	}
	if l.PerAddressBurst <= 0 {
		l.PerAddressBurst = 20
	}
	if l.PerAddressEvery <= 0 {
		l.PerAddressEvery = 3 * time.Second
	}
	return l
}

type loginLimiter struct {
	users, addrs *buckets
}

func newLoginLimiter(l LoginLimits, now func() time.Time) *loginLimiter {
	l = l.withDefaults()
	return &loginLimiter{
		users: newBuckets(l.PerUserBurst, l.PerUserEvery, now),
		addrs: newBuckets(l.PerAddressBurst, l.PerAddressEvery, now),
	}
}

// buckets is a set of token buckets keyed by string, with an injected clock.
// Full buckets are dropped now and then, so memory follows the number of
// keys that failed recently, not every key ever seen.
type buckets struct {
	burst float64
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	m       map[string]*bucket
	inserts int
}

type bucket struct {
	tokens float64
	at     time.Time
}

const sweepEvery = 1024

func newBuckets(burst int, every time.Duration, now func() time.Time) *buckets {
	return &buckets{burst: float64(burst), every: every, now: now, m: map[string]*bucket{}}
}

// refill brings b up to date; callers hold mu.
func (bs *buckets) refill(b *bucket, now time.Time) {
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = math.Min(bs.burst, b.tokens+float64(elapsed)/float64(bs.every))
		b.at = now
	}
}

// wait returns how long until key has a token (0: it has one now).
func (bs *buckets) wait(key string) time.Duration {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.m[key]
	if b == nil {
		return 0
	}
	bs.refill(b, bs.now())
	return bs.waitLocked(b)
}

func (bs *buckets) waitLocked(b *bucket) time.Duration {
	if b.tokens >= 1 {
		return 0
	}
	d := time.Duration((1 - b.tokens) * float64(bs.every))
	return max(d.Round(time.Second), time.Second)
}

// take removes a token from key's bucket; when there is none it returns how
// long to wait instead.
func (bs *buckets) take(key string) time.Duration {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	now := bs.now()
	b := bs.m[key]
	if b == nil {
		bs.sweepLocked(now)
		b = &bucket{tokens: bs.burst, at: now}
		bs.m[key] = b
	}
	bs.refill(b, now)
	if d := bs.waitLocked(b); d > 0 {
		return d
	}
	b.tokens--
	return 0
}

func (bs *buckets) sweepLocked(now time.Time) {
	bs.inserts++
	if bs.inserts%sweepEvery != 0 {
		return
	}
	for k, b := range bs.m {
		bs.refill(b, now)
		if b.tokens >= bs.burst {
			delete(bs.m, k)
		}
	}
}
