package waf

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
)

// FuzzNormalize: any policy (as its wire bytes) is refused or accepted
// without a panic, and an accepted policy is a fixed point: normalizing it
// again changes nothing (what a node receives is what a write stored).
func FuzzNormalize(f *testing.F) {
	for _, p := range []*wafv1.WafPolicy{
		strict(),
		{Name: "a", Mode: wafv1.WafMode_WAF_MODE_DETECT, ParanoiaLevel: 4, Labels: map[string]string{"team": "web"},
			Exclusions:  []*wafv1.RuleExclusion{{RuleIds: []string{"942100-942999", "920350"}, Tags: []string{"attack-sqli"}, PathPrefixes: []string{"/search"}, Targets: []string{"ARGS:q"}}},
			Whitelist:   &wafv1.Whitelist{Extensions: []string{".CSS", "png", "png"}, PathPrefixes: []string{"/static/"}, When: `Method("GET")`},
			RequestBody: &wafv1.BodyInspection{Enabled: true, Json: true}},
		{Name: "b", CustomRules: []*wafv1.CustomRule{{Id: "x", When: `Header("X-A", "1") || Query("q", "2")`, Action: wafv1.WafRuleAction_WAF_RULE_ACTION_CHALLENGE}}},
	} {
		b, err := proto.Marshal(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &wafv1.WafPolicy{}
		if proto.Unmarshal(data, in) != nil {
			return
		}
		out, err := Normalize("wafp_1", in, in.GetPartitionIds())
		if err != nil {
			if !strings.Contains(err.Error(), ": ") {
				t.Fatalf("a refusal without a field: %v", err)
			}
			return
		}
		again, err := Normalize("wafp_1", out, out.GetPartitionIds())
		if err != nil {
			t.Fatalf("a normalized policy is refused: %v\n%v", err, out)
		}
		if !proto.Equal(out, again) {
			t.Fatalf("not a fixed point:\n%v\n%v", out, again)
		}
	})
}

// BenchmarkHitFold: hits folded per second into the recent ring, the rule
// counters and one watcher (the service's ingest path after decoding).
func BenchmarkHitFold(b *testing.B) {
	l := newHitLog()
	w, _ := l.watch("app_1", "", time.Time{})
	go func() {
		for range w.ch {
		}
	}()
	hits := make([]*wafv1.WafHit, 64)
	for i := range hits {
		hits[i] = &wafv1.WafHit{Time: timestamppb.Now(), AppId: fmt.Sprintf("app_%d", i%8), PolicyId: "wafp_1", Action: "block", Status: 403,
			Matches: []*wafv1.RuleMatch{{RuleId: fmt.Sprint(942100 + i%16)}, {RuleId: "custom:x"}}}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.add(uint64(i+1), hits[i%len(hits)])
	}
}
