package waf

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	"github.com/strata-edge/strata/pkg/wafengine"
)

func snapshot(version uint64, policies []*wafv1.WafPolicy, apps map[string]string) *syncv1.Snapshot {
	s := &syncv1.Snapshot{Version: version, WafPolicies: policies}
	for id, pol := range apps {
		s.Apps = append(s.Apps, &configv1.App{Id: id, WafPolicyId: pol})
	}
	return s
}

// One compiled WAF per distinct policy, shared by its apps and kept while
// the policy is unchanged; a new release compiles again; OFF policies and
// missing ones leave the app uninspected.
func TestPrepareCompilesEachPolicyOnce(t *testing.T) {
	var compiled []string
	r := New(Options{Compile: func(p *wafv1.WafPolicy) (*wafengine.WAF, error) {
		compiled = append(compiled, wafengine.Key(p.GetId(), p.GetVersion()))
		return wafengine.Compile(p)
	}})
	crsOff := func(id string, v uint64, mode wafv1.WafMode) *wafv1.WafPolicy {
		return &wafv1.WafPolicy{Id: id, Version: v, Mode: mode, CrsDisabled: true,
			CustomRules: []*wafv1.CustomRule{{Id: "r", When: "PathPrefix(`/admin`)", Action: wafv1.WafRuleAction_WAF_RULE_ACTION_BLOCK}}}
	}
	a1, off := crsOff("a", 1, wafv1.WafMode_WAF_MODE_BLOCK), crsOff("off", 1, wafv1.WafMode_WAF_MODE_OFF)
	s, err := r.Prepare(snapshot(1, []*wafv1.WafPolicy{a1, off}, map[string]string{"x": "a", "y": "a", "z": "off", "w": "missing", "v": ""}))
	if err != nil {
		t.Fatal(err)
	}
	r.Commit(s)
	if s.For("x") == nil || s.For("x") != s.For("y") || s.For("z") != nil || s.For("w") != nil || s.For("v") != nil || s.Policies() != 1 {
		t.Errorf("set: x %p y %p z %v w %v, %d policies; want x and y sharing one", s.For("x"), s.For("y"), s.For("z"), s.For("w"), s.Policies())
	}
	s2, _ := r.Prepare(snapshot(2, []*wafv1.WafPolicy{a1}, map[string]string{"x": "a", "u": "a"}))
	r.Commit(s2)
	if s2.For("u") != s.For("x") {
		t.Error("an unchanged policy was compiled again")
	}
	a2 := crsOff("a", 2, wafv1.WafMode_WAF_MODE_BLOCK)
	s3, _ := r.Prepare(snapshot(3, []*wafv1.WafPolicy{a2}, map[string]string{"x": "a"}))
	r.Commit(s3)
	if strings.Join(compiled, " ") != "a@1 a@2" || r.Stats().Compiles != 2 || r.Stats().Policies != 1 {
		t.Errorf("compiled %v (stats %+v), want a@1 a@2", compiled, r.Stats())
	}
	bad := crsOff("a", 3, wafv1.WafMode_WAF_MODE_BLOCK)
	bad.CustomRules[0].When = "PathPrefix("
	if _, err := r.Prepare(snapshot(4, []*wafv1.WafPolicy{bad}, map[string]string{"x": "a"})); err == nil || !strings.Contains(err.Error(), `waf_policies["a"] (version 3): custom_rules[0] (id "r").when`) {
		t.Errorf("bad policy: err = %v", err)
	}
}

// Publish sends what other parts decided, masked, truncated and counted.
func TestPublish(t *testing.T) {
	nc := natstest.Connect(t, natstest.RunServer(t))
	sub, err := nc.SubscribeSync(natsutil.WafHitSubject("n7"))
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	r := New(Options{NodeID: "n7", NATS: nc})
	r.Publish(&wafv1.WafHit{AppId: "shop", PolicyId: "pol", Action: "challenge", Uri: "/" + strings.Repeat("a", 600),
		Matches: []*wafv1.RuleMatch{{RuleId: "ratelimit:login", Target: "REQUEST_HEADERS:Authorization", Data: "Bearer secret"}}})
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h := new(wafv1.WafHit)
	if err := proto.Unmarshal(m.Data, h); err != nil {
		t.Fatal(err)
	}
	if h.GetNodeId() != "n7" || h.GetTime() == nil || len(h.GetUri()) != MaxURI || h.GetMatches()[0].GetData() != wafengine.Masked {
		t.Errorf("hit: node %q time %v uri %d bytes data %q", h.GetNodeId(), h.GetTime(), len(h.GetUri()), h.GetMatches()[0].GetData())
	}
	st := r.Stats()
	if st.Published != 1 || len(st.Actions) != 1 || st.Actions[0] != (Count{Policy: "pol", Action: "challenge", N: 1}) ||
		len(st.Rules) != 1 || st.Rules[0].Rule != "ratelimit:login" {
		t.Errorf("stats: %+v", st)
	}
}

// The publisher sends at most MaxHitsPerSecond a second: a flood of
// attacks is counted but does not flood the hub.
func TestPublishBounded(t *testing.T) {
	nc := natstest.Connect(t, natstest.RunServer(t))
	r := New(Options{NodeID: "n1", NATS: nc, MaxHitsPerSecond: 3})
	for range 10 {
		r.Publish(&wafv1.WafHit{PolicyId: "p", Action: "block"})
	}
	// At most two seconds' worth (the clock may tick once).
	if st := r.Stats(); st.Published+st.Dropped != 10 || st.Dropped < 4 || st.Published < 3 {
		t.Errorf("published %d, dropped %d; want 3 (or 6) and the rest dropped", st.Published, st.Dropped)
	}
}

// panicky is a request view that fails, as a bug in the engine would.
type panicky struct{ wafengine.Request }

func (panicky) Path() string { panic("boom") }

// A panic in an inspection does not escape: BLOCK refuses with 500, DETECT
// lets the request on.
func TestInspectRecovers(t *testing.T) {
	r := New(Options{})
	for mode, want := range map[wafv1.WafMode]int{wafv1.WafMode_WAF_MODE_BLOCK: 500, wafv1.WafMode_WAF_MODE_DETECT: 0} {
		w, err := wafengine.Compile(&wafv1.WafPolicy{Id: "p", Mode: mode, CrsDisabled: true})
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := r.Inspect(w, "app", panicky{}); v.Status != want {
			t.Errorf("%v: verdict %+v, want status %d", mode, v, want)
		}
	}
	if r.Stats().Panics != 2 {
		t.Errorf("panics %d, want 2", r.Stats().Panics)
	}
}
