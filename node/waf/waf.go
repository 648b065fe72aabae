// Package waf is the node's WAF runtime: the policies of the running config
// compiled once per snapshot (node/proxy calls Prepare with the rest of the
// config and swaps the Set in with it), one compiled WAF per distinct
// policy id and version shared by every app that attaches it, and kept
// across snapshots while unchanged; Inspect runs a request through an app's
// policy, counts the outcome per policy, rule and action, and publishes a
// hit (natsutil.WafHitSubject) for every request the policy flagged.
// Rate limits and challenges report through Publish. docs/waf.md, "How a
// node runs a policy".
package waf

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/pkg/cowmap"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/wafengine"
)

// Options configure a Runtime.
type Options struct {
	// NodeID names the node in hits and their subject.
	NodeID string
	// NATS, optional, carries the hits; without it hits are only counted.
	NATS   *nats.Conn
	Logger *slog.Logger
	// Compile, optional, replaces wafengine.Compile (tests count compiles
	// with it).
	Compile func(*wafv1.WafPolicy) (*wafengine.WAF, error)
	// MaxHitsPerSecond bounds the hits published (0: DefaultMaxHitsPerSecond);
	// beyond it hits are counted, not sent, so a flood of attacks cannot
	// flood the hub too.
	MaxHitsPerSecond int
}

// DefaultMaxHitsPerSecond is Options.MaxHitsPerSecond's default.
const DefaultMaxHitsPerSecond = 2000

// Runtime is a node's WAF. Safe for concurrent use.
type Runtime struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	compiled map[[32]byte]*wafengine.WAF // by content hash (id and version included)
	cur      *Set                        // the committed set: the base of the next Prepare

	second atomic.Int64 // Unix second of sentInSecond
	sent   atomic.Int64 // hits sent in that second

	counters
}

// New returns a Runtime with no policy.
func New(opts Options) *Runtime {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Compile == nil {
		opts.Compile = wafengine.Compile
	}
	if opts.MaxHitsPerSecond <= 0 {
		opts.MaxHitsPerSecond = DefaultMaxHitsPerSecond
	}
	return &Runtime{opts: opts, log: opts.Logger, compiled: map[[32]byte]*wafengine.WAF{}}
}

// Set is the WAF side of one config snapshot: the compiled policy of each
// app that attaches one. Immutable.
type Set struct {
	apps cowmap.Map[attached] // by app id
	keys map[[32]byte]*wafengine.WAF
	refs map[[32]byte]int // apps attaching each key

	// What it was prepared from: the next snapshot with the same policies
	// is prepared by patching it (only the apps whose objects changed).
	src      []*configv1.App
	policies []*wafv1.WafPolicy
}

type attached struct {
	w   *wafengine.WAF
	key [32]byte
}

// For returns the policy of app, nil when it has none (or it is OFF).
func (s *Set) For(appID string) *wafengine.WAF {
	if s == nil {
		return nil
	}
	a, _ := s.apps.Get(appID)
	return a.w
}

// Policies is the number of distinct compiled policies in the set.
func (s *Set) Policies() int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

// Prepare compiles the policies the apps of snap attach, each distinct one
// once, reusing those compiled for an earlier snapshot. A policy that does
// not compile rejects the snapshot (the control plane validates policies
// with the same code, so this means version skew). An app naming a policy
// the snapshot lacks runs without WAF, with a warning. When the policies
// are those of the running set, only the apps whose objects changed are
// looked at: a delta to a million apps costs one walk over their pointers.
func (r *Runtime) Prepare(snap *syncv1.Snapshot) (*Set, error) {
	byID := map[string]*wafv1.WafPolicy{}
	for _, p := range snap.GetWafPolicies() {
		byID[p.GetId()] = p
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &Set{keys: map[[32]byte]*wafengine.WAF{}, refs: map[[32]byte]int{},
		src: snap.GetApps(), policies: snap.GetWafPolicies()}
	apps := snap.GetApps()
	if base := r.cur; base != nil && slices.Equal(base.policies, s.policies) {
		s.apps, s.keys, s.refs = base.apps.Clone(), maps.Clone(base.keys), maps.Clone(base.refs)
		gone, came := store.Diff(base.src, apps)
		for _, a := range gone {
			s.detach(a.GetId())
		}
		apps = make([]*configv1.App, len(came))
		for i, j := range came {
			apps[i] = snap.GetApps()[j]
		}
	}
	for _, a := range apps {
		if err := r.attach(s, byID, a, snap.GetVersion()); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// detach removes app id's policy from s.
func (s *Set) detach(id string) {
	a, ok := s.apps.Get(id)
	if !ok {
		return
	}
	s.apps.Delete(id)
	if s.refs[a.key]--; s.refs[a.key] == 0 {
		delete(s.refs, a.key)
		delete(s.keys, a.key)
	}
}

// attach gives app a its policy in s (compiling it when no set has it).
func (r *Runtime) attach(s *Set, byID map[string]*wafv1.WafPolicy, a *configv1.App, version uint64) error {
	s.detach(a.GetId()) // a duplicate id: the last one wins
	id := a.GetWafPolicyId()
	if id == "" {
		return nil
	}
	p := byID[id]
	if p == nil {
		r.log.Warn("waf: app attaches a policy the config lacks; it runs without WAF", "app", a.GetId(), "policy", id, "version", version)
		return nil
	}
	if m := p.GetMode(); m == wafv1.WafMode_WAF_MODE_OFF || m == wafv1.WafMode_WAF_MODE_UNSPECIFIED {
		return nil
	}
	key := contentKey(p)
	w := s.keys[key]
	if w == nil {
		w = r.compiled[key]
	}
	if w == nil {
		start := time.Now()
		var err error
		if w, err = r.opts.Compile(p); err != nil {
			return fmt.Errorf("waf_policies[%q] (version %d): %w", id, p.GetVersion(), err)
		}
		r.compiles.Add(1)
		r.compileNanos.Add(uint64(time.Since(start)))
		r.compiled[key] = w
	}
	s.keys[key] = w
	s.refs[key]++
	s.apps.Set(a.GetId(), attached{w: w, key: key})
	return nil
}

// Commit records that s runs now: compiled policies no longer in use are
// released.
func (r *Runtime) Commit(s *Set) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.compiled {
		if _, ok := s.keys[k]; !ok {
			delete(r.compiled, k)
		}
	}
	r.policies.Store(int64(len(s.keys)))
	r.cur = s
}

// contentKey identifies a policy by id, version and content, so a working
// copy (version 0) that changes is compiled again.
func contentKey(p *wafv1.WafPolicy) [32]byte {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(p)
	return sha256.Sum256(b)
}

// Inspect runs app's policy w on req, counts the outcome and publishes a
// hit when the policy flagged the request. The request id returned names
// the hit ("" when there is none), for the answer to a blocked client.
func (r *Runtime) Inspect(w *wafengine.WAF, appID string, req wafengine.Request) (v wafengine.Verdict, requestID string) {
	v, requestID, x := r.Begin(w, appID, req)
	x.Close()
	return v, requestID
}

// Begin is Inspect that also returns the exchange to pass the upstream's
// response to (Response) when the policy inspects responses; nil otherwise.
func (r *Runtime) Begin(w *wafengine.WAF, appID string, req wafengine.Request) (v wafengine.Verdict, requestID string, x *wafengine.Exchange) {
	defer r.recoverVerdict(w, appID, &v, &requestID)
	v, x = w.Begin(req)
	return v, r.report(w, appID, req, v), x
}

// Response runs the response phases of x on resp (the response to req),
// counts the outcome and publishes a hit (direction "response") when the
// response was flagged; the request id names it.
func (r *Runtime) Response(w *wafengine.WAF, appID string, req wafengine.Request, x *wafengine.Exchange, resp wafengine.Response) (v wafengine.Verdict, requestID string) {
	defer r.recoverVerdict(w, appID, &v, &requestID)
	v = x.Response(resp)
	return v, r.report(w, appID, req, v)
}

// recoverVerdict turns a panic of the rule engine into a verdict: a rule
// engine bug must not take the node down (fasthttp does not recover
// handlers): BLOCK answers 500, DETECT lets the request on.
func (r *Runtime) recoverVerdict(w *wafengine.WAF, appID string, v *wafengine.Verdict, requestID *string) {
	e := recover()
	if e == nil {
		return
	}
	r.panics.Add(1)
	r.log.Error("waf: inspection panicked", "policy", w.ID, "app", appID, "panic", fmt.Sprint(e))
	*v, *requestID = wafengine.Verdict{Response: v.Response}, ""
	if w.Mode == wafv1.WafMode_WAF_MODE_BLOCK {
		v.Action, v.Status = wafengine.Block, 500
	}
}

// report counts v and publishes its hit; the hit's request id ("" when
// nothing was flagged).
func (r *Runtime) report(w *wafengine.WAF, appID string, req wafengine.Request, v wafengine.Verdict) string {
	r.countVerdict(w.ID, v)
	if v.Action == wafengine.None {
		return ""
	}
	id := nuid.Next()
	dir := "request"
	if v.Response {
		dir = "response"
	}
	h := &wafv1.WafHit{
		AppId: appID, PolicyId: w.ID, RequestId: id, ClientIp: clientIP(req),
		Method: req.Method(), Host: req.Host(), Uri: req.RequestURI(),
		Action: string(v.Action), Status: uint32(v.Status), AnomalyScore: uint32(max(v.AnomalyScore, 0)),
		Direction: dir,
	}
	for _, m := range v.Matches {
		h.Matches = append(h.Matches, &wafv1.RuleMatch{RuleId: m.RuleID, Message: m.Message, Tags: m.Tags, Target: m.Target, Data: m.Data, Phase: uint32(max(m.Phase, 0))})
	}
	r.publish(h, false)
	return id
}

// Publish sends a hit that another part of the node decided (a rate limit,
// a challenge): node id and time are filled in, the URI truncated, match
// data masked and truncated, and the rule counters counted.
func (r *Runtime) Publish(h *wafv1.WafHit) { r.publish(h, true) }

// MaxURI bounds WafHit.uri.
const MaxURI = 512

func (r *Runtime) publish(h *wafv1.WafHit, count bool) {
	h.NodeId = r.opts.NodeID
	if h.Time == nil {
		h.Time = timestamppb.Now()
	}
	// Request bytes need not be UTF-8, and protobuf refuses to marshal a
	// string that is not: such a hit would be lost.
	h.Uri = validUTF8(truncate(h.Uri, MaxURI))
	h.Host, h.Method = validUTF8(h.Host), validUTF8(h.Method)
	for _, m := range h.Matches {
		m.Data = validUTF8(wafengine.Mask(m.Target, m.Data))
		m.Target, m.Message = validUTF8(m.Target), validUTF8(m.Message)
		if count {
			r.countRule(h.PolicyId, m.RuleId, h.Action)
		}
	}
	if count {
		r.countAction(h.PolicyId, h.Action)
	}
	if r.opts.NATS == nil {
		return
	}
	if !r.allowHit(time.Now().Unix()) {
		r.dropped.Add(1)
		return
	}
	// Marshal copies every string: the request's may alias the server's
	// buffers (fasthttp) and must not outlive the handler.
	b, err := proto.Marshal(h)
	if err == nil {
		err = r.opts.NATS.Publish(natsutil.WafHitSubject(r.opts.NodeID), b)
	}
	if err != nil {
		r.publishErrors.Add(1)
		r.log.LogAttrs(context.Background(), slog.LevelWarn, "waf: hit not published", slog.String("err", err.Error()))
		return
	}
	r.published.Add(1)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

func clientIP(req wafengine.Request) string {
	if ip := req.ClientIP(); ip.IsValid() {
		return ip.String()
	}
	return ""
}

// allowHit reports whether one more hit may go out in second now.
func (r *Runtime) allowHit(now int64) bool {
	if sec := r.second.Load(); sec != now && r.second.CompareAndSwap(sec, now) {
		r.sent.Store(0)
	}
	return r.sent.Add(1) <= int64(r.opts.MaxHitsPerSecond)
}

func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
