// Package netguard admits or refuses client connections of stream and
// forward-proxy apps (configv1.AccessControl) before any byte is forwarded.
//
// Rules, in order:
//
//  1. deny_cidrs: a client in one is refused ("denied");
//  2. allow_cidrs: when not empty, a client in none is refused ("not_allowed");
//  3. connections_per_second: a token bucket per client IP with burst
//     (0 = the rate) refuses a client that connects too fast ("rate");
//  4. max_connections_per_ip: a client with that many open connections is
//     refused ("too_many") until one of them calls its release func.
//
// IPv4-mapped IPv6 addresses (::ffff:192.0.2.1) count as their IPv4 address,
// and an address zone is ignored.
//
// Per-IP state (bucket and open count) lives in a table bounded to
// DefaultMaxIPs addresses (NewSized picks another bound), split in shards with
// a least-recently-used list each. When a shard is full the least recently
// used address without open connections is forgotten (a forgotten address
// starts again with a full bucket), so a flood of spoofed sources costs a
// bounded amount of memory. When every address of a full shard near the tail
// still has open connections, a new address is refused ("table_full"):
// limits are never bypassed by exhausting the table.
//
// Carry hands the table (open counts and buckets) of the guard a config
// swap replaces to the new guard, so connections opened under the old
// config still count against the new limits and their release funcs still
// decrement the right counters.
package netguard

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
)

// Refusal reasons returned by Admit, short words for metrics labels and logs.
const (
	ReasonDenied     = "denied"
	ReasonNotAllowed = "not_allowed"
	ReasonRate       = "rate"
	ReasonTooMany    = "too_many"
	ReasonTableFull  = "table_full"
)

// DefaultMaxIPs is the bound of the per-IP table New uses.
const DefaultMaxIPs = 100_000

// MaxCIDRs is the most entries allow_cidrs or deny_cidrs may hold.
const MaxCIDRs = 10_000

const (
	nShards = 64
	// evictScan is how many entries from a full shard's LRU tail are looked
	// at for one without open connections.
	evictScan = 32
)

// Guard is the compiled AccessControl of one app. Its methods are safe for
// concurrent use (Carry excepted: call it before the guard is shared).
type Guard struct {
	allow, deny prefixSet
	// ratePerNs > 0 when connections_per_second is set; burst is the bucket size.
	ratePerNs float64
	burst     float64
	maxOpen   int32
	// tab holds per-IP state; nil when neither rate nor maxOpen is set and
	// nothing was carried.
	tab *table
}

var noop = func() {}

// New compiles ac; nil admits every client. A bad CIDR is an
// apierr.Invalid error naming the field ("access.deny_cidrs[1]").
func New(ac *configv1.AccessControl) (*Guard, error) {
	return NewSized(ac, DefaultMaxIPs)
}

// NewSized is New with a bound of maxIPs client addresses in the per-IP
// table (<= 0 takes DefaultMaxIPs).
func NewSized(ac *configv1.AccessControl, maxIPs int) (*Guard, error) {
	g := &Guard{}
	if ac == nil {
		return g, nil
	}
	var f apierr.Fields
	g.allow = parseCIDRs(&f, "access.allow_cidrs", ac.GetAllowCidrs())
	g.deny = parseCIDRs(&f, "access.deny_cidrs", ac.GetDenyCidrs())
	if err := f.Err(); err != nil {
		return nil, err
	}
	if r := ac.GetConnectionsPerSecond(); r > 0 {
		g.ratePerNs = float64(r) / 1e9
		g.burst = float64(r)
		if b := ac.GetBurst(); b > 0 {
			g.burst = float64(b)
		}
	}
	if m := ac.GetMaxConnectionsPerIp(); m > 0 {
		g.maxOpen = int32(min(m, 1<<30))
	}
	if g.ratePerNs > 0 || g.maxOpen > 0 {
		g.tab = newTable(maxIPs)
	}
	return g, nil
}

func parseCIDRs(f *apierr.Fields, field string, in []string) prefixSet {
	if len(in) > MaxCIDRs {
		f.Addf(field, "%d entries, at most %d", len(in), MaxCIDRs)
		return prefixSet{}
	}
	out := make([]netip.Prefix, 0, len(in))
	for i, s := range in {
		p, err := parsePrefix(s)
		if err != nil {
			f.Addf(fmt.Sprintf("%s[%d]", field, i), "%q is not a CIDR (e.g. 203.0.113.0/24 or 2001:db8::/32)", s)
			continue
		}
		out = append(out, p)
	}
	return newPrefixSet(out)
}

// parsePrefix reads "203.0.113.0/24" (host bits are cleared) or a bare
// address (one host); IPv4-mapped IPv6 prefixes become IPv4 prefixes.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("bad address")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// prefixSet answers "is ip in one of these networks": a linear scan for a
// few prefixes, else one map lookup per distinct prefix length of the
// address's family (at most 33 or 129, usually a handful).
type prefixSet struct {
	list   []netip.Prefix
	byLen4 []lenSet
	byLen6 []lenSet
}

type lenSet struct {
	bits int
	set  map[netip.Prefix]struct{}
}

const linearPrefixes = 16

func newPrefixSet(ps []netip.Prefix) prefixSet {
	if len(ps) <= linearPrefixes {
		return prefixSet{list: ps}
	}
	var s prefixSet
	add := func(sets []lenSet, p netip.Prefix) []lenSet {
		for i := range sets {
			if sets[i].bits == p.Bits() {
				sets[i].set[p] = struct{}{}
				return sets
			}
		}
		return append(sets, lenSet{bits: p.Bits(), set: map[netip.Prefix]struct{}{p: {}}})
	}
	for _, p := range ps {
		if p.Addr().Is4() {
			s.byLen4 = add(s.byLen4, p)
		} else {
			s.byLen6 = add(s.byLen6, p)
		}
	}
	return s
}

func (s *prefixSet) empty() bool {
	return len(s.list) == 0 && len(s.byLen4) == 0 && len(s.byLen6) == 0
}

func (s *prefixSet) contains(ip netip.Addr) bool {
	for _, p := range s.list {
		if p.Contains(ip) {
			return true
		}
	}
	sets := s.byLen6
	if ip.Is4() {
		sets = s.byLen4
	}
	for _, ls := range sets {
		p, err := ip.Prefix(ls.bits)
		if err != nil {
			continue
		}
		if _, ok := ls.set[p]; ok {
			return true
		}
	}
	return false
}

// Admit decides whether a connection from ip may proceed. When ok, the
// caller must call release once the connection ends (calling it again does
// nothing); when refused, reason says which rule refused and release is nil.
// With max_connections_per_ip set, an admitted connection costs one small
// allocation (its release ticket); otherwise a known IP admits without any.
func (g *Guard) Admit(ip netip.Addr) (release func(), reason string, ok bool) {
	ip = ip.Unmap().WithZone("")
	if g.deny.contains(ip) {
		return nil, ReasonDenied, false
	}
	if !g.allow.empty() && !g.allow.contains(ip) {
		return nil, ReasonNotAllowed, false
	}
	if g.ratePerNs == 0 && g.maxOpen == 0 {
		return noop, "", true
	}
	return g.tab.admit(g, ip)
}

// Carry makes g continue prev's per-IP table: open connection counts of
// connections admitted by prev (their release funcs keep working) and rate
// buckets. Call it on a new guard before it admits anything, when a config
// swap keeps the app's listener; prev may then be dropped. The table's
// bound stays prev's. A nil prev, or one without a table, changes nothing.
// Connections admitted while a guard without max_connections_per_ip was in
// force are not counted by later guards.
func (g *Guard) Carry(prev *Guard) {
	if prev == nil || prev == g || prev.tab == nil {
		return
	}
	g.tab = prev.tab
}

// Open is the number of open (admitted, not released) connections counted
// for ip; 0 when the guard does not count them.
func (g *Guard) Open(ip netip.Addr) int {
	if g.tab == nil {
		return 0
	}
	ip = ip.Unmap().WithZone("")
	sh := g.tab.shard(ip)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[ip]; e != nil {
		return int(e.open)
	}
	return 0
}

// Tracked is the number of client addresses in the per-IP table.
func (g *Guard) Tracked() int {
	if g.tab == nil {
		return 0
	}
	n := 0
	for i := range g.tab.shards {
		sh := &g.tab.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// table is the bounded per-IP state shared by guards of one listener
// across config swaps.
type table struct {
	perShard int
	start    time.Time
	// now is nanoseconds since start; a field so tests can drive the clock.
	now    func() int64
	shards [nShards]shard
}

type shard struct {
	mu sync.Mutex
	m  map[netip.Addr]*entry
	// LRU list: head is the most recently used.
	head, tail *entry
	_          [40]byte // keep shards' locks on separate cache lines
}

type entry struct {
	ip         netip.Addr
	tokens     float64
	last       int64 // table clock at the last refill
	open       int32
	prev, next *entry
}

func newTable(maxIPs int) *table {
	if maxIPs <= 0 {
		maxIPs = DefaultMaxIPs
	}
	t := &table{perShard: max(1, (maxIPs+nShards-1)/nShards), start: time.Now()}
	t.now = func() int64 { return int64(time.Since(t.start)) }
	for i := range t.shards {
		t.shards[i].m = make(map[netip.Addr]*entry)
	}
	return t
}

func (t *table) shard(ip netip.Addr) *shard {
	b := ip.As16()
	var h uint64 = 14695981039346656037
	for _, c := range b[8:] { // the host half varies most, IPv4 lives there
		h ^= uint64(c)
		h *= 1099511628211
	}
	for _, c := range b[:8] {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return &t.shards[h%nShards]
}

func (t *table) admit(g *Guard, ip netip.Addr) (func(), string, bool) {
	sh := t.shard(ip)
	now := t.now()
	sh.mu.Lock()
	e := sh.m[ip]
	if e == nil {
		if e = sh.insert(t.perShard, ip); e == nil {
			sh.mu.Unlock()
			return nil, ReasonTableFull, false
		}
		e.tokens = g.burst
		e.last = now
	} else {
		sh.touch(e)
	}
	if g.ratePerNs > 0 {
		if d := now - e.last; d > 0 {
			e.tokens = min(g.burst, e.tokens+float64(d)*g.ratePerNs)
			e.last = now
		}
		// A bucket carried from a config with a bigger burst.
		e.tokens = min(e.tokens, g.burst)
		if e.tokens < 1 {
			sh.mu.Unlock()
			return nil, ReasonRate, false
		}
		e.tokens--
	}
	if g.maxOpen == 0 {
		sh.mu.Unlock()
		return noop, "", true
	}
	if e.open >= g.maxOpen {
		sh.mu.Unlock()
		return nil, ReasonTooMany, false
	}
	e.open++
	sh.mu.Unlock()
	tk := &ticket{sh: sh, e: e}
	return tk.release, "", true
}

// insert adds ip (the caller holds the lock), forgetting the least recently
// used address without open connections when the shard is full; nil when
// none of the evictScan oldest can go.
func (sh *shard) insert(limit int, ip netip.Addr) *entry {
	var e *entry
	if len(sh.m) >= limit {
		n := 0
		for c := sh.tail; c != nil && n < evictScan; c, n = c.prev, n+1 {
			if c.open == 0 {
				e = c
				break
			}
		}
		if e == nil {
			return nil
		}
		sh.unlink(e)
		delete(sh.m, e.ip)
		*e = entry{}
	} else {
		e = &entry{}
	}
	e.ip = ip
	sh.m[ip] = e
	sh.pushFront(e)
	return e
}

func (sh *shard) touch(e *entry) {
	if sh.head == e {
		return
	}
	sh.unlink(e)
	sh.pushFront(e)
}

func (sh *shard) unlink(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		sh.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		sh.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (sh *shard) pushFront(e *entry) {
	e.next = sh.head
	e.prev = nil
	if sh.head != nil {
		sh.head.prev = e
	}
	sh.head = e
	if sh.tail == nil {
		sh.tail = e
	}
}

// ticket is one admitted connection's claim on its address's open count.
// Entries with open connections are never evicted, so e stays valid.
type ticket struct {
	sh   *shard
	e    *entry
	done atomic.Bool
}

func (tk *ticket) release() {
	if !tk.done.CompareAndSwap(false, true) {
		return
	}
	tk.sh.mu.Lock()
	tk.e.open--
	tk.sh.mu.Unlock()
}
