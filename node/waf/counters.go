package waf

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/strata-edge/strata/pkg/wafengine"
)

// counters are the runtime's Prometheus-facing counts. Requests are
// counted per policy in atomics; outcomes per (policy, action) and matches
// per (policy, rule, action) in maps bounded by the rule sets (the CRS has
// about 700 rules, a policy at most 1000 custom ones).
type counters struct {
	policies      atomic.Int64
	compiles      atomic.Uint64
	compileNanos  atomic.Uint64
	published     atomic.Uint64
	publishErrors atomic.Uint64
	dropped       atomic.Uint64
	panics        atomic.Uint64

	inspected sync.Map // policy id -> *atomic.Uint64
	skipped   sync.Map // policy id -> *atomic.Uint64
	responses sync.Map // policy id -> *atomic.Uint64
	actions   sync.Map // actionKey -> *atomic.Uint64
	rules     sync.Map // ruleKey -> *atomic.Uint64
}

type actionKey struct{ policy, action string }
type ruleKey struct{ policy, rule, action string }

func inc[K comparable](m *sync.Map, k K) {
	if c, ok := m.Load(k); ok {
		c.(*atomic.Uint64).Add(1)
		return
	}
	c, _ := m.LoadOrStore(k, new(atomic.Uint64))
	c.(*atomic.Uint64).Add(1)
}

func (c *counters) countVerdict(policy string, v wafengine.Verdict) {
	if v.Response {
		inc(&c.responses, policy)
	} else {
		inc(&c.inspected, policy)
	}
	if v.Skipped {
		inc(&c.skipped, policy)
	}
	if v.Action == wafengine.None {
		return
	}
	c.countAction(policy, string(v.Action))
	for _, m := range v.Matches {
		c.countRule(policy, m.RuleID, string(v.Action))
	}
}

func (c *counters) countAction(policy, action string) { inc(&c.actions, actionKey{policy, action}) }
func (c *counters) countRule(policy, rule, action string) {
	inc(&c.rules, ruleKey{policy, rule, action})
}

// Stats are the runtime's counters since it started.
type Stats struct {
	// Policies compiled for the running config.
	Policies int
	// Compiles and the time they took, in seconds.
	Compiles       uint64
	CompileSeconds float64
	// Hits published on NATS, the ones that failed and the ones over
	// Options.MaxHitsPerSecond; inspections that panicked.
	Published, PublishErrors, Dropped, Panics uint64
	// Requests inspected and skipped by the whitelist, by policy id.
	Inspected, Skipped map[string]uint64
	// Upstream responses inspected (inspect_responses), by policy id.
	Responses map[string]uint64
	// Outcomes by policy and action; matches by policy, rule and action.
	Actions []Count
	Rules   []Count
}

// Count is one counter of Stats (Rule empty in Stats.Actions).
type Count struct {
	Policy, Rule, Action string
	N                    uint64
}

// Stats reads the counters.
func (r *Runtime) Stats() Stats {
	s := Stats{
		Policies: int(r.policies.Load()), Compiles: r.compiles.Load(),
		CompileSeconds: float64(r.compileNanos.Load()) / 1e9,
		Published:      r.published.Load(), PublishErrors: r.publishErrors.Load(),
		Dropped: r.dropped.Load(), Panics: r.panics.Load(),
		Inspected: map[string]uint64{}, Skipped: map[string]uint64{}, Responses: map[string]uint64{},
	}
	r.responses.Range(func(k, v any) bool { s.Responses[k.(string)] = v.(*atomic.Uint64).Load(); return true })
	r.inspected.Range(func(k, v any) bool { s.Inspected[k.(string)] = v.(*atomic.Uint64).Load(); return true })
	r.skipped.Range(func(k, v any) bool { s.Skipped[k.(string)] = v.(*atomic.Uint64).Load(); return true })
	r.actions.Range(func(k, v any) bool {
		a := k.(actionKey)
		s.Actions = append(s.Actions, Count{Policy: a.policy, Action: a.action, N: v.(*atomic.Uint64).Load()})
		return true
	})
	r.rules.Range(func(k, v any) bool {
		a := k.(ruleKey)
		s.Rules = append(s.Rules, Count{Policy: a.policy, Rule: a.rule, Action: a.action, N: v.(*atomic.Uint64).Load()})
		return true
	})
	for _, l := range [][]Count{s.Actions, s.Rules} {
		sort.Slice(l, func(i, j int) bool {
			a, b := l[i], l[j]
			if a.Policy != b.Policy {
				return a.Policy < b.Policy
			}
			if a.Rule != b.Rule {
				return a.Rule < b.Rule
			}
			return a.Action < b.Action
		})
	}
	return s
}
