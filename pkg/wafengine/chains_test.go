package wafengine

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/pkg/wafengine/operators"
)

// TestFoldedChainsSameVerdicts: the WAF with folded transformation chains
// gives the verdicts, scores and matches of the same policy with Coraza's
// chains as written, on attacks that go through multi-step chains (XSS,
// path traversal, command injection, SQLi with comments) and benign requests.
func TestFoldedChainsSameVerdicts(t *testing.T) {
	p := &wafv1.WafPolicy{Id: "fold", Mode: wafv1.WafMode_WAF_MODE_BLOCK, ParanoiaLevel: 2, RequestBody: &wafv1.BodyInspection{Enabled: true}}
	folded := mustCompile(t, p)
	if !strings.Contains(text(folded.lines), "Include @owasp_crs/") || strings.Contains(folded.Directives(), "strata_") {
		t.Fatal("Directives() must show the policy's SecLang, without the folding lines")
	}
	conf, err := withFoldedChains(folded.lines)
	if err != nil || strings.Count(conf, "SecRuleUpdateActionById") < 50 {
		t.Fatalf("withFoldedChains: %d update lines, err %v; want the CRS's multi-step chains (~70)", strings.Count(conf, "SecRuleUpdateActionById"), err)
	}
	t.Setenv(operators.Env, "coraza") // folding off (the operators stay registered)
	plain := mustCompile(t, p)

	reqs := []*req{
		newReq("GET", "/search?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E", "", ""),
		newReq("GET", "/q?x=%3CIMG%20SRC%3Djav%26%23x09%3Bascript:alert(1)%3E", "", ""),
		newReq("GET", "/files?name=..%5C..%5Cwindows%5Cwin.ini", "", ""),
		newReq("GET", "/f?p=....//....//etc/passwd", "", ""),
		newReq("POST", "/run", "application/x-www-form-urlencoded", "cmd=%3Bc%5Ea%22t%22%20/e%27t%27c/pa%5Csswd"),
		newReq("POST", "/api", "application/json", `{"q":"1/**/UNION/**/SELECT/**/password/**/FROM/**/users"}`),
		newReq("POST", "/api", "application/json", `{"html":"<div style=\"background:url(javascript:alert(1))\">"}`),
		newReq("POST", "/api/orders", "application/json", benignJSON(4<<10)),
		newReq("GET", "/products/42?sort=price&page=2", "", ""),
	}
	for i, r := range reqs {
		a, b := folded.Inspect(r), plain.Inspect(r)
		if a.Action != b.Action || a.Status != b.Status || a.AnomalyScore != b.AnomalyScore || !slices.Equal(matchKeys(a), matchKeys(b)) {
			t.Errorf("request %d: folded %v %d score %d %v; as written %v %d score %d %v", i,
				a.Action, a.Status, a.AnomalyScore, matchKeys(a), b.Action, b.Status, b.AnomalyScore, matchKeys(b))
		}
	}
	if v := folded.Inspect(reqs[0]); v.Action != Block {
		t.Fatalf("XSS not blocked: %+v", v)
	}
}

func matchKeys(v Verdict) []string {
	var out []string
	for _, m := range v.Matches {
		out = append(out, fmt.Sprintf("%s %s %q", m.RuleID, m.Target, m.Data))
	}
	return out
}
