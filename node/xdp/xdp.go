// Package xdp is the node's DDoS filter: an XDP program (filter.c, built with
// bpf2go) attached to the interfaces the node names, driven through its maps.
// Policies and blocks change the maps in place; the program is loaded once
// per Attach and never reloaded. docs/ddos.md describes what it drops.
package xdp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Reasons are the counter names, in the order of filter.c's enum reason.
var Reasons = []string{
	"passed", "allow_listed", "denied_cidr", "blocked_ttl",
	"syn_rate", "dns_rate", "icmp_rate", "malformed", "fragment",
	"syn_cookie_sent", "syn_cookie_ack_ok",
}

// Limits of what the maps hold (filter.c's max_entries) and of the inputs.
const (
	MaxDenyEntries  = 1_000_000 // per address family, policy and blocks together
	MaxAllowEntries = 65_536    // per address family, policy and Options.Allow together
	MaxRate         = 100_000_000
	MaxBlockTTL     = 30 * 24 * time.Hour
	maxIfaces       = 64
)

// RateLimit is a per-source packet rate: PacketsPerSecond sustained and Burst
// packets at once. PacketsPerSecond 0 turns the limit off.
type RateLimit struct {
	PacketsPerSecond, Burst uint32
}

// Policy is what the filter drops. Allow wins over everything; Deny drops by
// source prefix; SYN (TCP SYN without ACK), DNS (UDP to port 53) and ICMP
// (ICMP and ICMPv6 echo requests) are per-source rate limits.
type Policy struct {
	Deny, Allow    []netip.Prefix
	SYN, DNS, ICMP RateLimit
	// DropMalformed drops frames whose Ethernet, IP, TCP, UDP or ICMP
	// header is cut short or inconsistent; off, they are counted and pass.
	DropMalformed bool
	// DropFragments drops IPv4 and IPv6 fragments (first and later ones).
	DropFragments bool
	// SYNCookies answers a SYN (IPv4 or IPv6) over the SYN limit with a SYN-ACK
	// carrying the kernel's syncookie (XDP_TX) instead of dropping it, so a
	// real client over the limit still connects while the flood never
	// reaches the listener's SYN queue. It needs the SYN limit, and sets
	// net.ipv4.tcp_syncookies=2 in the node's network namespace while on
	// (restored when turned off and on Close); when the node cannot set it,
	// SYNCookieError says why and the SYNs over the limit are dropped.
	SYNCookies bool
}

// Mode selects how the program is attached.
type Mode int

const (
	// ModeAuto tries the driver (native) first and falls back to generic.
	ModeAuto Mode = iota
	ModeNative
	ModeGeneric
)

// Options configure Attach.
type Options struct {
	// Allow are prefixes that always pass whatever the policy says (the
	// node's hub and tier peers), so a policy cannot cut the node off.
	Allow  []netip.Prefix
	Mode   Mode
	Logger *slog.Logger
	// SweepInterval is how often expired blocks are removed from the maps
	// (they stop dropping at their deadline regardless); 0 means 1 s.
	SweepInterval time.Duration
}

// IfaceStatus is one interface's attachment: Mode "native" or "generic", or
// Error saying why it is not attached.
type IfaceStatus struct {
	Name  string
	Mode  string
	Error string
}

// Filter is the loaded program and its attachments. Its methods are safe for
// concurrent use.
type Filter struct {
	log *slog.Logger

	// mu orders the writers (Apply, Block, the sweep, Close); objMu only
	// guards the objects' lifetime, so Counters does not wait behind a
	// long Apply (a million prefixes take seconds).
	mu     sync.Mutex
	objMu  sync.RWMutex
	objs   filterObjects
	links  []link.Link
	status []IfaceStatus // set in Attach, never changed
	closed bool          // under both locks

	base   []netip.Prefix
	policy Policy
	// timed holds the Block deadlines (CLOCK_MONOTONIC ns, the clock of
	// bpf_ktime_get_ns).
	timed map[netip.Prefix]uint64
	// perm is the policy's deny set; timedCur the blocks written to the
	// tries (with their effective deadlines); allowCur and denyCur what the
	// tries hold, so updates write only the difference.
	perm     map[netip.Prefix]struct{}
	perm4    int // IPv4 prefixes in perm (the rest are IPv6)
	timedCur map[netip.Prefix]uint64
	allowCur map[netip.Prefix]struct{}
	denyCur  map[netip.Prefix]uint64

	// sysctl is net.ipv4.tcp_syncookies of the namespace Attach ran in
	// (opened there: writes through it go to that namespace whatever
	// thread Apply runs on); nil with sysctlErr when it cannot be opened.
	sysctl     *os.File
	sysctlErr  error
	sysctlOrig string // its value before the filter changed it; "" = unchanged
	cookieErr  string // why Policy.SYNCookies is not in effect

	stop chan struct{}
	done chan struct{}
}

const syncookiesSysctl = "/proc/sys/net/ipv4/tcp_syncookies"

// Attach loads the program and attaches it to each interface. It returns an
// error when the program cannot be loaded (no privileges, no BPF in the
// kernel) or when no interface could be attached; otherwise Status says how
// each one went. The initial policy passes everything.
func Attach(ifaces []string, opts Options) (*Filter, error) {
	if len(ifaces) == 0 {
		return nil, errors.New("xdp: no interface named")
	}
	if len(ifaces) > maxIfaces {
		return nil, fmt.Errorf("xdp: %d interfaces: at most %d", len(ifaces), maxIfaces)
	}
	seen := map[string]bool{}
	for i, name := range ifaces {
		if name == "" || len(name) >= unix.IFNAMSIZ || strings.ContainsAny(name, "/ \t\n") {
			return nil, fmt.Errorf("xdp: interface[%d] %q: not an interface name", i, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("xdp: interface %q named twice", name)
		}
		seen[name] = true
	}
	if err := checkPrefixes("Options.Allow", opts.Allow); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	f := &Filter{
		log:      log,
		base:     canonical(opts.Allow),
		timed:    map[netip.Prefix]uint64{},
		perm:     map[netip.Prefix]struct{}{},
		timedCur: map[netip.Prefix]uint64{},
		allowCur: map[netip.Prefix]struct{}{},
		denyCur:  map[netip.Prefix]uint64{},
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; a no-op on
	// newer ones, which charge the memory cgroup.
	if err := rlimit.RemoveMemlock(); err != nil {
		log.Warn("xdp: raising RLIMIT_MEMLOCK", "err", err)
	}
	if err := loadFilterObjects(&f.objs, nil); err != nil {
		return nil, loadError(err)
	}
	// Net sysctls resolve in the opening thread's namespace.
	f.sysctl, f.sysctlErr = os.OpenFile(syncookiesSysctl, os.O_RDWR, 0)
	if err := f.applyLocked(Policy{}); err != nil {
		f.objs.Close()
		if f.sysctl != nil {
			f.sysctl.Close()
		}
		return nil, err
	}
	var errs []string
	for _, name := range ifaces {
		st := IfaceStatus{Name: name}
		l, mode, err := attachOne(f.objs.StrataXdp, name, opts.Mode)
		if err != nil {
			st.Error = err.Error()
			errs = append(errs, name+": "+st.Error)
		} else {
			st.Mode = mode
			f.links = append(f.links, l)
		}
		f.status = append(f.status, st)
	}
	if len(f.links) == 0 {
		f.objs.Close()
		if f.sysctl != nil {
			f.sysctl.Close()
		}
		return nil, fmt.Errorf("xdp: attached to no interface: %s", strings.Join(errs, "; "))
	}
	every := opts.SweepInterval
	if every <= 0 {
		every = time.Second
	}
	go f.sweepLoop(every)
	return f, nil
}

func loadError(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("xdp: the kernel's verifier refused the filter: %+v", ve)
	}
	if errors.Is(err, unix.EPERM) || errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("xdp: loading the filter: %w (needs root, or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)", err)
	}
	return fmt.Errorf("xdp: loading the filter: %w", err)
}

func attachOne(prog *ebpf.Program, name string, mode Mode) (link.Link, string, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, "", fmt.Errorf("no such interface: %w", err)
	}
	try := func(flags link.XDPAttachFlags) (link.Link, error) {
		return link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifc.Index, Flags: flags})
	}
	switch mode {
	case ModeNative:
		l, err := try(link.XDPDriverMode)
		if err != nil {
			return nil, "", fmt.Errorf("native mode: %w", err)
		}
		return l, "native", nil
	case ModeGeneric:
		l, err := try(link.XDPGenericMode)
		if err != nil {
			return nil, "", fmt.Errorf("generic mode: %w", err)
		}
		return l, "generic", nil
	}
	l, nerr := try(link.XDPDriverMode)
	if nerr == nil {
		return l, "native", nil
	}
	l, gerr := try(link.XDPGenericMode)
	if gerr == nil {
		return l, "generic", nil
	}
	return nil, "", fmt.Errorf("native mode: %v; generic mode: %w", nerr, gerr)
}

// Status is each named interface's attachment, in the order given to Attach.
func (f *Filter) Status() []IfaceStatus {
	return append([]IfaceStatus(nil), f.status...)
}

// ProgramID is the kernel's id of the loaded program (unchanged by Apply
// and Block: they never reload it).
func (f *Filter) ProgramID() (ebpf.ProgramID, error) {
	f.objMu.RLock()
	defer f.objMu.RUnlock()
	if f.closed {
		return 0, errors.New("xdp: filter closed")
	}
	info, err := f.objs.StrataXdp.Info()
	if err != nil {
		return 0, err
	}
	id, ok := info.ID()
	if !ok {
		return 0, errors.New("xdp: the kernel reports no program id")
	}
	return id, nil
}

// Counters are the packets seen per reason (Reasons), summed over CPUs; nil
// once the filter is closed.
func (f *Filter) Counters() map[string]uint64 {
	c, err := f.counters()
	if err != nil {
		f.log.Warn("xdp: counters", "err", err)
		return nil
	}
	return c
}

func (f *Filter) counters() (map[string]uint64, error) {
	f.objMu.RLock()
	defer f.objMu.RUnlock()
	if f.closed {
		return nil, errors.New("xdp: filter closed")
	}
	out := make(map[string]uint64, len(Reasons))
	for i, name := range Reasons {
		var per []uint64
		if err := f.objs.Counters.Lookup(uint32(i), &per); err != nil {
			return nil, fmt.Errorf("xdp: reading counter %s: %w", name, err)
		}
		var sum uint64
		for _, v := range per {
			sum += v
		}
		out[name] = sum
	}
	return out, nil
}

// Apply makes p the filter's policy, changing only the map entries that
// differ from the current ones. Blocks from Block stay until they expire.
func (f *Filter) Apply(p Policy) error {
	if err := p.validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errors.New("xdp: filter closed")
	}
	return f.applyLocked(p)
}

func (p *Policy) validate() error {
	if err := checkPrefixes("Policy.Deny", p.Deny); err != nil {
		return err
	}
	if err := checkPrefixes("Policy.Allow", p.Allow); err != nil {
		return err
	}
	for name, r := range map[string]RateLimit{"SYN": p.SYN, "DNS": p.DNS, "ICMP": p.ICMP} {
		if r.PacketsPerSecond > MaxRate {
			return fmt.Errorf("xdp: Policy.%s.PacketsPerSecond %d: at most %d", name, r.PacketsPerSecond, MaxRate)
		}
		if r.PacketsPerSecond > 0 && r.Burst == 0 {
			return fmt.Errorf("xdp: Policy.%s.Burst: at least 1 when PacketsPerSecond is set", name)
		}
	}
	if p.SYNCookies && p.SYN.PacketsPerSecond == 0 {
		return errors.New("xdp: Policy.SYNCookies: needs Policy.SYN (cookies answer the SYNs over that limit)")
	}
	return nil
}

func checkPrefixes(field string, ps []netip.Prefix) error {
	v4, v6 := 0, 0
	for i, p := range ps {
		if !p.IsValid() {
			return fmt.Errorf("xdp: %s[%d]: not a valid prefix", field, i)
		}
		if p.Addr().Is4() || p.Addr().Is4In6() {
			v4++
		} else {
			v6++
		}
	}
	max := MaxDenyEntries
	if strings.HasSuffix(field, "Allow") {
		max = MaxAllowEntries
	}
	if v4 > max || v6 > max {
		return fmt.Errorf("xdp: %s: %d IPv4 and %d IPv6 prefixes: at most %d of each", field, v4, v6, max)
	}
	return nil
}

// canonical unmaps IPv4-in-IPv6 prefixes (::ffff:a.b.c.d/120 is a.b.c.d/24)
// and masks the host bits.
func canonical(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		a, bits := p.Addr(), p.Bits()
		if a.Is4In6() {
			bits -= 96
			if bits < 0 {
				bits = 0
			}
			a = a.Unmap()
		}
		out = append(out, netip.PrefixFrom(a.WithZone(""), bits).Masked())
	}
	return out
}

func (f *Filter) applyLocked(p Policy) error {
	cfg := filterConfig{}
	for i, r := range []RateLimit{p.SYN, p.DNS, p.ICMP} {
		if r.PacketsPerSecond == 0 {
			continue
		}
		interval := uint64(time.Second) / uint64(r.PacketsPerSecond)
		cfg.Limits[i].IntervalNs = interval
		cfg.Limits[i].ToleranceNs = uint64(r.Burst-1) * interval
	}
	if p.DropMalformed {
		cfg.Flags |= 1
	}
	if p.DropFragments {
		cfg.Flags |= 2
	}
	if f.setSyncookies(p.SYNCookies) {
		cfg.Flags |= 4
	}
	allow, err := f.allowSet(f.base, p.Allow)
	if err != nil {
		return err
	}
	p.Deny = canonical(p.Deny)
	perm := make(map[netip.Prefix]struct{}, len(p.Deny))
	for _, q := range p.Deny {
		perm[q] = struct{}{}
	}
	timed := f.effectiveBlocks(perm, monoNow())
	deny := make(map[netip.Prefix]uint64, len(perm)+len(timed))
	for q := range perm {
		deny[q] = 0
	}
	for q, d := range timed {
		deny[q] = d
	}
	if n4, n6 := countFamilies(deny); n4 > MaxDenyEntries || n6 > MaxDenyEntries {
		return fmt.Errorf("xdp: Policy.Deny with the blocks: %d IPv4 and %d IPv6 prefixes: at most %d of each", n4, n6, MaxDenyEntries)
	}
	// Allow first: a prefix moving from deny to allow passes from the start.
	if err := f.syncAllow(allow); err != nil {
		return err
	}
	if err := f.syncDeny(deny); err != nil {
		return err
	}
	if err := f.objs.ConfigMap.Update(uint32(0), &cfg, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("xdp: writing the config map: %w", err)
	}
	f.policy, f.perm, f.timedCur = p, perm, timed
	f.perm4, _ = countFamilies(perm)
	return nil
}

// setSyncookies makes the kernel accept the filter's cookies (on) or puts
// the sysctl back (off), and reports whether the cookies may be sent.
func (f *Filter) setSyncookies(on bool) bool {
	if !on {
		f.cookieErr = ""
		if err := f.restoreSyncookies(); err != nil {
			f.log.Warn("xdp: restoring "+syncookiesSysctl, "err", err)
		}
		return false
	}
	err := f.sysctlErr
	if err == nil && f.sysctlOrig == "" {
		var orig string
		if orig, err = readSysctl(f.sysctl); err == nil {
			if orig == "2" {
				return true // already so: nothing to restore
			}
			if err = writeSysctl(f.sysctl, "2"); err == nil {
				f.sysctlOrig = orig
			}
		}
	}
	if err != nil {
		f.cookieErr = fmt.Sprintf("SYN cookies off: cannot set %s=2: %v", syncookiesSysctl, err)
		f.log.Warn("xdp: " + f.cookieErr)
		return false
	}
	f.cookieErr = ""
	return true
}

func (f *Filter) restoreSyncookies() error {
	if f.sysctlOrig == "" {
		return nil
	}
	if err := writeSysctl(f.sysctl, f.sysctlOrig); err != nil {
		return err
	}
	f.sysctlOrig = ""
	return nil
}

func readSysctl(fh *os.File) (string, error) {
	b := make([]byte, 16)
	n, err := fh.ReadAt(b, 0)
	if n == 0 && err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b[:n])), nil
}

func writeSysctl(fh *os.File, v string) error {
	_, err := fh.WriteAt([]byte(v+"\n"), 0)
	return err
}

// SYNCookieError says why the policy's SYNCookies is not in effect (the
// node could not set net.ipv4.tcp_syncookies), or "".
func (f *Filter) SYNCookieError() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cookieErr
}

// syncBlocks writes the blocks' change alone (Block, the sweep): the
// policy's entries stay as they are, so a block costs the blocks, not a
// million-prefix policy.
func (f *Filter) syncBlocks() error {
	timed := f.effectiveBlocks(f.perm, monoNow())
	n4, n6 := countFamilies(timed)
	p4, p6 := f.perm4, len(f.perm)-f.perm4
	if n4+p4 > MaxDenyEntries || n6+p6 > MaxDenyEntries {
		return fmt.Errorf("xdp: blocks with Policy.Deny: %d IPv4 and %d IPv6 prefixes: at most %d of each", n4+p4, n6+p6, MaxDenyEntries)
	}
	for q := range f.timedCur {
		if _, ok := timed[q]; ok {
			continue
		}
		if _, ok := f.perm[q]; ok {
			continue
		}
		if err := f.del(f.objs.DenyV4, f.objs.DenyV6, q); err != nil {
			return fmt.Errorf("xdp: removing block %s: %w", q, err)
		}
		delete(f.denyCur, q)
	}
	for q, d := range timed {
		if cur, ok := f.denyCur[q]; ok && cur == d {
			continue
		}
		v := filterDenyVal{ExpiresNs: d}
		if err := f.put(f.objs.DenyV4, f.objs.DenyV6, q, &v); err != nil {
			return fmt.Errorf("xdp: block %s: %w", q, err)
		}
		f.denyCur[q] = d
	}
	f.timedCur = timed
	return nil
}

// allowSet is the allow tries' content: base (Options.Allow) and the
// policy's.
func (f *Filter) allowSet(base, policy []netip.Prefix) (map[netip.Prefix]struct{}, error) {
	allow := map[netip.Prefix]struct{}{}
	for _, q := range append(canonical(base), canonical(policy)...) {
		allow[q] = struct{}{}
	}
	if n4, n6 := countFamilies(allow); n4 > MaxAllowEntries || n6 > MaxAllowEntries {
		return nil, fmt.Errorf("xdp: Policy.Allow with Options.Allow: %d IPv4 and %d IPv6 prefixes: at most %d of each", n4, n6, MaxAllowEntries)
	}
	return allow, nil
}

func countFamilies[V any](m map[netip.Prefix]V) (v4, v6 int) {
	for p := range m {
		if p.Addr().Is4() {
			v4++
		} else {
			v6++
		}
	}
	return
}

// effectiveBlocks drops the expired blocks and returns the rest that are
// not inside a permanent deny (which covers them), each with the latest
// deadline of the blocks containing it: the trie answers with the longest
// match, which must not end a block early where a wider one still runs.
func (f *Filter) effectiveBlocks(perm map[netip.Prefix]struct{}, now uint64) map[netip.Prefix]uint64 {
	for p, deadline := range f.timed {
		if deadline <= now {
			delete(f.timed, p)
		}
	}
	out := make(map[netip.Prefix]uint64, len(f.timed))
	for p, best := range f.timed {
		covered := false
		for bits := p.Bits(); bits >= 0 && !covered; bits-- {
			q, _ := p.Addr().Prefix(bits)
			if _, ok := perm[q]; ok {
				covered = true
			}
			if d, ok := f.timed[q]; ok && d > best {
				best = d
			}
		}
		if !covered {
			out[p] = best
		}
	}
	return out
}

func (f *Filter) syncAllow(want map[netip.Prefix]struct{}) error {
	one := uint8(1)
	for p := range want {
		if _, ok := f.allowCur[p]; ok {
			continue
		}
		if err := f.put(f.objs.AllowV4, f.objs.AllowV6, p, &one); err != nil {
			return fmt.Errorf("xdp: allow %s: %w", p, err)
		}
		f.allowCur[p] = struct{}{}
	}
	for p := range f.allowCur {
		if _, ok := want[p]; ok {
			continue
		}
		if err := f.del(f.objs.AllowV4, f.objs.AllowV6, p); err != nil {
			return fmt.Errorf("xdp: removing allow %s: %w", p, err)
		}
		delete(f.allowCur, p)
	}
	return nil
}

func (f *Filter) syncDeny(want map[netip.Prefix]uint64) error {
	// Removals first: a full trie has room for the additions only then.
	for p := range f.denyCur {
		if _, ok := want[p]; ok {
			continue
		}
		if err := f.del(f.objs.DenyV4, f.objs.DenyV6, p); err != nil {
			return fmt.Errorf("xdp: removing deny %s: %w", p, err)
		}
		delete(f.denyCur, p)
	}
	for p, d := range want {
		if cur, ok := f.denyCur[p]; ok && cur == d {
			continue
		}
		v := filterDenyVal{ExpiresNs: d}
		if err := f.put(f.objs.DenyV4, f.objs.DenyV6, p, &v); err != nil {
			return fmt.Errorf("xdp: deny %s: %w", p, err)
		}
		f.denyCur[p] = d
	}
	return nil
}

func lpmKey(p netip.Prefix) any {
	if p.Addr().Is4() {
		return filterLpmV4{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As4()}
	}
	return filterLpmV6{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As16()}
}

func (f *Filter) put(m4, m6 *ebpf.Map, p netip.Prefix, v any) error {
	m := m6
	if p.Addr().Is4() {
		m = m4
	}
	return m.Update(lpmKey(p), v, ebpf.UpdateAny)
}

func (f *Filter) del(m4, m6 *ebpf.Map, p netip.Prefix) error {
	m := m6
	if p.Addr().Is4() {
		m = m4
	}
	err := m.Delete(lpmKey(p))
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	return err
}

// SetAlwaysAllow replaces Options.Allow, the prefixes that pass whatever
// the policy says (the node's hub and tier peers change).
func (f *Filter) SetAlwaysAllow(prefixes []netip.Prefix) error {
	if err := checkPrefixes("Options.Allow", prefixes); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errors.New("xdp: filter closed")
	}
	base := canonical(prefixes)
	allow, err := f.allowSet(base, f.policy.Allow)
	if err != nil {
		return err
	}
	if err := f.syncAllow(allow); err != nil {
		return err
	}
	f.base = base
	return nil
}

// AlwaysAllowed is Options.Allow as last set (SetAlwaysAllow), canonical.
func (f *Filter) AlwaysAllowed() []netip.Prefix {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]netip.Prefix(nil), f.base...)
}

// Block drops every packet from the prefixes for ttl, on top of the policy
// (a prefix already blocked keeps the later deadline). Allow-listed
// prefixes still pass.
func (f *Filter) Block(prefixes []netip.Prefix, ttl time.Duration) error {
	if ttl <= 0 || ttl > MaxBlockTTL {
		return fmt.Errorf("xdp: block ttl %s: must be in (0, %s]", ttl, MaxBlockTTL)
	}
	if len(prefixes) == 0 {
		return errors.New("xdp: block: no prefix given")
	}
	if err := checkPrefixes("Block prefixes", prefixes); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errors.New("xdp: filter closed")
	}
	deadline := monoNow() + uint64(ttl)
	prev := map[netip.Prefix]uint64{}
	for _, p := range canonical(prefixes) {
		if d, ok := f.timed[p]; !ok || d < deadline {
			if _, seen := prev[p]; !seen {
				prev[p] = d // 0: was not blocked
			}
			f.timed[p] = deadline
		}
	}
	if err := f.syncBlocks(); err != nil {
		// Refused (the tries are full): the blocks are not recorded either.
		for p, d := range prev {
			if d == 0 {
				delete(f.timed, p)
			} else {
				f.timed[p] = d
			}
		}
		return err
	}
	return nil
}

// Blocks are the unexpired blocks and the time each has left.
func (f *Filter) Blocks() map[netip.Prefix]time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := monoNow()
	out := map[netip.Prefix]time.Duration{}
	for p, d := range f.timed {
		if d > now {
			out[p] = time.Duration(d - now)
		}
	}
	return out
}

func (f *Filter) sweepLoop(every time.Duration) {
	defer close(f.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
		f.mu.Lock()
		now, expired := monoNow(), false
		for _, d := range f.timed {
			if d <= now {
				expired = true
				break
			}
		}
		if expired && !f.closed {
			if err := f.syncBlocks(); err != nil {
				f.log.Warn("xdp: removing expired blocks", "err", err)
			}
		}
		f.mu.Unlock()
	}
}

// Close detaches the program from every interface and frees the maps.
func (f *Filter) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.objMu.Lock()
	f.closed = true
	var errs []error
	for _, l := range f.links {
		if err := l.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	f.links = nil
	errs = append(errs, f.objs.Close())
	if f.sysctl != nil {
		// After the detach: no cookie is sent that the kernel then refuses.
		if err := f.restoreSyncookies(); err != nil {
			errs = append(errs, fmt.Errorf("xdp: restoring %s: %w", syncookiesSysctl, err))
		}
		f.sysctl.Close()
	}
	f.objMu.Unlock()
	f.mu.Unlock()
	close(f.stop)
	<-f.done
	return errors.Join(errs...)
}

// monoNow is CLOCK_MONOTONIC in ns, the clock bpf_ktime_get_ns reads.
func monoNow() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("xdp: CLOCK_MONOTONIC: " + err.Error())
	}
	return uint64(ts.Nano())
}
