package wafengine

import (
	"fmt"
	"testing"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
)

// manyRegexpRules returns n custom regexp rules that match none of the
// benign requests below; rule i blocks /probe<i>/ and UA scanner<i>.
func manyRegexpRules(n int) []*wafv1.CustomRule {
	out := make([]*wafv1.CustomRule, n)
	for i := range out {
		out[i] = &wafv1.CustomRule{
			Id:     fmt.Sprintf("r%d", i),
			When:   fmt.Sprintf("PathRegexp(`(?i)^/probe%d/`) || HeaderRegexp(`User-Agent`, `(?i)scanner%d\\b`)", i, i),
			Action: wafv1.WafRuleAction_WAF_RULE_ACTION_BLOCK,
		}
	}
	return out
}

// TestManyCustomRulesInOrder: with hundreds of regexp rules evaluated as
// one set, the first deciding rule in policy order still decides, LOG rules
// before it are still reported, and rules after it are not.
func TestManyCustomRulesInOrder(t *testing.T) {
	p := policy(wafv1.WafMode_WAF_MODE_BLOCK)
	p.CrsDisabled = true
	p.CustomRules = manyRegexpRules(300)
	p.CustomRules[40] = &wafv1.CustomRule{Id: "log-probe", When: "PathRegexp(`(?i)^/probe2[0-9]{2}/`)", Action: wafv1.WafRuleAction_WAF_RULE_ACTION_LOG}
	p.CustomRules[250].Status = 418
	w := mustCompile(t, p)

	v := w.Inspect(newReq("GET", "/PROBE250/x", "", ""))
	if v.Action != Block || v.Status != 418 || len(v.Matches) != 2 || v.Matches[0].RuleID != "custom:log-probe" || v.Matches[1].RuleID != "custom:r250" {
		t.Fatalf("GET /PROBE250/: %q %d %+v; want block 418 by custom:r250 after custom:log-probe", v.Action, v.Status, v.Matches)
	}
	r := newReq("GET", "/probe7/x", "", "")
	r.r.Header.Set("User-Agent", "Scanner9 1.0") // r9 comes first
	if v := w.Inspect(r); v.Action != Block || len(v.Matches) != 1 || v.Matches[0].RuleID != "custom:r7" {
		t.Fatalf("probe7 with scanner9: %q %+v; want block by custom:r7 only", v.Action, v.Matches)
	}
	for _, path := range []string{"/shop/probe7/", "/probe/7", "/"} {
		if v := w.Inspect(newReq("GET", path, "", "")); v.Action != None || len(v.Matches) != 0 {
			t.Fatalf("GET %s: %q %+v; want no custom match", path, v.Action, v.Matches)
		}
	}
}

// BenchmarkInspectCustomRules: Inspect of a benign GET against 1 to 1,000
// custom regexp rules (CRS off, so the custom rules are all it does).
func BenchmarkInspectCustomRules(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		p := policy(wafv1.WafMode_WAF_MODE_BLOCK)
		p.CrsDisabled = true
		p.CustomRules = manyRegexpRules(n)
		w := mustCompile(b, p)
		r := newReq("GET", "/shop/products/12345", "", "")
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if v := w.Inspect(r); v.Action != None {
					b.Fatal(v)
				}
			}
		})
	}
}
