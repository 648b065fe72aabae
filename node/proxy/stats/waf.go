package stats

import (
	"time"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
)

// WAF rule counts of an app's second: one slot per (rule, action) pair
// the policy's matches used, MaxWAFRules in all with one "other" slot per
// action for the pairs that found no room.
const MaxWAFRules = 64

// WAFAction is what a policy did with a request it matched, as the
// metrics count it.
type WAFAction int

const (
	WAFBlocked    WAFAction = iota // answered with the verdict's status
	WAFChallenged                  // served the challenge
	WAFDetected                    // served: DETECT mode, a LOG or ALLOW rule
	wafActions
)

// WAFActionNames are the actions' names in metrics reports
// (WafRuleCount.action).
var WAFActionNames = [wafActions]string{"blocked", "challenged", "detected"}

type wafRuleCount struct {
	rule   string
	action WAFAction
	count  uint64
}

// wafCounts is a bucket's WAF counts.
type wafCounts struct {
	hits  uint64 // requests matched
	rules [MaxWAFRules - int(wafActions)]wafRuleCount
	n     int
	other [wafActions]uint64
}

func (w *wafCounts) reset() { *w = wafCounts{} }

func (w *wafCounts) add(action WAFAction, n int, rule func(i int) string) {
	w.hits++
	for i := range n {
		w.rule(rule(i), action)
	}
}

func (w *wafCounts) rule(rule string, action WAFAction) {
	for i := range w.n {
		if r := &w.rules[i]; r.rule == rule && r.action == action {
			r.count++
			return
		}
	}
	if w.n < len(w.rules) {
		// Rule ids come from the compiled policy, not from the request:
		// kept without a copy.
		w.rules[w.n] = wafRuleCount{rule, action, 1}
		w.n++
		return
	}
	w.other[action]++
}

func (w *wafCounts) proto(p *metricsv1.AppSecond) {
	p.WafHits = w.hits
	for _, r := range w.rules[:w.n] {
		p.WafRules = append(p.WafRules, &metricsv1.WafRuleCount{RuleId: r.rule, Action: WAFActionNames[r.action], Count: r.count})
	}
	for a, n := range w.other {
		if n > 0 {
			p.WafRules = append(p.WafRules, &metricsv1.WafRuleCount{RuleId: OtherName, Action: WAFActionNames[a], Count: n})
		}
	}
}

// WAF records a request the app's WAF policy matched at at: what it did
// and the ids of the n rules that matched (rule(0) to rule(n-1)). Only the
// per-second aggregates count it (the node's Prometheus counters are
// node/waf's).
func (a *App) WAF(at time.Time, action WAFAction, n int, rule func(i int) string) {
	if a.sec == nil || action < 0 || action >= wafActions {
		return
	}
	s := a.sec
	s.mu.Lock()
	b := s.at(at.Unix())
	b.used = true
	b.waf.add(action, n, rule)
	s.mu.Unlock()
}
