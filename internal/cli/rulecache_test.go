package cli_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// --cache-* flags on rule create make one cache action before the proxy,
// stored as given; bad values are refused naming the flag or field.
func TestRuleCreateCacheFlags(t *testing.T) {
	s := newCLI(t, startAPI(t))
	app := s.app().GetId()
	s.ok("upstream", "create", "--app", app, "--name", "web", "--server", "10.0.0.1:80")

	s.ok("rule", "create", "--app", app, "--name", "static", "--cache-ttl", "60s", "--cache-key-query", "a,b",
		"--cache-tag-header", "Cache-Tag", "--cache-stale-if-error", "10m", "--upstream", "web")
	s.ok("rule", "create", "--app", app, "--name", "cart", "--cache-bypass", "--upstream", "web")
	list := &configv1.App{}
	s.json(list, "rule", "list", "--app", app)
	want := []*configv1.CacheAction{
		{TtlS: 60, KeyQueryArgs: []string{"a", "b"}, TagHeader: "Cache-Tag", StaleIfErrorS: 600},
		{Bypass: true},
	}
	for i, w := range want {
		acts := list.Rules[i].GetActions()
		if len(acts) != 2 || !proto.Equal(acts[0].GetCache(), w) || acts[1].GetProxy() == nil {
			t.Errorf("rule %d actions %v, want cache %v then proxy", i, acts, w)
		}
	}
	if text := s.ok("rule", "list", "--app", app); !strings.Contains(text, "cache ttl 1m0s key query a,b tags Cache-Tag") || !strings.Contains(text, "cache bypass") {
		t.Errorf("rule list does not describe the cache actions:\n%s", text)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"fractional ttl", []string{"--cache-ttl", "1500ms"}, "--cache-ttl 1.5s: want whole seconds"},
		{"bypass with ttl", []string{"--cache-bypass", "--cache-ttl", "1m"}, "--cache-bypass: a bypass caches nothing"},
		{"bad key header", []string{"--cache-key-header", "X Y"}, "--cache-key-header: \"X Y\" is not a valid header name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := s.run(append([]string{"rule", "create", "--app", app, "--upstream", "web"}, tt.args...)...)
			if code == 0 || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want an error containing %q", code, stderr, tt.want)
			}
		})
	}
}
