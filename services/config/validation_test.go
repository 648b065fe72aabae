package config

import (
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/ids"
)

func upstreamWith(change func(u *configv1.Upstream)) *configv1.Upstream {
	u := &configv1.Upstream{Name: "new", Servers: []*configv1.Server{{Address: "10.0.0.1:80", Weight: 1}}}
	change(u)
	return u
}

func ruleWith(actions ...*configv1.Action) *configv1.Rule {
	return &configv1.Rule{Name: "new", Actions: actions}
}

func proxyTo(ws ...*configv1.WeightedUpstream) *configv1.Action {
	return &configv1.Action{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{Upstreams: ws}}}
}

// TestValidationRejects checks that each kind of bad input is rejected with
// InvalidArgument naming the field, and that nothing is stored.
func TestValidationRejects(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client
	ctx := e.ctx
	base := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "base", Domains: []string{"base.example.com"}}))(t).App
	must(c.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: base.Id, Upstream: sampleUpstream("web", "10.0.0.1:80")}))(t)
	must(c.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: base.Id, Upstream: sampleUpstream("spare", "10.0.0.2:80")}))(t)
	must(c.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: base.Id, Rule: proxyRule("api", "PathPrefix(`/api`)", "web")}))(t)
	must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "other", Domains: []string{"taken.example.com"}}))(t)
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: base.Id}))(t)

	createApp := func(req *configv1.CreateAppRequest) func() error {
		return func() error { _, err := c.CreateApp(ctx, req); return err }
	}
	createUpstream := func(u *configv1.Upstream) func() error {
		return func() error {
			_, err := c.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: base.Id, Upstream: u})
			return err
		}
	}
	createRule := func(r *configv1.Rule) func() error {
		return func() error {
			_, err := c.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: base.Id, Rule: r})
			return err
		}
	}
	labels := map[string]string{}
	for i := range maxLabels + 1 {
		labels[fmt.Sprintf("k%d", i)] = "v"
	}

	tests := []struct {
		name   string
		call   func() error
		field  string
		reason string // substring of the reason
	}{
		{"app name empty", createApp(&configv1.CreateAppRequest{}), "name", "is required"},
		{"app name too long", createApp(&configv1.CreateAppRequest{Name: strings.Repeat("a", 101)}), "name", "more than 64"},
		{"app name 65 characters", createApp(&configv1.CreateAppRequest{Name: strings.Repeat("a", 65)}), "name", "more than 64"},
		{"app name dot dot", createApp(&configv1.CreateAppRequest{Name: "a..b"}), "name", `must not contain ".."`},
		{"upstream name trailing dot", createUpstream(upstreamWith(func(u *configv1.Upstream) { u.Name = "web." })), "upstream.name", "must not end with '.'"},
		{"app name characters", createApp(&configv1.CreateAppRequest{Name: "Shop!"}), "name", "invalid character"},
		{"app name taken", createApp(&configv1.CreateAppRequest{Name: "other"}), "name", "already used by app"},
		{"domain syntax", createApp(&configv1.CreateAppRequest{Name: "n", Domains: []string{"ok.example.com", "bad_label.example.com"}}), "domains[1]", "invalid character '_'"},
		{"domain wildcard misplaced", createApp(&configv1.CreateAppRequest{Name: "n", Domains: []string{"a.*.example.com"}}), "domains[0]", "wildcard"},
		{"domain duplicate", createApp(&configv1.CreateAppRequest{Name: "n", Domains: []string{"a.example.com", "x.example.com", "A.Example.com."}}), "domains[2]", "duplicate of domains[0]"},
		{"domain of another app", createApp(&configv1.CreateAppRequest{Name: "n", Domains: []string{"taken.example.com"}}), "domains[0]", `app "other"`},
		{"too many ports", createApp(&configv1.CreateAppRequest{Name: "n", HttpPorts: portRange(1, 40), HttpsPorts: portRange(1001, 30)}), "http_ports", "70 ports, more than 64"},
		{"domains x ports", createApp(&configv1.CreateAppRequest{Name: "n", Domains: domainList(5000), HttpPorts: portRange(1, 21)}), "domains", "5000 domains x 21 ports is 105000 routes, more than 100000"},
		{"http port zero", createApp(&configv1.CreateAppRequest{Name: "n", HttpPorts: []uint32{0}}), "http_ports[0]", "out of range"},
		{"https port too big", createApp(&configv1.CreateAppRequest{Name: "n", HttpsPorts: []uint32{443, 70000}}), "https_ports[1]", "out of range"},
		{"port in both lists", createApp(&configv1.CreateAppRequest{Name: "n", HttpPorts: []uint32{8080}, HttpsPorts: []uint32{8080}}), "https_ports[0]", "already listed in http_ports[0]"},
		{"unknown partition", createApp(&configv1.CreateAppRequest{Name: "n", Partitions: []string{"default", "nowhere"}}), "partitions[1]", `"nowhere" does not exist`},
		{"duplicate partition", createApp(&configv1.CreateAppRequest{Name: "n", Partitions: []string{"default", "default"}}), "partitions[1]", "duplicate"},
		{"label key", createApp(&configv1.CreateAppRequest{Name: "n", Labels: map[string]string{"-bad": "v"}}), `labels["-bad"]`, "key"},
		{"label value", createApp(&configv1.CreateAppRequest{Name: "n", Labels: map[string]string{"team": strings.Repeat("x", 300)}}), `labels["team"]`, "more than 256"},
		{"too many labels", createApp(&configv1.CreateAppRequest{Name: "n", Labels: labels}), "labels", "more than 64"},
		{"https redirect without https port", createApp(&configv1.CreateAppRequest{Name: "n", HttpsRedirect: true}), "https_redirect", "no https port"},
		{"hsts without https port", createApp(&configv1.CreateAppRequest{Name: "n", Hsts: &configv1.Hsts{MaxAgeSeconds: 60}}), "hsts", "no https port"},
		{"hsts max-age zero", createApp(&configv1.CreateAppRequest{Name: "n", HttpsPorts: []uint32{443}, Hsts: &configv1.Hsts{IncludeSubdomains: true}}), "hsts.max_age_seconds", "out of range 1-63072000"},
		{"hsts max-age too long", createApp(&configv1.CreateAppRequest{Name: "n", HttpsPorts: []uint32{443}, Hsts: &configv1.Hsts{MaxAgeSeconds: 63072001}}), "hsts.max_age_seconds", "out of range"},
		{"hsts preload without subdomains", createApp(&configv1.CreateAppRequest{Name: "n", HttpsPorts: []uint32{443}, Hsts: &configv1.Hsts{MaxAgeSeconds: 63072000, Preload: true}}), "hsts.preload", "include_subdomains"},
		{"hsts preload too short", createApp(&configv1.CreateAppRequest{Name: "n", HttpsPorts: []uint32{443}, Hsts: &configv1.Hsts{MaxAgeSeconds: 86400, IncludeSubdomains: true, Preload: true}}), "hsts.preload", "at least 31536000"},
		{"update app name taken", func() error {
			_, err := c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: base.Id, Name: "other"})
			return err
		}, "name", "already used"},
		{"update app domain", func() error {
			_, err := c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: base.Id, Domains: []string{"taken.example.com"}})
			return err
		}, "domains[0]", "already used"},

		{"upstream name empty", createUpstream(upstreamWith(func(u *configv1.Upstream) { u.Name = "" })), "upstream.name", "is required"},
		{"upstream name taken", createUpstream(upstreamWith(func(u *configv1.Upstream) { u.Name = "web" })), "upstream.name", "already exists"},
		{"upstream without servers", createUpstream(upstreamWith(func(u *configv1.Upstream) { u.Servers = nil })), "upstream.servers", "at least one server"},
		{"server without port", createUpstream(upstreamWith(func(u *configv1.Upstream) { u.Servers[0].Address = "10.0.0.1" })), "upstream.servers[0].address", "not host:port"},
		{"server port zero", createUpstream(upstreamWith(func(u *configv1.Upstream) {
			u.Servers = append(u.Servers, &configv1.Server{Address: "10.0.0.2:0", Weight: 1})
		})), "upstream.servers[1].address", "out of range"},
		{"server host", createUpstream(upstreamWith(func(u *configv1.Upstream) { u.Servers[0].Address = "bad_host:80" })), "upstream.servers[0].address", "invalid character"},
		{"server duplicate", createUpstream(upstreamWith(func(u *configv1.Upstream) {
			u.Servers = append(u.Servers, &configv1.Server{Address: "10.0.0.1:80", Weight: 1})
		})), "upstream.servers[1].address", "duplicate"},
		{"weight too big", createUpstream(upstreamWith(func(u *configv1.Upstream) { u.Servers[0].Weight = 1001 })), "upstream.servers[0].weight", "more than 1000"},
		{"all weights zero", createUpstream(upstreamWith(func(u *configv1.Upstream) {
			u.Servers[0].Weight = 0
			u.Servers = append(u.Servers, &configv1.Server{Address: "10.0.0.2:80"})
		})), "upstream.servers", "weight above 0"},
		{"only backups", createUpstream(upstreamWith(func(u *configv1.Upstream) { u.Servers[0].Backup = true })), "upstream.servers", "not be a backup"},
		{"unknown policy", createUpstream(upstreamWith(func(u *configv1.Upstream) { u.Policy = 99 })), "upstream.policy", "unknown"},
		{"hash without key", createUpstream(upstreamWith(func(u *configv1.Upstream) {
			u.Policy = configv1.BalancePolicy_BALANCE_POLICY_CONSISTENT_HASH
		})), "upstream.hash_key", "required"},
		{"hash key syntax", createUpstream(upstreamWith(func(u *configv1.Upstream) {
			u.Policy = configv1.BalancePolicy_BALANCE_POLICY_CONSISTENT_HASH
			u.HashKey = "header:"
		})), "upstream.hash_key", "header name is empty"},
		{"hash key without hash policy", createUpstream(upstreamWith(func(u *configv1.Upstream) { u.HashKey = "uri" })), "upstream.hash_key", "only used"},
		{"timeout too long", createUpstream(upstreamWith(func(u *configv1.Upstream) { u.Timeouts = &configv1.Timeouts{ReadMs: 4_000_000} })), "upstream.timeouts.read_ms", "1h"},
		{"too many retries", createUpstream(upstreamWith(func(u *configv1.Upstream) { u.Retries = 11 })), "upstream.retries", "more than 10"},
		{"sni without tls", createUpstream(upstreamWith(func(u *configv1.Upstream) { u.Tls = &configv1.UpstreamTLS{Sni: "a.example.com"} })), "upstream.tls.sni", "tls.enabled"},
		{"health interval", createUpstream(upstreamWith(func(u *configv1.Upstream) {
			u.HealthCheck = &configv1.HealthCheck{Enabled: true, IntervalMs: 50}
		})), "upstream.health_check.interval_ms", "outside"},
		{"health timeout", createUpstream(upstreamWith(func(u *configv1.Upstream) {
			u.HealthCheck = &configv1.HealthCheck{Enabled: true, IntervalMs: 1000, TimeoutMs: 1000}
		})), "upstream.health_check.timeout_ms", "shorter than the interval (1000 ms)"},
		{"health path", createUpstream(upstreamWith(func(u *configv1.Upstream) { u.HealthCheck = &configv1.HealthCheck{Path: "health"} })), "upstream.health_check.path", "start with '/'"},
		{"health status", createUpstream(upstreamWith(func(u *configv1.Upstream) {
			u.HealthCheck = &configv1.HealthCheck{ExpectedStatuses: []uint32{99}}
		})), "upstream.health_check.expected_statuses[0]", "100-599"},
		{"delete referenced upstream", func() error {
			_, err := c.DeleteUpstream(ctx, &configv1.DeleteUpstreamRequest{AppId: base.Id, Upstream: "web"})
			return err
		}, "upstream", `used by rule "api" (actions[0].proxy.upstreams[0])`},

		{"rule name empty", createRule(&configv1.Rule{Actions: []*configv1.Action{proxyTo(&configv1.WeightedUpstream{Upstream: "web", Weight: 1})}}), "rule.name", "is required"},
		{"rule name taken", createRule(proxyRule("api", "", "web")), "rule.name", "already exists"},
		{"rule condition", createRule(proxyRule("new", "PathPrefix(`/a`) &&", "web")), "rule.when", "column"},
		{"rule without actions", createRule(ruleWith()), "rule.actions", "at least one action"},
		{"empty action", createRule(ruleWith(&configv1.Action{})), "rule.actions[0]", "no action set"},
		{"dangling upstream", createRule(ruleWith(proxyTo(&configv1.WeightedUpstream{Upstream: "nope", Weight: 1}))), "rule.actions[0].proxy.upstreams[0].upstream", `"nope" does not exist`},
		{"split weights zero", createRule(ruleWith(proxyTo(&configv1.WeightedUpstream{Upstream: "web"}, &configv1.WeightedUpstream{Upstream: "spare"}))), "rule.actions[0].proxy.upstreams", "no upstream has a weight above 0"},
		{"single split weight zero", createRule(ruleWith(proxyTo(&configv1.WeightedUpstream{Upstream: "web", Weight: 0}))), "rule.actions[0].proxy.upstreams", "weight 0 takes no traffic"},
		{"server weights zero", createUpstream(upstreamWith(func(u *configv1.Upstream) { u.Servers[0].Weight = 0 })), "upstream.servers", "weight 0 takes no traffic"},
		{"redirect status", createRule(ruleWith(&configv1.Action{Action: &configv1.Action_Redirect{Redirect: &configv1.RedirectAction{Url: "https://x/", Status: 200}}})), "rule.actions[0].redirect.status", "301, 302"},
		{"redirect url", createRule(ruleWith(&configv1.Action{Action: &configv1.Action_Redirect{Redirect: &configv1.RedirectAction{}}})), "rule.actions[0].redirect.url", "is empty"},
		{"respond status", createRule(ruleWith(&configv1.Action{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: 600}}})), "rule.actions[0].respond.status", "100-599"},
		{"header name", createRule(ruleWith(&configv1.Action{Action: &configv1.Action_RequestHeaders{RequestHeaders: &configv1.HeaderOps{Set: map[string]string{"Bad Header": "x"}}}})), `rule.actions[0].request_headers.set["Bad Header"]`, "not a valid header name"},
		{"header add name", createRule(ruleWith(&configv1.Action{Action: &configv1.Action_ResponseHeaders{ResponseHeaders: &configv1.HeaderOps{Add: []*configv1.Header{{Name: "a:b", Value: "v"}}}}})), "rule.actions[0].response_headers.add[0].name", "not a valid header name"},
		{"rewrite regexp", createRule(ruleWith(&configv1.Action{Action: &configv1.Action_Rewrite{Rewrite: &configv1.RewriteAction{PathRegex: "(", PathReplacement: "/x"}}})), "rule.actions[0].rewrite.path_regex", "missing closing )"},
		{"rewrite regexp too large", createRule(ruleWith(&configv1.Action{Action: &configv1.Action_Rewrite{Rewrite: &configv1.RewriteAction{PathRegex: "a{1000}b{1000}c{1000}d{1000}e{1000}f{1000}", PathReplacement: "/x"}}})), "rule.actions[0].rewrite.path_regex", "too large"},
		{"two terminal actions", createRule(ruleWith(proxyTo(&configv1.WeightedUpstream{Upstream: "web", Weight: 1}), &configv1.Action{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: 204}}})), "rule.actions[1]", "at most one of proxy, redirect and respond"},
		{"rule index", func() error {
			_, err := c.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: base.Id, Rule: proxyRule("new", "", "web"), Index: ptr(uint32(5))})
			return err
		}, "index", "past the end"},
		{"move index", func() error {
			_, err := c.MoveRule(ctx, &configv1.MoveRuleRequest{AppId: base.Id, Rule: "api", Index: 3})
			return err
		}, "index", "past the end"},
		{"revert to missing release", func() error {
			_, err := c.RevertApp(ctx, &configv1.RevertAppRequest{AppId: base.Id, ToRelease: 9})
			return err
		}, "to_release", "does not exist"},
		{"revert object kind", func() error {
			_, err := c.RevertObject(ctx, &configv1.RevertObjectRequest{AppId: base.Id, Kind: "domain", Object: "x", ToRelease: 1})
			return err
		}, "kind", "want"},
		{"partition name taken", func() error {
			_, err := c.CreatePartition(ctx, &configv1.CreatePartitionRequest{Name: "default"})
			return err
		}, "name", "already exists"},
		{"cluster partition", func() error {
			_, err := c.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "eu", Partition: "nowhere"})
			return err
		}, "partition", "does not exist"},
		{"node cluster", func() error {
			_, err := c.RegisterNode(ctx, &configv1.RegisterNodeRequest{Name: "n1", Cluster: "nowhere"})
			return err
		}, "cluster", "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.head()
			v := wantField(t, tt.call(), tt.field)
			t.Logf("%s: %s", v.Field, v.Reason)
			if !strings.Contains(v.Reason, tt.reason) {
				t.Errorf("reason %q does not contain %q", v.Reason, tt.reason)
			}
			if after := e.head(); after != before {
				t.Errorf("event log head moved from %d to %d: a rejected request stored events", before, after)
			}
		})
	}
}

// TestRenameReferencedUpstream: an upstream that rules use cannot be renamed.
func TestRenameReferencedUpstream(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client
	app := must(c.CreateApp(e.ctx, &configv1.CreateAppRequest{Name: "a"}))(t).App
	up := must(c.CreateUpstream(e.ctx, &configv1.CreateUpstreamRequest{AppId: app.Id, Upstream: sampleUpstream("web", "10.0.0.1:80")}))(t).Upstream
	must(c.CreateRule(e.ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: proxyRule("api", "", "web")}))(t)
	before := e.head()
	renamed := sampleUpstream("web2", "10.0.0.1:80")
	renamed.Id = up.Id
	_, err := c.UpdateUpstream(e.ctx, &configv1.UpdateUpstreamRequest{AppId: app.Id, Upstream: renamed})
	v := wantField(t, err, "upstream.name")
	if !strings.Contains(v.Reason, `rule "api"`) {
		t.Fatalf("reason does not name the rule: %q", v.Reason)
	}
	if e.head() != before {
		t.Fatal("rejected rename stored events")
	}
	// Without the reference the rename works.
	must(c.DeleteRule(e.ctx, &configv1.DeleteRuleRequest{AppId: app.Id, Rule: "api"}))(t)
	got := must(c.UpdateUpstream(e.ctx, &configv1.UpdateUpstreamRequest{AppId: app.Id, Upstream: renamed}))(t)
	if got.Upstream.Name != "web2" || got.Upstream.Id != up.Id {
		t.Fatalf("renamed upstream: %v", got.Upstream)
	}
}

// TestExpectedVersion: a stale etag is rejected with Aborted and stores
// nothing; the current one is accepted.
func TestExpectedVersion(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client
	created := must(c.CreateApp(e.ctx, &configv1.CreateAppRequest{Name: "a"}))(t)
	v1 := created.Version
	up := must(c.CreateUpstream(e.ctx, &configv1.CreateUpstreamRequest{AppId: created.App.Id, ExpectedVersion: &v1,
		Upstream: sampleUpstream("web", "10.0.0.1:80")}))(t)

	calls := map[string]func(v *uint64) error{
		"update app": func(v *uint64) error {
			_, err := c.UpdateApp(e.ctx, &configv1.UpdateAppRequest{AppId: created.App.Id, ExpectedVersion: v, Domains: []string{"a.example.com"}})
			return err
		},
		"create upstream": func(v *uint64) error {
			_, err := c.CreateUpstream(e.ctx, &configv1.CreateUpstreamRequest{AppId: created.App.Id, ExpectedVersion: v, Upstream: sampleUpstream("x", "10.0.0.1:80")})
			return err
		},
		"release": func(v *uint64) error {
			_, err := c.CreateRelease(e.ctx, &configv1.CreateReleaseRequest{AppId: created.App.Id, ExpectedVersion: v})
			return err
		},
		"delete app": func(v *uint64) error {
			_, err := c.DeleteApp(e.ctx, &configv1.DeleteAppRequest{AppId: created.App.Id, ExpectedVersion: v})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			before := e.head()
			ce := wantCode(t, call(&v1), connect.CodeAborted)
			if !strings.Contains(ce.Message(), fmt.Sprintf("expected version %d", v1)) {
				t.Errorf("message: %s", ce.Message())
			}
			if e.head() != before {
				t.Fatal("stale write stored events")
			}
		})
	}
	// Another writer (another replica) appends to the app behind the
	// service's back: a request with the old etag is Aborted, one without an
	// etag is decided on the new state.
	other := sampleUpstream("other", "10.0.0.5:80")
	other.Id = "ups_fromotherreplica"
	typ, data, err := configevents.Encode(&ev.UpstreamCreated{AppId: created.App.Id, Upstream: other})
	if err != nil {
		t.Fatal(err)
	}
	stored := must(e.store.Append(e.ctx, appStream(created.App.Id), up.Version,
		eventstore.Event{ID: ids.New(prefixEvent), Type: typ, Data: data}))(t)
	newVersion := stored[0].Position
	_, err = c.UpdateApp(e.ctx, &configv1.UpdateAppRequest{AppId: created.App.Id, ExpectedVersion: &up.Version, Domains: []string{"a.example.com"}})
	wantCode(t, err, connect.CodeAborted)
	res := must(c.UpdateApp(e.ctx, &configv1.UpdateAppRequest{AppId: created.App.Id, Domains: []string{"a.example.com"}}))(t)
	if res.Version <= newVersion || len(res.App.Upstreams) != 2 {
		t.Fatalf("write after the other replica's: version %d, upstreams %v", res.Version, res.App.Upstreams)
	}
	res2 := must(c.UpdateApp(e.ctx, &configv1.UpdateAppRequest{AppId: created.App.Id, ExpectedVersion: &res.Version, Domains: []string{"b.example.com"}}))(t)
	if res2.Version <= res.Version {
		t.Fatalf("version did not grow: %d -> %d", res.Version, res2.Version)
	}
}

func portRange(first, n int) []uint32 {
	ports := make([]uint32, n)
	for i := range ports {
		ports[i] = uint32(first + i)
	}
	return ports
}

func domainList(n int) []string {
	d := make([]string, n)
	for i := range d {
		d[i] = fmt.Sprintf("d%d.example.com", i)
	}
	return d
}
