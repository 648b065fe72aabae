package config

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

func rateLimitAction(r *configv1.RateLimitAction) *configv1.Action {
	return &configv1.Action{Action: &configv1.Action_RateLimit{RateLimit: r}}
}

func hdrKey(h string) *configv1.RateLimitKey {
	return &configv1.RateLimitKey{Key: &configv1.RateLimitKey_Header{Header: h}}
}

// A rule's rate limit action is checked field by field, each violation
// naming rule.actions[i].rate_limit.<field>; good ones are kept as given.
func TestRateLimitActionValidation(t *testing.T) {
	web := map[string]bool{"web": true}
	proxy := proxyTo(&configv1.WeightedUpstream{Upstream: "web", Weight: 1})
	const (
		bucket  = configv1.RateLimitAlgorithm_RATE_LIMIT_ALGORITHM_TOKEN_BUCKET
		fixed   = configv1.RateLimitAlgorithm_RATE_LIMIT_ALGORITHM_FIXED_WINDOW
		sliding = configv1.RateLimitAlgorithm_RATE_LIMIT_ALGORITHM_SLIDING_WINDOW
		delay   = configv1.RateLimitExceed_RATE_LIMIT_EXCEED_DELAY
	)
	ip := &configv1.RateLimitKey{Key: &configv1.RateLimitKey_ClientIp{ClientIp: true}}
	tests := []struct {
		name   string
		rl     *configv1.RateLimitAction
		field  string // "" = valid
		reason string
	}{
		{"minimal", &configv1.RateLimitAction{Name: "api", Requests: 100}, "", ""},
		{"everything", &configv1.RateLimitAction{Name: "api", Requests: 100, PeriodSeconds: 60, Burst: 20, Nodelay: 5, Algorithm: bucket,
			OnExceed: delay, Scope: configv1.RateLimitScope_RATE_LIMIT_SCOPE_CLUSTER, DelayMaxMs: 2000,
			Keys: []*configv1.RateLimitKey{ip, hdrKey("X-Api-Key"), {Key: &configv1.RateLimitKey_Cookie{Cookie: "sid"}},
				{Key: &configv1.RateLimitKey_Query{Query: "user"}}, {Key: &configv1.RateLimitKey_Path{Path: true}}}}, "", ""},
		{"sliding window", &configv1.RateLimitAction{Name: "s", Requests: 10, PeriodSeconds: 60, Algorithm: sliding, Status: 503}, "", ""},
		{"no name", &configv1.RateLimitAction{Requests: 1}, "rule.actions[1].rate_limit.name", "is required"},
		{"no requests", &configv1.RateLimitAction{Name: "a"}, "rule.actions[1].rate_limit.requests", "must be > 0"},
		{"period too long", &configv1.RateLimitAction{Name: "a", Requests: 1, PeriodSeconds: 40 * 86400}, "rule.actions[1].rate_limit.period_seconds", "31 days"},
		{"burst on a window", &configv1.RateLimitAction{Name: "a", Requests: 1, Burst: 2, Algorithm: fixed}, "rule.actions[1].rate_limit.burst", "only the token bucket"},
		{"nodelay without delay", &configv1.RateLimitAction{Name: "a", Requests: 1, Burst: 2, Nodelay: 1}, "rule.actions[1].rate_limit.nodelay", "only with on_exceed DELAY"},
		{"nodelay over burst", &configv1.RateLimitAction{Name: "a", Requests: 1, Burst: 2, Nodelay: 3, OnExceed: delay}, "rule.actions[1].rate_limit.nodelay", "more than burst 2"},
		{"delay on a window", &configv1.RateLimitAction{Name: "a", Requests: 1, Algorithm: sliding, OnExceed: delay}, "rule.actions[1].rate_limit.on_exceed", "needs the token bucket"},
		{"delay max without delay", &configv1.RateLimitAction{Name: "a", Requests: 1, DelayMaxMs: 10}, "rule.actions[1].rate_limit.delay_max_ms", "only with on_exceed DELAY"},
		{"delay max too long", &configv1.RateLimitAction{Name: "a", Requests: 1, OnExceed: delay, DelayMaxMs: 60000}, "rule.actions[1].rate_limit.delay_max_ms", "more than 30000"},
		{"status 200", &configv1.RateLimitAction{Name: "a", Requests: 1, Status: 200}, "rule.actions[1].rate_limit.status", "not a 4xx or 5xx"},
		{"unknown algorithm", &configv1.RateLimitAction{Name: "a", Requests: 1, Algorithm: 9}, "rule.actions[1].rate_limit.algorithm", "unknown value 9"},
		{"unknown scope", &configv1.RateLimitAction{Name: "a", Requests: 1, Scope: 7}, "rule.actions[1].rate_limit.scope", "unknown value 7"},
		{"empty key part", &configv1.RateLimitAction{Name: "a", Requests: 1, Keys: []*configv1.RateLimitKey{ip, {}}}, "rule.actions[1].rate_limit.keys[1]", "no key part set"},
		{"bad header", &configv1.RateLimitAction{Name: "a", Requests: 1, Keys: []*configv1.RateLimitKey{hdrKey("X Key")}}, "rule.actions[1].rate_limit.keys[0].header", "not a valid header name"},
		{"duplicate header", &configv1.RateLimitAction{Name: "a", Requests: 1, Keys: []*configv1.RateLimitKey{hdrKey("X-Key"), hdrKey("x-key")}}, "rule.actions[1].rate_limit.keys[1]", "duplicate of keys[0]"},
		{"bad query", &configv1.RateLimitAction{Name: "a", Requests: 1, Keys: []*configv1.RateLimitKey{{Key: &configv1.RateLimitKey_Query{Query: "a=b"}}}}, "rule.actions[1].rate_limit.keys[0].query", "not a valid query argument"},
		{"long cookie", &configv1.RateLimitAction{Name: "a", Requests: 1, Keys: []*configv1.RateLimitKey{{Key: &configv1.RateLimitKey_Cookie{Cookie: strings.Repeat("c", 200)}}}}, "rule.actions[1].rate_limit.keys[0].cookie", "more than 128"},
		{"client_ip false", &configv1.RateLimitAction{Name: "a", Requests: 1, Keys: []*configv1.RateLimitKey{{Key: &configv1.RateLimitKey_ClientIp{}}}}, "rule.actions[1].rate_limit.keys[0].client_ip", "must be true"},
		{"too many keys", &configv1.RateLimitAction{Name: "a", Requests: 1, Keys: []*configv1.RateLimitKey{ip, ip, ip, ip, ip, ip, ip, ip, ip}}, "rule.actions[1].rate_limit.keys", "more than 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, vs := normalizeRule("rule", ruleWith(proxy, rateLimitAction(tt.rl)), web)
			if tt.field == "" {
				if len(vs) != 0 {
					t.Fatalf("valid rate limit rejected: %v", vs)
				}
				if !proto.Equal(got.Actions[1].GetRateLimit(), tt.rl) {
					t.Fatalf("rate limit changed: %v, want %v", got.Actions[1].GetRateLimit(), tt.rl)
				}
				return
			}
			for _, v := range vs {
				if v.Field == tt.field {
					if !strings.Contains(v.Reason, tt.reason) {
						t.Fatalf("%s: reason %q does not contain %q", v.Field, v.Reason, tt.reason)
					}
					return
				}
			}
			t.Fatalf("violations %v do not name %s", vs, tt.field)
		})
	}
}

// Through the API: a rate limit rule is stored as given; a bad one names
// its field; a second rule cannot reuse a limit's name.
func TestRateLimitRuleThroughAPI(t *testing.T) {
	e := newEnv(t, envOptions{})
	app := must(e.client.CreateApp(e.ctx, &configv1.CreateAppRequest{Name: "shop", Domains: []string{"shop.example.com"}}))(t).App
	must(e.client.CreateUpstream(e.ctx, &configv1.CreateUpstreamRequest{AppId: app.Id, Upstream: sampleUpstream("web", "10.0.0.1:80")}))(t)
	proxy := proxyTo(&configv1.WeightedUpstream{Upstream: "web", Weight: 1})
	rl := &configv1.RateLimitAction{Name: "api", Requests: 100, PeriodSeconds: 60, Burst: 20, Keys: []*configv1.RateLimitKey{hdrKey("X-Api-Key")}}
	r := must(e.client.CreateRule(e.ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: ruleWith(rateLimitAction(rl), proxy)}))(t)
	if got := r.GetRule().GetActions()[0].GetRateLimit(); !proto.Equal(got, rl) {
		t.Fatalf("stored %v, want %v", got, rl)
	}
	_, err := e.client.CreateRule(e.ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: ruleWith(rateLimitAction(&configv1.RateLimitAction{Name: "x"}), proxy)})
	wantField(t, err, "rule.actions[0].rate_limit.requests")
	again := ruleWith(rateLimitAction(&configv1.RateLimitAction{Name: "api", Requests: 1}), proxy)
	again.Name = "other"
	_, err = e.client.CreateRule(e.ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: again})
	wantField(t, err, "rule.actions[0].rate_limit.name")
	// The rule itself may keep its limit's name on update.
	upd := proto.Clone(r.GetRule()).(*configv1.Rule)
	upd.GetActions()[0].GetRateLimit().Requests = 50
	must(e.client.UpdateRule(e.ctx, &configv1.UpdateRuleRequest{AppId: app.Id, Rule: upd}))(t)
}
