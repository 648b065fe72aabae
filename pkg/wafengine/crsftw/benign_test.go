package crsftw_test

import (
	"context"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/pkg/wafengine"
	"github.com/strata-edge/strata/pkg/wafengine/crsftw"
)

// TestBenignPassPL1 sends the false-positive corpus through Coraza with the directives
// of a PL1 blocking policy: none may be blocked, none may match a detection rule.
func TestBenignPassPL1(t *testing.T) {
	target := crsftw.Coraza(directWAF(t))
	for _, c := range crsftw.Benign() {
		o, err := target(context.Background(), c.Req)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if o.Status != 200 || len(o.Detected) > 0 {
			t.Errorf("%s: answered %d, detections %v", c.Name, o.Status, o.Detected)
		}
	}
}

// TestKnownFalsePositivesPL1 holds the benign requests CRS v4 blocks at PL1 with the
// default thresholds, and the policy exclusion each needs (documented in docs/waf.md).
// It fails when CRS stops blocking one (move it to the corpus) or the exclusion stops
// fixing it.
func TestKnownFalsePositivesPL1(t *testing.T) {
	plain := crsftw.Coraza(directWAF(t))
	for _, c := range crsftw.KnownFalsePositives() {
		o, err := plain(context.Background(), c.Req)
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != 403 {
			t.Errorf("%s: answered %d without an exclusion (detections %v): CRS no longer blocks it", c.Name, o.Status, o.Detected)
		}
		p := policyPL1()
		p.Exclusions = []*wafv1.RuleExclusion{c.Exclusion}
		w, err := wafengine.Compile(p)
		if err != nil {
			t.Fatal(err)
		}
		cw, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(w.Directives()))
		if err != nil {
			t.Fatal(err)
		}
		o, err = crsftw.Coraza(cw)(context.Background(), c.Req)
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != 200 {
			t.Errorf("%s: answered %d with exclusion %v (detections %v)", c.Name, o.Status, c.Exclusion, o.Detected)
		}
	}
}
