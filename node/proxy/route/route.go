// Package route compiles a config snapshot into the immutable runtime the
// proxy serves from: a host index per listener port, each app's page rules
// with compiled conditions and actions, and its upstreams. Evaluate turns a
// request into a Plan (what to do with it) without allocating; both HTTP
// server paths of the proxy use it through the Request view.
package route

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/challenge"
	"github.com/strata-edge/strata/node/proxy/actions"
	"github.com/strata-edge/strata/node/proxy/stats"
	"github.com/strata-edge/strata/node/proxy/upstream"
	"github.com/strata-edge/strata/node/ratelimit"
	"github.com/strata-edge/strata/pkg/cowmap"
	"github.com/strata-edge/strata/pkg/domainname"
	"github.com/strata-edge/strata/pkg/rules"
)

// Request is the view of a request that routing, conditions, actions and
// balancers read.
type Request interface {
	rules.Request
	RequestURI() string
	Scheme() string
}

var (
	_ upstream.Request = Request(nil)
	_ actions.Vars     = Request(nil)
)

// Runtime is one compiled snapshot. It never changes after Compile.
type Runtime struct {
	Version uint64

	apps cowmap.Map[*App]
	// Host indexes per listener kind (plain HTTP, TLS).
	httpHosts, httpsHosts domainname.Index[*hostEntry]

	upstreams cowmap.Map[*upstream.Upstream] // by upstream.Key

	// What it was compiled from (patch.go diffs the next snapshot with
	// them), and, when it was patched from the runtime numbered base, what
	// it changed: upstreams new in it, upstreams of base it dropped, ids of
	// apps of base it dropped. A number, not a pointer, so that a chain of
	// runtimes is not kept alive.
	srcApps              []*configv1.App
	srcSets              []*configv1.UpstreamEndpoints
	id, base             uint64
	added, dropped       []*upstream.Upstream
	droppedApps          []string
	started, baseStarted bool
}

var runtimeIDs atomic.Uint64

// App is a compiled application.
type App struct {
	ID, Name string
	Stats    *stats.App
	// Limits are the app's request size and connection limits (nil: the
	// node's defaults only); node/proxy/limits.go enforces them.
	Limits *configv1.AppLimits

	rules     []*Rule
	set       *rules.Set                    // the rules' conditions, indexed: one scan per request
	upstreams map[string]*upstream.Upstream // by name
	fallback  *upstream.Upstream            // the only upstream, used when no rule decides

	// Listener ports the app names, sorted; allPorts: it names none and is
	// served on every port of both kinds.
	httpPorts, httpsPorts []uint32
	allPorts              bool

	// src is the config the app was compiled from and srcSets the server
	// sets its dynamic upstreams resolved (in upstream order). The node's
	// store keeps the objects of unchanged resources across deltas, so the
	// next compile reuses the app whole when both are the same objects:
	// a change of one set recompiles only the apps naming it.
	src     *configv1.App
	srcSets []*configv1.UpstreamEndpoints
}

// reusable returns prev's compiled app for ac when ac and the sets its
// upstreams name are the objects it was compiled from (nil otherwise).
func (rt *Runtime) reusable(ac *configv1.App, sets map[string]*configv1.UpstreamEndpoints) *App {
	if rt == nil {
		return nil
	}
	a, _ := rt.apps.Get(ac.GetId())
	if a == nil || a.src != ac {
		return nil
	}
	j := 0
	for _, uc := range ac.GetUpstreams() {
		if id := uc.GetEndpoints(); id != "" {
			if j >= len(a.srcSets) || sets[id] != a.srcSets[j] {
				return nil
			}
			j++
		}
	}
	return a
}

// Terminal says how a request is answered.
type Terminal uint8

const (
	None     Terminal = iota
	Proxy             // send to Plan.Upstream
	Redirect          // answer with Plan.Redirect
	Respond           // answer with Plan.Respond
	NoRule            // 404: no rule gave a terminal action and the app has several upstreams
)

// Rule is a compiled page rule.
type Rule struct {
	Name string

	match    *rules.Matcher
	req      []reqOp // request header edits and rewrites, config order
	resp     []*actions.HeaderOps
	terminal Terminal
	split    *split
	redirect *actions.Redirect
	respond  *actions.Respond
	cache    *cache.Policy
	limits   []*ratelimit.Rule // rate limit actions, config order
	chal     *challenge.Params
	last     bool
}

type reqOp struct {
	headers *actions.HeaderOps
	rewrite *actions.Rewrite
}

// split is a proxy action: one upstream or several by weight.
type split struct {
	targets []*upstream.Upstream
	cum     []uint32 // cumulative weights
	// dynamic: a target takes its servers from a set and may have none.
	dynamic bool
}

func (s *split) choose() *upstream.Upstream {
	if len(s.targets) == 1 {
		return s.targets[0]
	}
	if s.dynamic {
		return s.chooseLive()
	}
	n := rand.Uint32N(s.cum[len(s.cum)-1])
	for i, c := range s.cum {
		if n < c {
			return s.targets[i]
		}
	}
	return s.targets[len(s.targets)-1]
}

// chooseLive is choose among the targets that have a server: a dynamic
// upstream whose set has no ready endpoint takes no share. When none has
// one, the first answers (502, naming its set).
func (s *split) chooseLive() *upstream.Upstream {
	var total, prev uint32
	for i, t := range s.targets {
		if !t.Empty() {
			total += s.cum[i] - prev
		}
		prev = s.cum[i]
	}
	if total == 0 {
		return s.targets[0]
	}
	n := rand.Uint32N(total)
	prev = 0
	for i, t := range s.targets {
		w := s.cum[i] - prev
		prev = s.cum[i]
		if t.Empty() {
			continue
		}
		if n < w {
			return t
		}
		n -= w
	}
	return s.targets[0]
}

// maxInline is how many matched rules a Plan holds without allocating.
const maxInline = 8

// Plan is the outcome of evaluating an app's rules for one request: the
// matched rules whose edits apply, and the terminal decision. Keep it in
// per-request memory and reuse it; Evaluate resets it.
type Plan struct {
	App      *App
	Kind     Terminal
	Upstream *upstream.Upstream
	Redirect *actions.Redirect
	Respond  *actions.Respond
	// Cache is the cache action of the last matched rule that has one (nil:
	// the request is not cached).
	Cache *cache.Policy
	// Challenge is the challenge action of the last matched rule that has
	// one (nil: none); node/proxy/challenge.go serves it to clients
	// without a clearance.
	Challenge *challenge.Params

	n       int
	scan    *rules.Scan // reused across requests
	matched [maxInline]*Rule
	more    []*Rule
	limited bool // a matched rule has a rate limit
}

func (p *Plan) push(r *Rule) {
	p.limited = p.limited || len(r.limits) > 0
	if p.n < maxInline {
		p.matched[p.n] = r
	} else {
		p.more = append(p.more, r)
	}
	p.n++
}

func (p *Plan) rule(i int) *Rule {
	if i < maxInline {
		return p.matched[i]
	}
	return p.more[i-maxInline]
}

// Evaluate runs the app's rules on r, in order. Conditions see the request
// as received. Every matching rule contributes its header edits and rewrites;
// evaluation stops at the first matching rule with a terminal action
// (proxy, redirect, respond) or with `last`. Without a terminal action the
// request goes to the app's upstream when it has exactly one, else Kind is
// NoRule.
func (a *App) Evaluate(r Request, p *Plan) {
	more, scan := p.more[:0], p.scan
	if scan == nil {
		scan = new(rules.Scan)
	}
	*p = Plan{App: a, more: more, scan: scan}
	// The set yields the matching rules in order, evaluating only those
	// its index leaves candidates (rules.Set), so 1,000 rules cost about
	// what one does when the request matches few.
	a.set.Start(r, p.scan)
	for i := p.scan.Next(); i >= 0; i = p.scan.Next() {
		rule := a.rules[i]
		p.push(rule)
		if rule.cache != nil {
			p.Cache = rule.cache
		}
		if rule.chal != nil {
			p.Challenge = rule.chal
		}
		if rule.terminal != None {
			p.Kind = rule.terminal
			switch rule.terminal {
			case Proxy:
				p.Upstream = rule.split.choose()
			case Redirect:
				p.Redirect = rule.redirect
			case Respond:
				p.Respond = rule.respond
			}
			return
		}
		if rule.last {
			break
		}
	}
	if a.fallback != nil {
		p.Kind, p.Upstream = Proxy, a.fallback
		return
	}
	p.Kind = NoRule
}

// HasRateLimits reports whether a matched rule has a rate limit action.
func (p *Plan) HasRateLimits() bool { return p.limited }

// Matched is how many rules matched.
func (p *Plan) Matched() int { return p.n }

// RateLimits are the rate limit actions of the i-th matched rule.
func (p *Plan) RateLimits(i int) []*ratelimit.Rule { return p.rule(i).limits }

// DecidedBy is the name of the rule whose terminal action decided the
// request ("" when none did: the app's only upstream took it, or no rule).
func (p *Plan) DecidedBy() string {
	if p.n == 0 {
		return ""
	}
	if r := p.rule(p.n - 1); r.terminal != None {
		return r.Name
	}
	return ""
}

// HasRequestEdits reports whether ApplyRequest would change anything.
func (p *Plan) HasRequestEdits() bool {
	for i := 0; i < p.n; i++ {
		if len(p.rule(i).req) > 0 {
			return true
		}
	}
	return false
}

// ApplyRequest runs the request header edits and rewrites of the matched
// rules, in rule order and, within a rule, in action order.
func (p *Plan) ApplyRequest(e actions.RequestEditor) {
	for i := 0; i < p.n; i++ {
		for _, op := range p.rule(i).req {
			if op.headers != nil {
				op.headers.Apply(e)
			} else {
				op.rewrite.Apply(e)
			}
		}
	}
}

// HasResponseEdits reports whether ApplyResponse would change anything.
func (p *Plan) HasResponseEdits() bool {
	for i := 0; i < p.n; i++ {
		if len(p.rule(i).resp) > 0 {
			return true
		}
	}
	return false
}

// ApplyResponse runs the response header edits of the matched rules on any
// response the proxy sends for this request (proxied, redirect, fixed, or
// an error).
func (p *Plan) ApplyResponse(e actions.HeaderEditor) {
	for i := 0; i < p.n; i++ {
		for _, op := range p.rule(i).resp {
			op.Apply(e)
		}
	}
}

// Lookup returns the app serving host on a listener (TLS or not, and the
// port apps name for it), or nil.
// An app that names the port wins over one that serves every port, even
// with a less specific name.
func (rt *Runtime) Lookup(tls bool, port uint32, host string) *App {
	idx := &rt.httpHosts
	if tls {
		idx = &rt.httpsHosts
	}
	var found *App
	idx.LookupFunc(host, func(e *hostEntry) bool {
		found = e.onPort(tls, port)
		return found != nil
	})
	if found != nil {
		return found
	}
	if e, ok := idx.LookupFunc(host, func(e *hostEntry) bool { return e.all != nil }); ok {
		return e.all
	}
	return nil
}

// App returns the app with the given id, or nil.
func (rt *Runtime) App(id string) *App {
	a, _ := rt.apps.Get(id)
	return a
}

// Apps returns the ids of all apps.
func (rt *Runtime) Apps() []string {
	out := make([]string, 0, rt.apps.Len())
	for id := range rt.apps.All() {
		out = append(out, id)
	}
	return out
}

// Upstreams returns every upstream of every app, by app id and name.
func (rt *Runtime) Upstreams() []*upstream.Upstream {
	out := make([]*upstream.Upstream, 0, rt.upstreams.Len())
	for _, u := range rt.upstreams.All() {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b *upstream.Upstream) int {
		return cmp.Or(cmp.Compare(a.AppID, b.AppID), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// upstream returns the upstream of app appID with config id (nil when rt
// is nil or has none).
func (rt *Runtime) upstream(appID, id string) *upstream.Upstream {
	if rt == nil {
		return nil
	}
	a := rt.App(appID)
	if a == nil {
		return nil
	}
	for _, u := range a.upstreams { // an app has a few: no scan of every app's
		if u.ID == id {
			return u
		}
	}
	return nil
}

// Upstream returns the app's upstream by name, or nil.
func (a *App) Upstream(name string) *upstream.Upstream { return a.upstreams[name] }

// Start starts the health checkers of upstreams that are not running yet:
// only the new ones when rt was patched from a started runtime.
func (rt *Runtime) Start() {
	rt.started = true
	if rt.base != 0 && rt.baseStarted {
		for _, u := range rt.added {
			u.Start()
		}
		return
	}
	for _, u := range rt.upstreams.All() {
		u.Start()
	}
}

// Retire closes the upstreams of rt that next does not carry over. Call it
// after next has replaced rt (or, to abort next, as next.Retire(rt)).
// Between a runtime and one patched from it, that is the patch's list.
func (rt *Runtime) Retire(next *Runtime) {
	switch {
	case next != nil && next.base != 0 && next.base == rt.id:
		closeAll(next.dropped)
	case next != nil && rt.base != 0 && rt.base == next.id:
		closeAll(rt.added)
	default:
		rt.retireScan(next)
	}
}

func (rt *Runtime) retireScan(next *Runtime) {
	for k, u := range rt.upstreams.All() {
		if next == nil {
			u.Close()
		} else if v, _ := next.upstreams.Get(k); v != u {
			u.Close()
		}
	}
}

func closeAll(us []*upstream.Upstream) {
	for _, u := range us {
		u.Close()
	}
}

// DroppedApps returns the ids of prev's apps that rt lacks when rt was
// patched from prev (ok false otherwise: compare every app).
func (rt *Runtime) DroppedApps(prev *Runtime) (ids []string, ok bool) {
	if prev == nil || rt.base != prev.id {
		return nil, false
	}
	return rt.droppedApps, true
}

// Close closes every upstream of rt.
func (rt *Runtime) Close() { rt.Retire(nil) }

// Compile builds a Runtime from snap. Upstreams whose content is unchanged
// since prev (nil for the first) are carried over with their connections and
// health state, and apps whose config is the very object prev compiled (with
// the same server sets) are carried over whole: the objects of a snapshot
// are never changed once compiled (the node's store makes new ones for what
// a delta changes and keeps the others). statsFor returns the counters of an app (kept by the caller
// across runtimes). On error nothing of prev is touched and whatever Compile
// built is closed.
//
// When prev compiled the same server sets, Compile patches prev (patch.go):
// only the apps whose objects changed are compiled and indexed, and the
// maps of unchanged ones are shared, so a delta of one app among a million
// costs a few shard copies and one walk over the app pointers.
func Compile(snap *syncv1.Snapshot, prev *Runtime, statsFor func(appID string) *stats.App) (*Runtime, error) {
	if prev != nil && slices.Equal(prev.srcSets, snap.GetUpstreamEndpoints()) {
		if rt, ok := patch(snap, prev, statsFor); ok {
			return rt, nil
		}
		// A patch that failed says nothing more: compiling the whole
		// snapshot gives its error in the snapshot's order.
	}
	return compileAll(snap, prev, statsFor)
}

func compileAll(snap *syncv1.Snapshot, prev *Runtime, statsFor func(appID string) *stats.App) (rt *Runtime, err error) {
	rt = &Runtime{
		Version: snap.GetVersion(),
		srcApps: snap.GetApps(),
		srcSets: snap.GetUpstreamEndpoints(),
		id:      runtimeIDs.Add(1),
	}
	defer func() {
		if err != nil {
			rt.retireScan(prev)
			rt = nil
		}
	}()
	sets := upstream.Sets(snap.GetUpstreamEndpoints())
	for i, ac := range snap.GetApps() {
		if ac.GetRole() != nil {
			continue // a stream or forward-proxy app: node/stream, node/forward
		}
		if a := prev.reusable(ac, sets); a != nil {
			// Serving already: nothing of it is written again.
			if err := rt.add(i, ac, a, false); err != nil {
				return rt, err
			}
			continue
		}
		a, err := compileApp(ac, prev, &rt.upstreams, sets)
		if err != nil {
			return rt, fmt.Errorf("apps[%d] (id %q): %w", i, ac.GetId(), err)
		}
		if statsFor != nil {
			a.Stats = statsFor(a.ID)
		} else {
			a.Stats = new(stats.App)
		}
		if err := rt.add(i, ac, a, true); err != nil {
			return rt, err
		}
	}
	return rt, nil
}

// add puts app a (apps[i], compiled from ac) into rt: its upstreams, its
// id and its domains (validating its ports first when fresh).
func (rt *Runtime) add(i int, ac *configv1.App, a *App, fresh bool) error {
	if _, dup := rt.apps.Get(a.ID); dup {
		return fmt.Errorf("apps[%d]: id %q appears twice", i, a.ID)
	}
	for _, u := range a.upstreams {
		rt.upstreams.Set(u.Key(), u)
	}
	rt.apps.Set(a.ID, a)
	index := rt.bindDomains // a reused app's ports are set
	if fresh {
		index = rt.index
	}
	if err := index(ac, a); err != nil {
		return fmt.Errorf("apps[%d] (id %q): %w", i, ac.GetId(), err)
	}
	return nil
}

func (rt *Runtime) index(ac *configv1.App, a *App) error {
	var err error
	if a.httpPorts, err = portSet("http_ports", ac.GetHttpPorts()); err != nil {
		return err
	}
	if a.httpsPorts, err = portSet("https_ports", ac.GetHttpsPorts()); err != nil {
		return err
	}
	if len(ac.GetDomains()) == 0 {
		return errors.New("domains: at least one domain is required")
	}
	a.allPorts = len(a.httpPorts) == 0 && len(a.httpsPorts) == 0
	return rt.bindDomains(ac, a)
}

// bindDomains adds a's domains to the host indexes (its ports are set).
func (rt *Runtime) bindDomains(ac *configv1.App, a *App) error {
	for i, d := range ac.GetDomains() {
		n, err := domainname.Normalize(d)
		if err != nil {
			return fmt.Errorf("domains[%d]: %w", i, err)
		}
		if a.allPorts || len(a.httpPorts) > 0 {
			if err := bind(&rt.httpHosts, "http", n, a, a.httpPorts); err != nil {
				return fmt.Errorf("domains[%d]: %w", i, err)
			}
		}
		if a.allPorts || len(a.httpsPorts) > 0 {
			if err := bind(&rt.httpsHosts, "https", n, a, a.httpsPorts); err != nil {
				return fmt.Errorf("domains[%d]: %w", i, err)
			}
		}
	}
	return nil
}

// hostEntry is what one host name (exact or wildcard) of one listener kind
// maps to: the apps that name it on explicit ports (their port sets are
// disjoint) and the app that names it for every port of the kind. Keyed by
// host, then ports checked per app, the index costs O(domains + ports) per
// app rather than one table entry per domain and port.
type hostEntry struct {
	onPorts []*App
	all     *App
}

// onPort returns the app of e that names port, or nil.
func (e *hostEntry) onPort(tls bool, port uint32) *App {
	for _, a := range e.onPorts {
		ports := a.httpPorts
		if tls {
			ports = a.httpsPorts
		}
		if _, ok := slices.BinarySearch(ports, port); ok {
			return a
		}
	}
	return nil
}

// bind adds app a under name n to idx, on ports (sorted; none: every port
// of the kind), refusing a name another app already serves on one of them.
// The entry is replaced by a copy, never changed: an index patched from
// another shares its entries.
func bind(idx *domainname.Index[*hostEntry], kind, n string, a *App, ports []uint32) error {
	e := new(hostEntry)
	if old, ok := idx.Get(n); ok {
		e.all, e.onPorts = old.all, slices.Clone(old.onPorts)
	}
	if err := bindEntry(e, kind, n, a, ports); err != nil {
		return err
	}
	idx.Put(n, e)
	return nil
}

// unbind removes app a from name n of idx (a copy of the entry, as bind).
func unbind(idx *domainname.Index[*hostEntry], n string, a *App) {
	old, ok := idx.Get(n)
	if !ok {
		return
	}
	e := &hostEntry{all: old.all, onPorts: slices.DeleteFunc(slices.Clone(old.onPorts), func(b *App) bool { return b == a })}
	if e.all == a {
		e.all = nil
	}
	if e.all == nil && len(e.onPorts) == 0 {
		idx.Remove(n)
		return
	}
	idx.Put(n, e)
}

func bindEntry(e *hostEntry, kind, n string, a *App, ports []uint32) error {
	if len(ports) == 0 {
		switch {
		case e.all == a:
			return fmt.Errorf("%q is listed twice", n)
		case e.all != nil:
			return fmt.Errorf("%q on every %s port is already served by app %q", n, kind, e.all.ID)
		}
		e.all = a
		return nil
	}
	for _, b := range e.onPorts {
		if b == a {
			return fmt.Errorf("%q is listed twice", n)
		}
		other := b.httpPorts
		if kind == "https" {
			other = b.httpsPorts
		}
		if p, ok := commonPort(ports, other); ok {
			return fmt.Errorf("%q on %s port %d is already served by app %q", n, kind, p, b.ID)
		}
	}
	e.onPorts = append(e.onPorts, a)
	return nil
}

// commonPort returns a port that the sorted sets a and b share.
func commonPort(a, b []uint32) (uint32, bool) {
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] == b[j]:
			return a[i], true
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return 0, false
}

// portSet validates ports and returns them sorted without duplicates.
func portSet(field string, ports []uint32) ([]uint32, error) {
	for _, p := range ports {
		if p == 0 || p > 65535 {
			return nil, fmt.Errorf("%s: %d is not a port (1-65535)", field, p)
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(ports))), nil
}

func compileApp(ac *configv1.App, prev *Runtime, all *cowmap.Map[*upstream.Upstream], sets map[string]*configv1.UpstreamEndpoints) (*App, error) {
	if ac.GetId() == "" {
		return nil, errors.New("id: must not be empty")
	}
	a := &App{ID: ac.GetId(), Name: ac.GetName(), Limits: ac.GetLimits(), upstreams: make(map[string]*upstream.Upstream), src: ac}
	for i, uc := range ac.GetUpstreams() {
		if _, dup := a.upstreams[uc.GetName()]; dup {
			return nil, fmt.Errorf("upstreams[%d]: name %q appears twice", i, uc.GetName())
		}
		if id := uc.GetEndpoints(); id != "" {
			a.srcSets = append(a.srcSets, sets[id])
		}
		uc = upstream.Resolve(uc, sets)
		key := upstream.Key(a.ID, uc)
		u, _ := all.Get(key)
		if u == nil && prev != nil {
			u, _ = prev.upstreams.Get(key)
		}
		if u == nil {
			var err error
			if u, err = upstream.New(a.ID, uc); err != nil {
				return nil, fmt.Errorf("upstreams[%d]: %w", i, err)
			}
			if uc.GetEndpoints() != "" {
				u.Adopt(prev.upstream(a.ID, uc.GetId())) // the set changed: keep what stayed
			}
		}
		all.Set(key, u)
		a.upstreams[uc.GetName()] = u
	}
	if len(ac.GetUpstreams()) == 1 {
		a.fallback = a.upstreams[ac.GetUpstreams()[0].GetName()]
	}
	pre, err := settingRules(ac)
	if err != nil {
		return nil, err
	}
	a.rules = pre
	for i, rc := range ac.GetRules() {
		r, err := compileRule(fmt.Sprintf("rules[%d]", i), rc, a)
		if err != nil {
			return nil, err
		}
		a.rules = append(a.rules, r)
	}
	ms := make([]*rules.Matcher, len(a.rules))
	for i, r := range a.rules {
		ms[i] = r.match
	}
	a.set = rules.NewSet(ms)
	return a, nil
}

// settingRules are the rules the app's settings imply, evaluated before its
// own rules: HSTS (a response header on HTTPS, not terminal) and the
// HTTP -> HTTPS redirect (301 for GET and HEAD, 308 so other methods keep
// their body). They are ordinary rules, so both server paths run them the
// same way.
func settingRules(ac *configv1.App) ([]*Rule, error) {
	var out []*Rule
	if h := ac.GetHsts(); h != nil {
		m, err := rules.Compile("Scheme(`https`)")
		if err != nil {
			return nil, err
		}
		ops, err := actions.CompileHeaderOps("hsts", &configv1.HeaderOps{Set: map[string]string{"Strict-Transport-Security": HSTSValue(h)}})
		if err != nil {
			return nil, err
		}
		out = append(out, &Rule{Name: "(hsts)", match: m, resp: []*actions.HeaderOps{ops}})
	}
	if ac.GetHttpsRedirect() {
		url := "https://$host$request_uri"
		if ps := ac.GetHttpsPorts(); len(ps) > 0 && !slices.Contains(ps, 443) {
			url = fmt.Sprintf("https://$host:%d$request_uri", ps[0])
		}
		for _, r := range []struct {
			when   string
			status uint32
		}{{"Scheme(`http`) && Method(`GET`, `HEAD`)", 301}, {"Scheme(`http`)", 308}} {
			m, err := rules.Compile(r.when)
			if err != nil {
				return nil, err
			}
			rd, err := actions.CompileRedirect("https_redirect", &configv1.RedirectAction{Url: url, Status: r.status})
			if err != nil {
				return nil, err
			}
			out = append(out, &Rule{Name: "(https_redirect)", match: m, terminal: Redirect, redirect: rd})
		}
	}
	return out, nil
}

// HSTSValue is the Strict-Transport-Security header value for h.
func HSTSValue(h *configv1.Hsts) string {
	v := "max-age=" + strconv.FormatUint(uint64(h.GetMaxAgeSeconds()), 10)
	if h.GetIncludeSubdomains() {
		v += "; includeSubDomains"
	}
	if h.GetPreload() {
		v += "; preload"
	}
	return v
}

func compileRule(field string, rc *configv1.Rule, a *App) (*Rule, error) {
	if rc.GetName() != "" {
		field = fmt.Sprintf("%s (%q)", field, rc.GetName())
	}
	m, err := rules.Compile(rc.GetWhen())
	if err != nil {
		return nil, fmt.Errorf("%s.when: %w", field, err)
	}
	r := &Rule{Name: rc.GetName(), match: m, last: rc.GetLast()}
	for j, ac := range rc.GetActions() {
		f := fmt.Sprintf("%s.actions[%d]", field, j)
		terminal := func(t Terminal) error {
			if r.terminal != None {
				return fmt.Errorf("%s: a rule can have one proxy, redirect or respond action; this is the second", f)
			}
			r.terminal = t
			return nil
		}
		switch act := ac.GetAction().(type) {
		case *configv1.Action_Proxy:
			if err := terminal(Proxy); err != nil {
				return nil, err
			}
			s, err := compileSplit(f+".proxy", act.Proxy, a)
			if err != nil {
				return nil, err
			}
			r.split = s
		case *configv1.Action_Redirect:
			if err := terminal(Redirect); err != nil {
				return nil, err
			}
			if r.redirect, err = actions.CompileRedirect(f+".redirect", act.Redirect); err != nil {
				return nil, err
			}
		case *configv1.Action_Respond:
			if err := terminal(Respond); err != nil {
				return nil, err
			}
			if r.respond, err = actions.CompileRespond(f+".respond", act.Respond); err != nil {
				return nil, err
			}
		case *configv1.Action_RequestHeaders:
			h, err := actions.CompileHeaderOps(f+".request_headers", act.RequestHeaders)
			if err != nil {
				return nil, err
			}
			r.req = append(r.req, reqOp{headers: h})
		case *configv1.Action_ResponseHeaders:
			h, err := actions.CompileHeaderOps(f+".response_headers", act.ResponseHeaders)
			if err != nil {
				return nil, err
			}
			r.resp = append(r.resp, h)
		case *configv1.Action_Rewrite:
			rw, err := actions.CompileRewrite(f+".rewrite", act.Rewrite)
			if err != nil {
				return nil, err
			}
			r.req = append(r.req, reqOp{rewrite: rw})
		case *configv1.Action_Cache:
			if r.cache != nil {
				return nil, fmt.Errorf("%s: a rule can have one cache action; this is the second", f)
			}
			r.cache = CachePolicy(act.Cache)
		case *configv1.Action_RateLimit:
			lim, err := ratelimit.Compile(a.ID, act.RateLimit)
			if err != nil {
				return nil, fmt.Errorf("%s.rate_limit.%w", f, err)
			}
			r.limits = append(r.limits, lim)
		case *configv1.Action_Challenge:
			if r.chal != nil {
				return nil, fmt.Errorf("%s: a rule can have one challenge action; this is the second", f)
			}
			p := challenge.ParamsOf(act.Challenge)
			r.chal = &p
		default:
			return nil, fmt.Errorf("%s: empty action", f)
		}
	}
	return r, nil
}

func compileSplit(field string, pa *configv1.ProxyAction, a *App) (*split, error) {
	if len(pa.GetUpstreams()) == 0 {
		return nil, fmt.Errorf("%s.upstreams: name at least one upstream", field)
	}
	s := &split{}
	var sum uint32
	for i, w := range pa.GetUpstreams() {
		u := a.upstreams[w.GetUpstream()]
		if u == nil {
			return nil, fmt.Errorf("%s.upstreams[%d].upstream: app has no upstream named %q", field, i, w.GetUpstream())
		}
		wt := w.GetWeight()
		if wt == 0 {
			continue // drained: takes no traffic
		}
		if sum+wt < sum {
			return nil, fmt.Errorf("%s.upstreams: weights overflow", field)
		}
		sum += wt
		s.dynamic = s.dynamic || u.Dynamic() != ""
		s.targets = append(s.targets, u)
		s.cum = append(s.cum, sum)
	}
	if sum == 0 {
		// As the control plane refuses it: weight 0 means no traffic.
		return nil, fmt.Errorf("%s.upstreams: no upstream has a weight above 0 (weight 0 takes no traffic)", field)
	}
	return s, nil
}
