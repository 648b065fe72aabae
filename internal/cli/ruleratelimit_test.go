package cli_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// --rate-limit and its flags on rule create make one rate limit action,
// stored as given and described by rule list; bad values are refused
// naming the flag.
func TestRuleCreateRateLimitFlags(t *testing.T) {
	s := newCLI(t, startAPI(t))
	app := s.app().GetId()
	s.ok("upstream", "create", "--app", app, "--name", "web", "--server", "10.0.0.1:80")

	s.ok("rule", "create", "--app", app, "--name", "api", "--when", "PathPrefix(`/api`)", "--rate-limit", "100/1m", "--burst", "20",
		"--nodelay", "--key", "ip,header:x-api-key", "--scope", "cluster", "--upstream", "web")
	s.ok("rule", "create", "--app", app, "--rate-limit", "10/s", "--burst", "5", "--on-exceed", "delay", "--delay", "2", "--delay-max", "500ms")
	s.ok("rule", "create", "--app", app, "--name", "login", "--rate-limit", "5/1h", "--algorithm", "sliding-window", "--on-exceed", "challenge",
		"--rate-limit-name", "logins", "--key", "cookie:sid,query:user,path")
	list := &configv1.App{}
	s.json(list, "rule", "list", "--app", app)
	ip := &configv1.RateLimitKey{Key: &configv1.RateLimitKey_ClientIp{ClientIp: true}}
	want := []*configv1.RateLimitAction{
		{Name: "api", Requests: 100, PeriodSeconds: 60, Burst: 20, OnExceed: configv1.RateLimitExceed_RATE_LIMIT_EXCEED_REJECT,
			Scope: configv1.RateLimitScope_RATE_LIMIT_SCOPE_CLUSTER,
			Keys:  []*configv1.RateLimitKey{ip, {Key: &configv1.RateLimitKey_Header{Header: "x-api-key"}}}},
		{Name: "rule-2", Requests: 10, PeriodSeconds: 1, Burst: 5, Nodelay: 2, DelayMaxMs: 500, OnExceed: configv1.RateLimitExceed_RATE_LIMIT_EXCEED_DELAY},
		{Name: "logins", Requests: 5, PeriodSeconds: 3600, Algorithm: configv1.RateLimitAlgorithm_RATE_LIMIT_ALGORITHM_SLIDING_WINDOW,
			OnExceed: configv1.RateLimitExceed_RATE_LIMIT_EXCEED_CHALLENGE, Keys: []*configv1.RateLimitKey{
				{Key: &configv1.RateLimitKey_Cookie{Cookie: "sid"}}, {Key: &configv1.RateLimitKey_Query{Query: "user"}}, {Key: &configv1.RateLimitKey_Path{Path: true}}}},
	}
	if len(list.Rules) != len(want) {
		t.Fatalf("%d rules, want %d", len(list.Rules), len(want))
	}
	for i, w := range want {
		if got := list.Rules[i].GetActions()[0].GetRateLimit(); !proto.Equal(got, w) {
			t.Errorf("rule %d: rate limit %v, want %v", i, got, w)
		}
	}
	text := s.ok("rule", "list", "--app", app)
	for _, w := range []string{"rate limit api 100/1m0s burst 20 key ip,header:x-api-key reject cluster",
		"rate limit logins 5/1h0m0s key cookie:sid,query:user,path sliding-window challenge"} {
		if !strings.Contains(text, w) {
			t.Errorf("rule list does not say %q:\n%s", w, text)
		}
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no period", []string{"--rate-limit", "100"}, "--rate-limit \"100\": want N/PERIOD"},
		{"burst alone", []string{"--burst", "5"}, "--burst needs --rate-limit"},
		{"bad key", []string{"--rate-limit", "1/s", "--key", "host"}, "--key: \"host\": want ip, path"},
		{"bad exceed", []string{"--rate-limit", "1/s", "--on-exceed", "drop"}, "--on-exceed \"drop\": want reject, delay, log, challenge"},
		{"nodelay and delay", []string{"--rate-limit", "1/s", "--nodelay", "--on-exceed", "delay"}, "contradict"},
		// The service's checks, named by flag.
		{"delay over burst", []string{"--rate-limit", "1/s", "--burst", "1", "--on-exceed", "delay", "--delay", "3"}, "--delay: 3 is more than burst 1"},
		{"burst on a window", []string{"--rate-limit", "1/s", "--burst", "1", "--algorithm", "fixed-window"}, "--burst: only the token bucket"},
		{"bad header key", []string{"--rate-limit", "1/s", "--key", "header:X Y"}, "--key: \"X Y\" is not a valid header name"},
		{"name taken", []string{"--rate-limit", "1/s", "--rate-limit-name", "api"}, "--rate-limit-name: rate limit \"api\" already exists in rule \"api\""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := s.run(append([]string{"rule", "create", "--app", app, "--upstream", "web"}, tt.args...)...)
			if code == 0 || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want an error containing %q", code, stderr, tt.want)
			}
		})
	}
}
