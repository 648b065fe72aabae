package stats

import (
	"fmt"
	"testing"
	"time"
)

// WAF matches land in their second per (rule, action); past MaxWAFRules
// pairs the rest are counted under "other" of their action, so that the
// totals stay exact; a reused bucket starts from zero.
func TestSecondsWAFRules(t *testing.T) {
	a := NewApp(true)
	at := time.Unix(1_700_000_000, 0)
	record := func(at time.Time, action WAFAction, rules ...string) {
		a.WAF(at, action, len(rules), func(i int) string { return rules[i] })
	}
	for range 3 {
		record(at, WAFBlocked, "942100", "949110")
	}
	record(at, WAFDetected, "942100")
	record(at, WAFChallenged, "bots")
	many := make([]string, 100)
	for i := range many {
		many[i] = fmt.Sprintf("9%05d", i)
	}
	record(at.Add(time.Second), WAFDetected, many...)

	out, _ := a.TakeSeconds("app", at.Unix()+2, nil)
	if len(out) != 2 {
		t.Fatalf("%d seconds, want 2", len(out))
	}
	got := map[string]uint64{}
	for _, r := range out[0].WafRules {
		got[r.RuleId+"/"+r.Action] += r.Count
	}
	want := map[string]uint64{"942100/blocked": 3, "949110/blocked": 3, "942100/detected": 1, "bots/challenged": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) || out[0].WafHits != 5 {
		t.Errorf("first second: %v, %d hits; want %v, 5", got, out[0].WafHits, want)
	}
	second := out[1]
	var sum uint64
	for _, r := range second.WafRules {
		sum += r.Count
	}
	if len(second.WafRules) > MaxWAFRules || sum != 100 || second.WafHits != 1 {
		t.Errorf("second second: %d entries (at most %d), %d matches (want 100), %d hits (want 1)", len(second.WafRules), MaxWAFRules, sum, second.WafHits)
	}
	if last := second.WafRules[len(second.WafRules)-1]; last.RuleId != OtherName || last.Action != "detected" {
		t.Errorf("overflow counted as %s/%s, want %s/detected", last.RuleId, last.Action, OtherName)
	}
	// The buckets are reused: a later second sees none of these counts.
	a.Done(&Done{Status: 200, At: at.Add(5 * time.Second)})
	out, _ = a.TakeSeconds("app", at.Unix()+6, nil)
	if len(out) != 1 || len(out[0].WafRules) != 0 || out[0].WafHits != 0 {
		t.Errorf("a reused bucket: %v", out)
	}
}

// Recording a match allocates nothing once the bucket is warm.
func TestSecondsWAFNoAlloc(t *testing.T) {
	a := NewApp(true)
	at := time.Unix(1_700_000_000, 0)
	rules := []string{"942100", "949110"}
	rule := func(i int) string { return rules[i] }
	a.WAF(at, WAFBlocked, len(rules), rule)
	if n := testing.AllocsPerRun(100, func() { a.WAF(at, WAFBlocked, len(rules), rule) }); n != 0 {
		t.Errorf("%v allocations per match, want 0", n)
	}
}

// BenchmarkWAF: one blocked request matching three rules, recorded into
// its second.
func BenchmarkWAF(b *testing.B) {
	a := NewApp(true)
	at := time.Unix(1_700_000_000, 0)
	rules := []string{"942100", "942190", "949110"}
	rule := func(i int) string { return rules[i] }
	b.ReportAllocs()
	for b.Loop() {
		a.WAF(at, WAFBlocked, len(rules), rule)
	}
}
