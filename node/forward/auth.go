package forward

import (
	"crypto/sha256"
	"errors"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/strata-edge/strata/pkg/passhash"
)

// Authentication: passhash.Verify costs ~30 ms of CPU and 19 MiB, so
// successful verifications are cached per compiled app (keyed by the
// username and the password's SHA-256, bounded), at most verifyConcurrency
// run at once, and a client IP (IPv6: its /64) that fails too often is
// refused without verifying anything until its budget refills.

var (
	errAuthFailed  = errors.New("authentication failed")
	errRateLimited = errors.New("too many failed authentications from this client")
)

func verifyConcurrency() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// dummyHash is verified for unknown usernames, so that a wrong username
// costs what a wrong password does (no user enumeration by timing).
var dummyHash = sync.OnceValue(func() string { return passhash.Hash("strata-forward-unknown-user", passhash.Default) })

// authenticate checks a username and password against a's credentials.
func (f *Forwarder) authenticate(a *app, client netip.Addr, name, password string) (*user, error) {
	if !f.limiter.allow(client) {
		return nil, errRateLimited
	}
	key := credKey(name, password)
	a.cacheMu.Lock()
	u, ok := a.cache[key]
	a.cacheMu.Unlock()
	if ok {
		return u, nil
	}
	u = a.users[name]
	hash := dummyHash()
	if u != nil {
		hash = u.hash
	}
	t := time.NewTimer(HandshakeTimeout)
	select {
	case f.verify <- struct{}{}:
		t.Stop()
	case <-t.C:
		return nil, errAuthFailed
	}
	// Clients that waited here with the same credentials while another
	// verified them find the result cached instead of verifying again.
	a.cacheMu.Lock()
	cached, ok := a.cache[key]
	a.cacheMu.Unlock()
	if ok {
		<-f.verify
		return cached, nil
	}
	good, err := passhash.Verify(hash, password)
	<-f.verify
	if err != nil || !good || u == nil {
		f.limiter.fail(client)
		return nil, errAuthFailed
	}
	a.cacheMu.Lock()
	if len(a.cache) >= maxVerifyCache {
		clear(a.cache)
	}
	a.cache[key] = u
	a.cacheMu.Unlock()
	return u, nil
}

func credKey(name, password string) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte{byte(len(name))})
	h.Write([]byte(name))
	h.Write([]byte(password))
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// failLimiter is a token bucket of failed authentications per client
// (IPv4 address or IPv6 /64): failBurst failures, then one more every
// failRefill.
type failLimiter struct {
	mu      sync.Mutex
	buckets map[netip.Prefix]*failBucket
	now     func() time.Time
}

type failBucket struct {
	tokens float64
	at     time.Time
}

const (
	failBurst      = 10
	failRefill     = 6 * time.Second
	maxFailClients = 65536
)

func newFailLimiter() *failLimiter {
	return &failLimiter{buckets: map[netip.Prefix]*failBucket{}, now: time.Now}
}

func clientPrefix(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

func (l *failLimiter) refill(b *failBucket, now time.Time) {
	b.tokens = min(failBurst, b.tokens+float64(now.Sub(b.at))/float64(failRefill))
	b.at = now
}

// allow reports whether the client has failures left.
func (l *failLimiter) allow(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[clientPrefix(ip)]
	if b == nil {
		return true
	}
	l.refill(b, l.now())
	return b.tokens >= 1
}

// fail takes one token of the client's.
func (l *failLimiter) fail(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	k := clientPrefix(ip)
	b := l.buckets[k]
	if b == nil {
		if len(l.buckets) >= maxFailClients {
			l.sweep(now)
		}
		b = &failBucket{tokens: failBurst, at: now}
		l.buckets[k] = b
	}
	l.refill(b, now)
	b.tokens = max(0, b.tokens-1)
}

// sweep drops full buckets (clients that have not failed lately), and when
// none is full, half of the map (Go's map order is random).
func (l *failLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= failBurst {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < maxFailClients/2 {
			break
		}
		delete(l.buckets, k)
	}
}
