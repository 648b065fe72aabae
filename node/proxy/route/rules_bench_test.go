package route

import (
	"fmt"
	"strings"
	"syscall"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// ruleShapes are the page rules of BenchmarkEvaluateRules, by kind; %d is
// the rule's number. The median request below matches none of them.
var ruleShapes = map[string][]string{
	// The shapes apps write: a section by prefix, a page, a method on a
	// section, a header, a regexp.
	"mixed": {
		"PathPrefix(`/section%d/`)",
		"Path(`/page%d.html`) || Path(`/page%d/`)",
		"PathPrefix(`/api/v%d/`) && Method(`POST`, `PUT`)",
		"Host(`shop.example.com`) && PathPrefix(`/promo%d/`)",
		"PathRegexp(`^/p/[0-9]+/variant%d$`)",
		"PathPrefix(`/legacy%d`) && !Header(`X-Internal`)",
		"HeaderRegexp(`X-Version`, `^%d\\.`) && PathPrefix(`/v1/`)",
		"Path(`/old%d`)",
	},
	// One rule per tenant host of the app's wildcard, each on its own path.
	"hosts": {
		"Host(`t%d.shop.example.com`) && PathPrefix(`/t%d/`)",
		"Host(`t%d.shop.example.com`, `*.t%d.shop.example.com`)",
		"Host(`shop.example.com`) && Path(`/t%d/login`)",
	},
	// Regexps only: anchored, literal-bearing, case-insensitive, and one
	// in eight with neither a literal nor an anchored literal (those the
	// combined automaton answers).
	"regexp": {
		"PathRegexp(`^/api/v%d/`)",
		"PathRegexp(`\\.bak%d$`)",
		"PathRegexp(`(?i)/wp-plugin-%d/`)",
		"HeaderRegexp(`User-Agent`, `(?i)scanner%d`)",
		"PathRegexp(`^/shop/[0-9]+/review%d$`)",
		"HostRegexp(`^tenant%d\\.`)",
		"QueryRegexp(`q`, `(?i)union\\s+select\\s+c%d`)",
		"PathRegexp(`/[a-z]+/[0-9]{%d}/edit$`)",
	},
}

// pageRules returns n page rules of one app in the given shapes, none of
// which the median request matches, then the app's catch-all proxy rule.
func pageRules(shape string, n int) []*configv1.Rule {
	shapes := ruleShapes[shape]
	var out []*configv1.Rule
	respond := []*configv1.Action{{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: 204}}}}
	for i := range n - 1 {
		w := strings.ReplaceAll(shapes[i%len(shapes)], "%d", fmt.Sprint(i))
		out = append(out, &configv1.Rule{Name: fmt.Sprint(i), When: w, Actions: respond})
	}
	return append(out, &configv1.Rule{Name: "go", When: "Host(`*.example.com`) && PathPrefix(`/`)", Actions: []*configv1.Action{proxyTo("a")}})
}

// BenchmarkEvaluateRules: Evaluate of the median request (a GET the app's
// catch-all proxies) with 1, 100 and 1,000 page rules on its app, in each
// shape (issue 19: 1,000 rules within 10% of 1 rule). cpu-ns/op is the
// process's CPU time per request, steadier than ns/op on a shared machine.
func BenchmarkEvaluateRules(b *testing.B) {
	for _, shape := range []string{"mixed", "hosts", "regexp"} {
		for _, n := range []int{1, 100, 1000} {
			rt := compile(b, app("shop", []string{"shop.example.com", "*.shop.example.com"}, pageRules(shape, n)...))
			r := &req{method: "GET", host: "shop.example.com", path: "/v1/items/42", uri: "/v1/items/42?q=red+shoes",
				header: map[string]string{"X-Version": "7.2", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}}
			var view Request = r
			a := rt.Lookup(false, 80, view.Host())
			var p Plan
			a.Evaluate(view, &p)
			if p.DecidedBy() != "go" {
				b.Fatalf("%s, %d rules: decided by %q, want the catch-all", shape, n, p.DecidedBy())
			}
			b.Run(fmt.Sprintf("shape=%s/rules=%d", shape, n), func(b *testing.B) {
				b.ReportAllocs()
				start := cpuTime()
				for b.Loop() {
					a.Evaluate(view, &p)
				}
				b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// cpuTime is the process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
