package wafengine

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	_ "unsafe" // go:linkname

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental"
	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	"github.com/corazawaf/coraza/v3/types"
)

// Why chains are folded: Coraza caches every step of a rule's transformation
// chain per transaction, keyed by the argument's position in the list the
// rule collected. Collections are Go maps, whose iteration order changes on
// every read, so for a request with many arguments (a JSON body) the cache
// almost never hits: each (rule, argument) pair costs one map lookup and one
// insert per step (4 % hits, 85k lookups and 84k inserts for a 4 KiB JSON
// order at PL1), and those map operations were half the CPU. Folded into one
// transformation that runs the same steps in order, a pair costs one lookup
// and one insert; the steps themselves (~25 ns each on short values) are
// cheaper than the cache entries they would have filled.
//
// The folding is exact: the same Coraza functions, in the same order, the
// value of a failing step kept as Coraza keeps it (its errors only reach
// Coraza's debug log). Rules with multiMatch (the operator runs after every
// step) and chains of one step are left alone.

//go:linkname corazaTransformation github.com/corazawaf/coraza/v3/internal/transformations.GetTransformation
func corazaTransformation(name string) (plugintypes.Transformation, error)

// foldedChain is one CRS rule whose transformation chain is folded.
type foldedChain struct {
	id   int
	file string // the rule file, as the Include names it
	name string // the registered transformation
}

var (
	foldOnce  sync.Once
	foldRules []foldedChain // by id
	foldErr   error
)

// folded registers one transformation per distinct multi-step chain of the
// CRS (once per process: Coraza's registry is a plain map, read by every
// compile) and returns the rules that use one.
func folded() ([]foldedChain, error) {
	foldOnce.Do(func() {
		type seen struct {
			id         int
			file, last string
			steps      []string
		}
		var rules []seen
		cfg := coraza.NewWAFConfig().WithRootFS(coreruleset.FS)
		cfg = experimental.WAFConfigWithRuleObserver(cfg, func(r types.RuleMetadata) {
			steps, ok := ruleChain(r.Raw())
			if ok && len(steps) > 1 && r.ID() > 0 {
				rules = append(rules, seen{id: r.ID(), file: r.File(), steps: steps})
			}
		})
		var d strings.Builder
		d.WriteString("Include @crs-setup.conf.example\n")
		for _, f := range crsFiles(true) {
			d.WriteString("Include " + f + "\n")
		}
		if _, err := coraza.NewWAF(cfg.WithDirectives(d.String())); err != nil {
			foldErr = fmt.Errorf("policy: the Core Rule Set does not load: %w", err)
			return
		}
		registered := map[string]bool{}
		for _, r := range rules {
			name := "strata_" + strings.ToLower(strings.Join(r.steps, "_"))
			if !registered[name] {
				fn, err := foldChain(r.steps)
				if err != nil {
					foldErr = fmt.Errorf("rule %d: %w", r.id, err)
					return
				}
				plugins.RegisterTransformation(name, fn)
				registered[name] = true
			}
			foldRules = append(foldRules, foldedChain{id: r.id, file: r.file, name: name})
		}
		slices.SortFunc(foldRules, func(a, b foldedChain) int { return a.id - b.id })
	})
	return foldRules, foldErr
}

// foldChain returns one transformation that runs steps in order as Coraza's
// rule evaluation does: a step that fails leaves the value as it was.
func foldChain(steps []string) (plugintypes.Transformation, error) {
	fns := make([]plugintypes.Transformation, len(steps))
	for i, s := range steps {
		fn, err := corazaTransformation(s)
		if err != nil {
			return nil, err
		}
		fns[i] = fn
	}
	return func(v string) (string, bool, error) {
		changed := false
		for _, fn := range fns {
			if out, c, err := fn(v); err == nil {
				v, changed = out, changed || c
			}
		}
		return v, changed, nil
	}, nil
}

// foldDirectives returns the SecRuleUpdateActionById lines that give the
// rules of the included files their folded chain; they go right after the
// Includes, before any removal by the policy.
func foldDirectives(included []string) ([]string, error) {
	rules, err := folded()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rules {
		if slices.Contains(included, r.file) {
			out = append(out, fmt.Sprintf(`SecRuleUpdateActionById %d "t:none,t:%s"`, r.id, r.name))
		}
	}
	return out, nil
}

// ruleChain reads the transformation chain of a SecRule or SecAction
// directive: the t: actions of its action list in order, t:none dropping
// those before it. ok is false for a rule with multiMatch or an action list
// it cannot read.
func ruleChain(raw string) (steps []string, ok bool) {
	actions, ok := actionList(raw)
	if !ok {
		return nil, false
	}
	for _, a := range splitActions(actions) {
		key, val, _ := strings.Cut(a, ":")
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "multimatch":
			return nil, false
		case "t":
			val = strings.TrimSpace(val)
			if val == "none" {
				steps = steps[:0]
			} else {
				steps = append(steps, val)
			}
		}
	}
	return steps, true
}

// actionList returns the last double-quoted string of raw (the action list
// of SecRule VARIABLES "OPERATOR" "ACTIONS" and of SecAction "ACTIONS").
func actionList(raw string) (string, bool) {
	s := strings.TrimSpace(raw)
	if !strings.HasSuffix(s, `"`) || len(s) < 2 {
		return "", false
	}
	end := len(s) - 1
	for i := end - 1; i >= 0; i-- {
		if s[i] == '"' && (i == 0 || s[i-1] != '\\') {
			return s[i+1 : end], true
		}
	}
	return "", false
}

// splitActions splits an action list at the commas outside single quotes,
// as Coraza's parser does (a backslash escapes the next character).
func splitActions(s string) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '\'':
			quoted = !quoted
		case c == ',' && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
