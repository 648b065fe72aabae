package config

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

func cacheAction(c *configv1.CacheAction) *configv1.Action {
	return &configv1.Action{Action: &configv1.Action_Cache{Cache: c}}
}

// TestCacheActionValidation: a rule's cache action is checked field by field,
// each violation naming rule.actions[i].cache.<field>; good ones are kept as given.
func TestCacheActionValidation(t *testing.T) {
	web := map[string]bool{"web": true}
	proxy := proxyTo(&configv1.WeightedUpstream{Upstream: "web", Weight: 1})
	tests := []struct {
		name   string
		cache  *configv1.CacheAction
		field  string // "" = valid
		reason string
	}{
		{"ttl and key", &configv1.CacheAction{TtlS: 60, TtlByStatusS: map[uint32]uint32{404: 5}, KeyQueryArgs: []string{"page", "q"}, KeyHeaders: []string{"Accept-Language"}, KeyCookies: []string{"currency"}, StaleWhileRevalidateS: 30, StaleIfErrorS: 600, TagHeader: "Surrogate-Key"}, "", ""},
		{"defaults only", &configv1.CacheAction{}, "", ""},
		{"bypass", &configv1.CacheAction{Bypass: true}, "", ""},
		{"bypass with ttl", &configv1.CacheAction{Bypass: true, TtlS: 60}, "rule.actions[1].cache.bypass", "set no other cache field"},
		{"ttl too long", &configv1.CacheAction{TtlS: 400 * 24 * 3600}, "rule.actions[1].cache.ttl_s", "more than"},
		{"stale window too long", &configv1.CacheAction{StaleIfErrorS: 400 * 24 * 3600}, "rule.actions[1].cache.stale_if_error_s", "more than"},
		{"status out of range", &configv1.CacheAction{TtlByStatusS: map[uint32]uint32{200: 60, 42: 1}}, "rule.actions[1].cache.ttl_by_status_s[42]", "outside 100-599"},
		{"override without ttl", &configv1.CacheAction{OverrideOrigin: true}, "rule.actions[1].cache.override_origin", "needs ttl_s"},
		{"ignore query with args", &configv1.CacheAction{KeyIgnoreQuery: true, KeyQueryArgs: []string{"a"}}, "rule.actions[1].cache.key_query_args", "key_ignore_query"},
		{"bad query arg", &configv1.CacheAction{KeyQueryArgs: []string{"a", "b=c"}}, "rule.actions[1].cache.key_query_args[1]", "not a valid query argument"},
		{"bad header", &configv1.CacheAction{KeyHeaders: []string{"X Bad"}}, "rule.actions[1].cache.key_headers[0]", "not a valid header name"},
		{"duplicate header", &configv1.CacheAction{KeyHeaders: []string{"Accept", "accept"}}, "rule.actions[1].cache.key_headers[1]", "duplicate of key_headers[0]"},
		{"bad cookie", &configv1.CacheAction{KeyCookies: []string{""}}, "rule.actions[1].cache.key_cookies[0]", "cookie name is empty"},
		{"too many headers", &configv1.CacheAction{KeyHeaders: strings.Split(strings.Repeat("h,", maxCacheKeyList)+"h", ",")}, "rule.actions[1].cache.key_headers", "more than 32"},
		{"bad tag header", &configv1.CacheAction{TagHeader: "Cache Tag"}, "rule.actions[1].cache.tag_header", "not a valid header name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ruleWith(proxy, cacheAction(tt.cache))
			got, vs := normalizeRule("rule", in, web)
			if tt.field == "" {
				if len(vs) != 0 {
					t.Fatalf("valid cache action rejected: %v", vs)
				}
				if !proto.Equal(got.Actions[1].GetCache(), tt.cache) {
					t.Fatalf("cache action changed: %v, want %v", got.Actions[1].GetCache(), tt.cache)
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

	t.Run("two cache actions", func(t *testing.T) {
		_, vs := normalizeRule("rule", ruleWith(proxy, cacheAction(&configv1.CacheAction{}), cacheAction(&configv1.CacheAction{TtlS: 1})), web)
		if len(vs) != 1 || vs[0].Field != "rule.actions[2]" || !strings.Contains(vs[0].Reason, "at most one cache action") {
			t.Fatalf("violations %v, want one on rule.actions[2]", vs)
		}
	})
}

// A cache rule goes through the API and comes back as stored.
func TestCacheRuleThroughAPI(t *testing.T) {
	e := newEnv(t, envOptions{})
	app := must(e.client.CreateApp(e.ctx, &configv1.CreateAppRequest{Name: "shop", Domains: []string{"shop.example.com"}}))(t).App
	must(e.client.CreateUpstream(e.ctx, &configv1.CreateUpstreamRequest{AppId: app.Id, Upstream: sampleUpstream("web", "10.0.0.1:80")}))(t)
	c := &configv1.CacheAction{TtlS: 60, KeyQueryArgs: []string{"page"}}
	r := must(e.client.CreateRule(e.ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: ruleWith(proxyTo(&configv1.WeightedUpstream{Upstream: "web", Weight: 1}), cacheAction(c))}))(t)
	if got := r.GetRule().GetActions()[1].GetCache(); !proto.Equal(got, c) {
		t.Fatalf("stored cache action %v, want %v", got, c)
	}
	_, err := e.client.CreateRule(e.ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: ruleWith(proxyTo(&configv1.WeightedUpstream{Upstream: "web", Weight: 1}), cacheAction(&configv1.CacheAction{TtlS: 1 << 31}))})
	wantField(t, err, "rule.actions[1].cache.ttl_s")
}
