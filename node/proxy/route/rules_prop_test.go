package route

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/rules"
)

// Pools the random rules and requests of TestEvaluateLikeOneByOne draw
// from, small enough that rules and requests often meet.
var (
	propHosts = []string{"shop.example.com", "a.shop.example.com", "b.a.shop.example.com", "SHOP.example.com", "kb.shop.example.com"}
	propPaths = []string{"/", "/a", "/a/", "/a/b", "/api/v1/x", "/API/v1/", "/p/12/v3", "/x.bak1", "/é", "/a\xffb", ""}
	propVers  = []string{"", "7.2", "70.1", "8"}
	propConds = []string{
		"Host(`shop.example.com`)", "Host(`*.shop.example.com`)", "Host(`a.shop.example.com`, `kb.shop.example.com`)",
		"Path(`/a`)", "Path(`/a/`, `/`)", "PathPrefix(`/a`)", "PathPrefix(`/api/`, `/p/`)", "PathPrefix(`/`)",
		"Method(`GET`)", "Method(`POST`)", "Header(`X-Version`)",
		"PathRegexp(`^/api/v[0-9]+/`)", "PathRegexp(`(?i)^/api/`)", "PathRegexp(`\\.bak[0-9]$`)", "PathRegexp(`^/p/[0-9]+/v3$`)",
		"PathRegexp(`[^a-z/]`)", "PathRegexp(`(?i)^/Skip`)", "HostRegexp(`^a\\.`)", "HostRegexp(`(?i)^KB\\.`)",
		"HeaderRegexp(`X-Version`, `^7\\.`)", "HeaderRegexp(`X-Version`, `^70\\.`)", "HeaderRegexp(`X-Version`, `[0-9]`)",
	}
)

// randWhen is a random expression over propConds with &&, || and !.
func randWhen(rng *rand.Rand, depth int) string {
	if depth == 0 || rng.IntN(3) == 0 {
		c := propConds[rng.IntN(len(propConds))]
		if rng.IntN(5) == 0 {
			return "!" + c
		}
		return c
	}
	op := " && "
	if rng.IntN(3) == 0 {
		op = " || "
	}
	kids := make([]string, 2+rng.IntN(2))
	for i := range kids {
		kids[i] = randWhen(rng, depth-1)
	}
	s := "(" + strings.Join(kids, op) + ")"
	if rng.IntN(6) == 0 {
		return "!" + s
	}
	return s
}

// TestEvaluateLikeOneByOne is the property the compiled rule set keeps:
// for random rules (header edits, terminal answers, `last`) and random
// requests, Evaluate matches the rules that Match on each rule's
// condition, in order, would, stopping at the same rule, with the same
// answer.
func TestEvaluateLikeOneByOne(t *testing.T) {
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 19))
		n := 1 + rng.IntN(4)
		if seed%2 == 0 {
			n = 5 + rng.IntN(300)
		}
		var rs []*configv1.Rule
		for i := range n {
			r := &configv1.Rule{Name: fmt.Sprint(i), When: randWhen(rng, 2), Last: rng.IntN(8) == 0}
			if rng.IntN(6) == 0 {
				r.When = ""
			}
			switch rng.IntN(3) {
			case 0:
				r.Actions = []*configv1.Action{{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: 204}}}}
			default:
				r.Actions = []*configv1.Action{{Action: &configv1.Action_RequestHeaders{RequestHeaders: &configv1.HeaderOps{Set: map[string]string{"X-Rule": fmt.Sprint(i)}}}}}
			}
			rs = append(rs, r)
		}
		ms := make([]*rules.Matcher, len(rs))
		for i, r := range rs {
			if r.When != "" {
				m, err := rules.Compile(r.When)
				if err != nil {
					t.Fatalf("seed %d: %q: %v", seed, r.When, err)
				}
				ms[i] = m
			}
		}
		a := compile(t, app("shop", []string{"shop.example.com", "*.shop.example.com"}, rs...)).App("shop")
		var p Plan
		for range 200 {
			r := &req{method: []string{"GET", "POST"}[rng.IntN(2)], host: propHosts[rng.IntN(len(propHosts))],
				path: propPaths[rng.IntN(len(propPaths))], header: map[string]string{}}
			r.uri = r.path
			if v := propVers[rng.IntN(len(propVers))]; v != "" {
				r.header["X-Version"] = v
			}
			// One by one: every matching rule up to the first terminal one or `last`.
			var want []string
			decided := ""
			for i, rule := range rs {
				if ms[i] != nil && !ms[i].Match(r) {
					continue
				}
				want = append(want, rule.Name)
				if _, ok := rule.Actions[0].Action.(*configv1.Action_Respond); ok {
					decided = rule.Name
					break
				}
				if rule.Last {
					break
				}
			}
			a.Evaluate(r, &p)
			var got []string
			for i := range p.Matched() {
				got = append(got, p.rule(i).Name)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") || p.DecidedBy() != decided {
				t.Fatalf("seed %d, %s %s%s (X-Version %q): Evaluate matched %v decided by %q; one by one %v decided by %q",
					seed, r.method, r.host, r.path, r.header["X-Version"], got, p.DecidedBy(), want, decided)
			}
			if wantKind := map[bool]Terminal{true: Respond, false: NoRule}[decided != ""]; p.Kind != wantKind {
				t.Fatalf("seed %d: Kind %v, want %v", seed, p.Kind, wantKind)
			}
		}
	}
}
