package config

import (
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// TestSizeLimits (issue 11.4): an app over a size limit is refused with
// invalid_argument naming the field and the limit, before anything is
// appended; before, CreateApp with 10,000 domains of 240 characters made a
// 2.4 MB event and answered internal.
func TestSizeLimits(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, ctx := e.client, e.ctx
	domains := make([]string, 10_000)
	for i := range domains {
		label := fmt.Sprintf("d%05d", i)
		domains[i] = strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + label + strings.Repeat("e", 39) + ".com"
	}
	head := e.head()
	_, err := c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "many", Domains: domains})
	wantCode(t, err, connect.CodeInvalidArgument)
	if v := wantField(t, err, "domains"); !strings.Contains(v.Reason, "more than the limit of 262144") {
		t.Fatalf("reason %q does not name the limit", v.Reason)
	}

	// Rules of 60,000-byte bodies: the one that would pass the app limit
	// is refused, the app keeps the others.
	app := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "big", Domains: []string{"big.example.com"}}))(t).App
	n := 0
	for ; n < 20; n++ {
		_, err = c.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: &configv1.Rule{Name: fmt.Sprintf("r%d", n),
			Actions: []*configv1.Action{{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Body: strings.Repeat("x", 60_000)}}}}}})
		if err != nil {
			break
		}
	}
	wantCode(t, err, connect.CodeInvalidArgument)
	if v := wantField(t, err, "rule"); n != maxAppBytes/60_000 || !strings.Contains(v.Reason, "786432 bytes per app") {
		t.Fatalf("rule %d refused: %q; want rule %d refused naming the limit", n, v.Reason, maxAppBytes/60_000)
	}
	if got := must(c.GetApp(ctx, &configv1.GetAppRequest{AppId: app.Id}))(t).App; len(got.Rules) != n {
		t.Fatalf("app has %d rules, want the %d accepted", len(got.Rules), n)
	}
	if e.head() != head+uint64(1+n) {
		t.Fatalf("log moved from %d to %d: refused changes were appended", head, e.head())
	}
}
