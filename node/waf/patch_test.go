package waf

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
)

// TestPatchMatchesFullPrepare applies random app deltas under fixed
// policies and checks each patched set against a fresh runtime's full
// Prepare of the same snapshot: the same policy per app, the same count.
func TestPatchMatchesFullPrepare(t *testing.T) {
	pol := func(id string, mode wafv1.WafMode) *wafv1.WafPolicy {
		return &wafv1.WafPolicy{Id: id, Version: 1, Mode: mode, CrsDisabled: true,
			CustomRules: []*wafv1.CustomRule{{Id: "r", When: "PathPrefix(`/admin`)", Action: wafv1.WafRuleAction_WAF_RULE_ACTION_BLOCK}}}
	}
	policies := []*wafv1.WafPolicy{pol("a", wafv1.WafMode_WAF_MODE_BLOCK), pol("b", wafv1.WafMode_WAF_MODE_DETECT), pol("off", wafv1.WafMode_WAF_MODE_OFF)}
	names := []string{"", "a", "b", "off", "missing"}
	r := New(Options{Logger: discard()})
	rnd := rand.New(rand.NewPCG(9, 10))
	var apps []*configv1.App
	for step := range 300 {
		next := slices.Clone(apps)
		for range 1 + rnd.IntN(3) {
			id := fmt.Sprintf("app%02d", rnd.IntN(16))
			a := &configv1.App{Id: id, WafPolicyId: names[rnd.IntN(len(names))]}
			if i := slices.IndexFunc(next, func(a *configv1.App) bool { return a.Id == id }); i < 0 {
				next = append(next, a)
			} else if rnd.IntN(3) == 0 {
				next = slices.Delete(next, i, i+1)
			} else {
				next[i] = a
			}
		}
		slices.SortFunc(next, func(a, b *configv1.App) int { return strings.Compare(a.Id, b.Id) })
		snap := &syncv1.Snapshot{Version: uint64(step + 1), WafPolicies: policies, Apps: next}
		got, err := r.Prepare(snap)
		if err != nil {
			t.Fatal(err)
		}
		want, err := New(Options{Logger: discard()}).Prepare(snap)
		if err != nil {
			t.Fatal(err)
		}
		if got.Policies() != want.Policies() {
			t.Fatalf("step %d: %d policies, full prepare %d", step, got.Policies(), want.Policies())
		}
		for i := range 16 {
			id := fmt.Sprintf("app%02d", i)
			g, w := got.For(id), want.For(id)
			if (g == nil) != (w == nil) || (g != nil && g.ID != w.ID) {
				t.Fatalf("step %d: %s has policy %v, full prepare %v", step, id, g, w)
			}
		}
		r.Commit(got)
		apps = next
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
