package route

import (
	"fmt"
	"strings"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// pageRules returns n page rules of one app in the shapes apps write (a
// section by prefix, a page, a method on a section, a header, a regexp),
// none of which the median request below matches, then the app's
// catch-all proxy rule.
func pageRules(n int) []*configv1.Rule {
	shapes := []string{
		"PathPrefix(`/section%d/`)",
		"Path(`/page%d.html`) || Path(`/page%d/`)",
		"PathPrefix(`/api/v%d/`) && Method(`POST`, `PUT`)",
		"Host(`shop.example.com`) && PathPrefix(`/promo%d/`)",
		"PathRegexp(`^/p/[0-9]+/variant%d$`)",
		"PathPrefix(`/legacy%d`) && !Header(`X-Internal`)",
		"HeaderRegexp(`X-Version`, `^%d\\.`) && PathPrefix(`/v1/`)",
		"Path(`/old%d`)",
	}
	var out []*configv1.Rule
	respond := []*configv1.Action{{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: 204}}}}
	for i := range n - 1 {
		w := strings.ReplaceAll(shapes[i%len(shapes)], "%d", fmt.Sprint(i))
		out = append(out, &configv1.Rule{Name: fmt.Sprint(i), When: w, Actions: respond})
	}
	return append(out, &configv1.Rule{Name: "go", When: "Host(`*.example.com`) && PathPrefix(`/`)", Actions: []*configv1.Action{proxyTo("a")}})
}

// BenchmarkEvaluateRules: Evaluate of the median request (a GET the app's
// catch-all proxies) with 1, 100 and 1,000 page rules on its app (issue
// 19: 1,000 rules within 10% of 1 rule).
func BenchmarkEvaluateRules(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		rt := compile(b, app("shop", []string{"shop.example.com", "*.shop.example.com"}, pageRules(n)...))
		r := &req{method: "GET", host: "shop.example.com", path: "/v1/items/42", uri: "/v1/items/42?x=1",
			header: map[string]string{"X-Version": "7.2"}}
		var view Request = r
		a := rt.Lookup(false, 80, view.Host())
		var p Plan
		a.Evaluate(view, &p)
		if p.DecidedBy() != "go" {
			b.Fatalf("%d rules: decided by %q, want the catch-all", n, p.DecidedBy())
		}
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.Evaluate(view, &p)
			}
		})
	}
}
