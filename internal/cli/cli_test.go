package cli_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/internal/cli"
	"github.com/strata-edge/strata/internal/server"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	"github.com/strata-edge/strata/services/config"
	"github.com/strata-edge/strata/services/nodes"
)

const testToken = "strata_cli_test"

// startAPI runs the real config service on an embedded JetStream behind the
// real API server and returns its URL.
func startAPI(t *testing.T) string {
	t.Helper()
	ns := natstest.RunServer(t)
	nc := natstest.Connect(t, ns)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := eventstore.NewJetStream(ctx, js, eventstore.JetStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	nodeSvc, err := nodes.New(nodes.Options{Store: store}) // runs the node commands
	if err != nil {
		t.Fatal(err)
	}
	if err := nodeSvc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nodeSvc.Stop(context.Background()) })
	svc, err := config.New(config.Options{Store: store, JetStream: js, Nodes: nodeSvc})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	if err := svc.EnsureDefaults(ctx); err != nil {
		t.Fatal(err)
	}
	path, h := svc.Handler(server.HandlerOptions(nil, apiauth.NewBootstrapAuthenticator(testToken))...)
	api, err := server.New(server.Options{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), Services: []server.Service{{Name: configv1connect.ConfigServiceName, Path: path, Handler: h}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	return api.URL()
}

// strata runs the CLI in-process.
type strata struct {
	t   *testing.T
	env map[string]string
}

func newCLI(t *testing.T, api string) strata {
	return strata{t: t, env: map[string]string{"STRATA_API": api, "STRATA_TOKEN": testToken}}
}

func (s strata) run(args ...string) (stdout, stderr string, code int) {
	s.t.Helper()
	var out, errb bytes.Buffer
	code = cli.Execute(context.Background(), cli.BuildInfo{Version: "test"}, args, &out, &errb, func(k string) string { return s.env[k] })
	return out.String(), errb.String(), code
}

func (s strata) ok(args ...string) string {
	s.t.Helper()
	out, errs, code := s.run(args...)
	if code != 0 {
		s.t.Fatalf("strata %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return strings.TrimSpace(out)
}

func (s strata) json(msg proto.Message, args ...string) {
	s.t.Helper()
	out := s.ok(append(args, "-o", "json")...)
	if err := protojson.Unmarshal([]byte(out), msg); err != nil {
		s.t.Fatalf("strata %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (s strata) app() *configv1.App {
	s.t.Helper()
	id := s.ok("app", "create", "--name", "shop", "--domain", "shop.example.com")
	res := &configv1.GetAppResponse{}
	s.json(res, "app", "get", id)
	return res.GetApp()
}

func TestRuleCreateBuildsActions(t *testing.T) {
	s := newCLI(t, startAPI(t))
	app := s.app().GetId()
	s.ok("upstream", "create", "--app", app, "--name", "web", "--server", "10.0.0.1:80")
	s.ok("upstream", "create", "--app", app, "--name", "canary", "--server", "10.0.0.2:80")

	tests := []struct {
		name  string
		args  []string
		want  *configv1.Rule // Id ignored
		index int            // position after creation
	}{
		{
			name: "generated name, proxy",
			args: []string{"--upstream", "web"},
			want: &configv1.Rule{Name: "rule-1", Actions: []*configv1.Action{{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{
				Upstreams: []*configv1.WeightedUpstream{{Upstream: "web", Weight: 1}}}}}}},
			index: 0,
		},
		{
			name: "weighted split, last, condition",
			args: []string{"--name", "split", "--when", `PathPrefix("/api")`, "--upstream", "web=9", "--upstream", "canary=1", "--last"},
			want: &configv1.Rule{Name: "split", When: `PathPrefix("/api")`, Last: true, Actions: []*configv1.Action{{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{
				Upstreams: []*configv1.WeightedUpstream{{Upstream: "web", Weight: 9}, {Upstream: "canary", Weight: 1}}}}}}},
			index: 1,
		},
		{
			name: "redirect at index 0",
			args: []string{"--name", "old", "--when", `Path("/old")`, "--redirect", "https://$host/new", "--status", "301", "--index", "0"},
			want: &configv1.Rule{Name: "old", When: `Path("/old")`, Actions: []*configv1.Action{{Action: &configv1.Action_Redirect{Redirect: &configv1.RedirectAction{
				Url: "https://$host/new", Status: 301}}}}},
			index: 0,
		},
		{
			name: "respond",
			args: []string{"--name", "deny", "--when", `PathPrefix("/admin")`, "--respond", "403", "--body", "no", "--content-type", "text/plain", "--last"},
			want: &configv1.Rule{Name: "deny", When: `PathPrefix("/admin")`, Last: true, Actions: []*configv1.Action{{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{
				Status: 403, Body: "no", ContentType: "text/plain"}}}}},
			index: 3,
		},
		{
			name: "headers and rewrite around a proxy",
			args: []string{"--name", "hdr", "--set-header", "X-Env=prod", "--add-header", "X-Tag=a=b", "--remove-header", "Cookie",
				"--rewrite-path", "^/v1/(.*)=/$1", "--upstream", "web", "--set-response-header", "X-Served-By=strata", "--remove-response-header", "Server"},
			want: &configv1.Rule{Name: "hdr", Actions: []*configv1.Action{
				{Action: &configv1.Action_RequestHeaders{RequestHeaders: &configv1.HeaderOps{
					Set: map[string]string{"X-Env": "prod"}, Add: []*configv1.Header{{Name: "X-Tag", Value: "a=b"}}, Remove: []string{"Cookie"}}}},
				{Action: &configv1.Action_Rewrite{Rewrite: &configv1.RewriteAction{PathRegex: "^/v1/(.*)", PathReplacement: "/$1"}}},
				{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{Upstreams: []*configv1.WeightedUpstream{{Upstream: "web", Weight: 1}}}}},
				{Action: &configv1.Action_ResponseHeaders{ResponseHeaders: &configv1.HeaderOps{
					Set: map[string]string{"X-Served-By": "strata"}, Remove: []string{"Server"}}}},
			}},
			index: 4,
		},
		{
			name: "query edits, with and without a path rewrite",
			args: []string{"--name", "q", "--query-set", "utm=edge", "--query-set", "v=2", "--query-remove", "debug", "--query-remove", "trace", "--upstream", "web"},
			want: &configv1.Rule{Name: "q", Actions: []*configv1.Action{
				{Action: &configv1.Action_Rewrite{Rewrite: &configv1.RewriteAction{
					QuerySet: map[string]string{"utm": "edge", "v": "2"}, QueryRemove: []string{"debug", "trace"}}}},
				{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{Upstreams: []*configv1.WeightedUpstream{{Upstream: "web", Weight: 1}}}}},
			}},
			index: 5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := s.ok(append([]string{"rule", "create", "--app", app}, tt.args...)...)
			if name != tt.want.Name {
				t.Errorf("printed %q, want %q", name, tt.want.Name)
			}
			list := &configv1.App{}
			s.json(list, "rule", "list", "--app", app)
			if tt.index >= len(list.Rules) {
				t.Fatalf("%d rules, want index %d", len(list.Rules), tt.index)
			}
			got := proto.Clone(list.Rules[tt.index]).(*configv1.Rule)
			got.Id = ""
			if !proto.Equal(got, tt.want) {
				t.Errorf("rule %d:\ngot  %v\nwant %v", tt.index, got, tt.want)
			}
		})
	}

	// Next generated name skips taken ones; move and delete work by name.
	if got := s.ok("rule", "create", "--app", app, "--upstream", "web"); got != "rule-7" {
		t.Errorf("generated %q, want rule-7", got)
	}
	s.ok("rule", "move", "--app", app, "--name", "rule-7", "--index", "0")
	if got := s.ok("rule", "delete", "--app", app, "--name", "old"); !regexp.MustCompile(`^deleted rule old \(app version \d+\)$`).MatchString(got) {
		t.Errorf("rule delete printed %q", got)
	}
	list := &configv1.App{}
	s.json(list, "rule", "list", "--app", app)
	var names []string
	for _, r := range list.Rules {
		names = append(names, r.GetName())
	}
	if got := strings.Join(names, ","); got != "rule-7,rule-1,split,deny,hdr,q" {
		t.Errorf("rules after move and delete: %s", got)
	}
}

func TestUpstreamUpdateKeepsUnmentionedSettings(t *testing.T) {
	s := newCLI(t, startAPI(t))
	app := s.app().GetId()
	s.ok("upstream", "create", "--app", app, "--name", "api", "--server", "10.0.0.1:443=3", "--backup", "10.0.0.9:443",
		"--policy", "hash", "--hash-key", "header:X-User", "--connect-timeout", "2s", "--read-timeout", "30s", "--retries", "2",
		"--tls", "--tls-sni", "api.internal", "--tls-verify", "--health-path", "/healthz", "--health-interval", "3s")
	get := func() *configv1.Upstream {
		res := &configv1.GetAppResponse{}
		s.json(res, "app", "get", app)
		return res.GetApp().GetUpstreams()[0]
	}
	before := get()
	want := &configv1.Upstream{
		Id: before.GetId(), Name: "api",
		Servers:  []*configv1.Server{{Address: "10.0.0.1:443", Weight: 3}, {Address: "10.0.0.9:443", Weight: 1, Backup: true}},
		Policy:   configv1.BalancePolicy_BALANCE_POLICY_CONSISTENT_HASH,
		HashKey:  "header:X-User",
		Timeouts: &configv1.Timeouts{ConnectMs: 2000, ReadMs: 30000},
		Retries:  2,
		Tls:      &configv1.UpstreamTLS{Enabled: true, Sni: "api.internal", Verify: true},
		HealthCheck: &configv1.HealthCheck{Enabled: true, Path: "/healthz", IntervalMs: 3000, TimeoutMs: 2000,
			HealthyThreshold: 2, UnhealthyThreshold: 3, FailTimeoutMs: 10000},
	}
	if !proto.Equal(before, want) {
		t.Fatalf("created upstream:\ngot  %v\nwant %v", before, want)
	}

	s.ok("upstream", "update", "--app", app, "--name", "api", "--server", "10.0.0.2:443")
	want.Servers = []*configv1.Server{{Address: "10.0.0.2:443", Weight: 1}}
	if got := get(); !proto.Equal(got, want) {
		t.Errorf("after --server update:\ngot  %v\nwant %v", got, want)
	}

	s.ok("upstream", "update", "--app", app, "--name", "api", "--read-timeout", "1m", "--health-interval", "10s")
	want.Timeouts.ReadMs = 60000
	want.HealthCheck.IntervalMs = 10000
	if got := get(); !proto.Equal(got, want) {
		t.Errorf("after timeout update:\ngot  %v\nwant %v", got, want)
	}

	_, errs, code := s.run("upstream", "update", "--app", app, "--name", "nope", "--server", "10.0.0.3:80")
	if code == 0 || !strings.Contains(errs, `no upstream "nope"`) {
		t.Errorf("update of a missing upstream: exit %d\n%s", code, errs)
	}

	out := s.ok("upstream", "list", "--app", app)
	if !strings.Contains(out, "api") || !strings.Contains(out, "10.0.0.2:443=1") || !strings.Contains(out, "hash") {
		t.Errorf("upstream list:\n%s", out)
	}
	if got := s.ok("upstream", "delete", "--app", app, "--name", "api"); !regexp.MustCompile(`^deleted upstream api \(app version \d+\)$`).MatchString(got) {
		t.Errorf("upstream delete printed %q", got)
	}
	if got := s.ok("upstream", "list", "--app", app); strings.Contains(got, "10.0.0.2") {
		t.Errorf("deleted upstream still listed:\n%s", got)
	}
}

func TestAppUpdateAndExpectVersion(t *testing.T) {
	s := newCLI(t, startAPI(t))
	created := &configv1.CreateAppResponse{}
	s.json(created, "app", "create", "--name", "shop", "--domain", "shop.example.com", "--https-port", "443", "--label", "team=web")
	id := created.GetApp().GetId()

	s.ok("app", "update", id, "--domain", "shop.example.org", "--domain", "*.shop.example.org")
	res := &configv1.GetAppResponse{}
	s.json(res, "app", "get", id)
	a := res.GetApp()
	if a.GetName() != "shop" || strings.Join(a.GetDomains(), ",") != "shop.example.org,*.shop.example.org" ||
		len(a.GetHttpsPorts()) != 1 || a.GetLabels()["team"] != "web" {
		t.Errorf("after update: %v", a)
	}

	_, errs, code := s.run("app", "update", id, "--name", "x", "--expect-version", "1")
	if code != 1 || !strings.Contains(errs, "aborted") {
		t.Errorf("stale --expect-version: exit %d\n%s", code, errs)
	}
	s.ok("app", "update", id, "--name", "shop2", "--expect-version", strconv.FormatUint(res.GetVersion(), 10))

	text := s.ok("app", "get", id)
	for _, want := range []string{"name:", "shop2", "team=web", "never released"} {
		if !strings.Contains(text, want) {
			t.Errorf("app get text lacks %q:\n%s", want, text)
		}
	}
	if diff := s.ok("app", "diff", id); !strings.Contains(diff, "pending change(s)") {
		t.Errorf("diff:\n%s", diff)
	}
	s.ok("app", "delete", id)
	if list := s.ok("app", "list"); strings.Contains(list, id) {
		t.Errorf("deleted app listed:\n%s", list)
	}
}

func TestTopologyCommands(t *testing.T) {
	s := newCLI(t, startAPI(t))
	part := s.ok("partition", "create", "--name", "eu")
	clu := s.ok("cluster", "create", "--name", "fra", "--partition", "eu")
	if !strings.Contains(s.ok("partition", "list"), part) || !strings.Contains(s.ok("cluster", "list"), clu) {
		t.Fatal("created partition or cluster not listed")
	}
	node := s.ok("node", "register", "--name", "fra-1", "--cluster", "fra")
	out := s.ok("node", "list", "--cluster", "fra")
	for _, want := range []string{"VERSION", "IN-SYNC", "ONLINE", "LAST-SEEN", node, "fra-1", "never"} {
		if !strings.Contains(out, want) {
			t.Errorf("node list lacks %q:\n%s", want, out)
		}
	}
	s.ok("node", "staging", node, "--on")
	nodes := &configv1.ListNodesResponse{}
	s.json(nodes, "node", "list")
	var found bool
	for _, n := range nodes.GetNodes() {
		if n.GetNode().GetId() == node {
			found = true
			if !n.GetNode().GetStaging() {
				t.Errorf("node not staging after --on")
			}
		}
	}
	if !found {
		t.Fatalf("node %s not in json list", node)
	}
	s.ok("node", "remove", node)
	if out := s.ok("node", "list"); strings.Contains(out, node) {
		t.Errorf("removed node listed:\n%s", out)
	}
	snap := s.ok("snapshot", "get", "--partition", "eu")
	if !strings.Contains(snap, "version") || !strings.Contains(snap, "consistent") {
		t.Errorf("snapshot get:\n%s", snap)
	}

	// Cluster settings: DNS off and a parent tier, shown by cluster list.
	shield := s.ok("cluster", "create", "--name", "fra-shield", "--partition", "eu")
	s.ok("cluster", "update", "fra", "--dns", "off", "--parents", "fra-shield")
	out = s.ok("cluster", "list")
	if !strings.Contains(out, "off") || !strings.Contains(out, shield) {
		t.Errorf("cluster list after update lacks dns off or parent %s:\n%s", shield, out)
	}
	s.ok("cluster", "update", "fra", "--country", "de", "--continent", "EU", "--lat", "50.1", "--lon", "8.7")
	if out = s.ok("cluster", "list"); !strings.Contains(out, "DE EU 50.10,8.70") {
		t.Errorf("cluster list after a location update:\n%s", out)
	}
	if _, errs, code := s.run("cluster", "update", "fra", "--country", "Germany"); code == 0 || !strings.Contains(errs, "location.country") {
		t.Errorf("--country Germany: exit %d, stderr %q", code, errs)
	}
	s.ok("cluster", "update", "fra", "--clear-location")
	if out = s.ok("cluster", "list"); strings.Contains(out, "DE EU") {
		t.Errorf("cluster list after --clear-location:\n%s", out)
	}
	if _, errs, code := s.run("cluster", "update", "fra", "--dns", "maybe"); code == 0 || !strings.Contains(errs, "--dns") {
		t.Errorf("--dns maybe: exit %d, stderr %q", code, errs)
	}
	if _, errs, code := s.run("cluster", "update", "fra", "--parents", "fra"); code == 0 || !strings.Contains(errs, "own parent") {
		t.Errorf("cluster as its own parent: exit %d, stderr %q", code, errs)
	}
}

func TestErrorsAreReadable(t *testing.T) {
	api := startAPI(t)
	s := newCLI(t, api)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{name: "field violation", args: []string{"app", "create", "--name", "x", "--domain", "bad..example.com"},
			want: []string{"Error: invalid_argument:", "  - --domain:", "(request id "}},
		{name: "not found", args: []string{"app", "get", "app_missing"}, want: []string{"Error: not_found:"}},
		{name: "no token", args: []string{"app", "list"}, env: map[string]string{"STRATA_API": api},
			want: []string{"Error: unauthenticated:", "Hint: pass --token"}},
		{name: "api down", args: []string{"app", "list"}, env: map[string]string{"STRATA_API": "http://127.0.0.1:1", "STRATA_TOKEN": "x"},
			want: []string{"Error: unavailable:", "Hint: is the API running"}},
		{name: "missing flag", args: []string{"partition", "create"}, want: []string{`required flag(s) "name" not set`, "Run 'strata partition create --help'"}},
		{name: "bad server", args: []string{"upstream", "create", "--app", "a", "--name", "w", "--server", "10.0.0.1"},
			want: []string{"--server \"10.0.0.1\": want HOST:PORT[=WEIGHT]"}},
		{name: "bad port", args: []string{"upstream", "create", "--app", "a", "--name", "w", "--server", "10.0.0.1:99999"},
			want: []string{"port \"99999\" is not a number from 1 to 65535"}},
		{name: "two terminal actions", args: []string{"rule", "create", "--app", "a", "--upstream", "w", "--redirect", "https://x"},
			want: []string{"at most one of --upstream, --redirect, --respond"}},
		{name: "empty rule", args: []string{"rule", "create", "--app", "a"}, want: []string{"the rule does nothing"}},
		{name: "bad policy", args: []string{"upstream", "create", "--app", "a", "--name", "w", "--server", "h:1", "--policy", "random"},
			want: []string{`--policy: "random" is not a policy; use one of hash, least_conn, round_robin, weighted`}},
		{name: "bad output", args: []string{"app", "list", "-o", "yaml"}, want: []string{`--output: "yaml" is not a format`}},
		{name: "staging needs on or off", args: []string{"node", "staging", "n1"}, want: []string{"exactly one of --on or --off"}},
		{name: "extra argument", args: []string{"app", "get", "a", "b"}, want: []string{`unexpected argument "b"`}},
		{name: "bad kind", args: []string{"release", "revert-object", "--app", "a", "--kind", "app", "--name", "x", "--to", "1"},
			want: []string{`--kind: "app" is not an object kind`}},
		{name: "bad api", args: []string{"app", "list", "--api", "localhost:7400"}, want: []string{"--api: \"localhost:7400\" is not a URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := s
			if tt.env != nil {
				c = strata{t: t, env: tt.env}
			}
			out, errs, code := c.run(tt.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if out != "" {
				t.Errorf("stdout not empty on error: %q", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
		})
	}
}

func TestTokenSources(t *testing.T) {
	api := startAPI(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "tok")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{name: "--token", args: []string{"--token", testToken}},
		{name: "--token-file", args: []string{"--token-file", tokenFile}},
		{name: "STRATA_TOKEN_FILE", env: map[string]string{"STRATA_TOKEN_FILE": tokenFile}},
		{name: "--token wins over a wrong STRATA_TOKEN", env: map[string]string{"STRATA_TOKEN": "wrong"}, args: []string{"--token", testToken}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"STRATA_API": api}
			for k, v := range tt.env {
				env[k] = v
			}
			s := strata{t: t, env: env}
			s.ok(append([]string{"partition", "list"}, tt.args...)...)
		})
	}

	t.Run("dev data dir fallback", func(t *testing.T) {
		wd := t.TempDir()
		if err := os.MkdirAll(filepath.Join(wd, ".data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(wd, ".data", "admin.token"), []byte(testToken), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Chdir(wd)
		s := strata{t: t, env: map[string]string{"STRATA_API": api}}
		s.ok("partition", "list")
	})
}

func TestVersion(t *testing.T) {
	s := strata{t: t, env: map[string]string{}}
	if out := s.ok("version"); !strings.HasPrefix(out, "strata test ") {
		t.Errorf("version: %q", out)
	}
	if out := s.ok("version", "-o", "json"); !strings.Contains(out, `"version": "test"`) {
		t.Errorf("version -o json: %q", out)
	}
}

// Every command naming an app takes its id or its name (issue 13, item 3).
func TestAppByName(t *testing.T) {
	s := newCLI(t, startAPI(t))
	id := s.ok("app", "create", "--name", "shop", "--domain", "shop.example.com")
	s.ok("upstream", "create", "--app", "shop", "--name", "web", "--server", "10.0.0.1:80")
	s.ok("rule", "create", "--app", "shop", "--upstream", "web")
	if out := s.ok("upstream", "list", "--app", "shop"); !strings.Contains(out, "10.0.0.1:80") {
		t.Errorf("upstream list --app shop:\n%s", out)
	}
	if out := s.ok("rule", "list", "--app", "shop"); !strings.Contains(out, "rule-1") {
		t.Errorf("rule list --app shop:\n%s", out)
	}
	if out := s.ok("release", "create", "--app", "shop"); out != "1" {
		t.Errorf("release create --app shop = %q, want 1", out)
	}
	if out := s.ok("release", "list", "--app", "shop"); !strings.Contains(out, "release") {
		t.Errorf("release list --app shop:\n%s", out)
	}
	s.ok("app", "update", "shop", "--label", "team=web")
	got := &configv1.GetAppResponse{}
	s.json(got, "app", "get", "shop")
	if got.GetApp().GetId() != id || got.GetApp().GetLabels()["team"] != "web" {
		t.Errorf("app get shop: %v, want app %s with label team=web", got.GetApp(), id)
	}
	if _, errs, code := s.run("upstream", "list", "--app", "wiki"); code != 1 || !strings.Contains(errs, `not_found: app "wiki" not found`) {
		t.Errorf("unknown app: exit %d, stderr %q", code, errs)
	}
}

// TestStagingReleaseAndPromote: a staging release shows as such in app list
// and release list, a release without changes is refused naming promote,
// and release promote makes it stable.
func TestStagingReleaseAndPromote(t *testing.T) {
	s := newCLI(t, startAPI(t))
	app := s.app().GetId()
	s.ok("upstream", "create", "--app", app, "--name", "web", "--server", "10.0.0.1:80")
	if got := s.ok("release", "create", "--app", app); got != "1" {
		t.Fatalf("first release printed %q", got)
	}
	_, errOut, code := s.run("release", "create", "--app", app)
	if code == 0 || !strings.Contains(errOut, "failed_precondition: nothing to release") {
		t.Fatalf("release without changes: exit %d, %s", code, errOut)
	}
	s.ok("upstream", "update", "--app", app, "--name", "web", "--server", "10.0.0.2:80")
	if got := s.ok("release", "create", "--app", app, "--staging"); got != "2" {
		t.Fatalf("staging release printed %q", got)
	}
	row := regexp.MustCompile(`(?m)^` + app + `\s+shop\s+http\s+shop\.example\.com\s+1\s+2\s+0\s`)
	if list := s.ok("app", "list"); !row.MatchString(list) {
		t.Fatalf("app list after a staging release (want STABLE 1, STAGING 2):\n%s", list)
	}
	list := s.ok("release", "list", "--app", app)
	if !regexp.MustCompile(`(?m)^2\s.*\syes\s+staging\s`).MatchString(list) || !regexp.MustCompile(`(?m)^1\s.*\sno\s+stable\s`).MatchString(list) {
		t.Fatalf("release list after a staging release:\n%s", list)
	}
	_, errOut, code = s.run("release", "create", "--app", app)
	if code == 0 || !strings.Contains(errOut, "nothing to release") || !strings.Contains(errOut, "strata release promote --app "+app) {
		t.Fatalf("release of a staging release: exit %d, %s", code, errOut)
	}
	if help := s.ok("release", "--help"); !strings.Contains(help, "promote") {
		t.Fatalf("release --help does not list promote:\n%s", help)
	}
	if got := s.ok("release", "promote", "--app", app); got != "2" {
		t.Fatalf("promote printed %q", got)
	}
	row = regexp.MustCompile(`(?m)^` + app + `\s+shop\s+http\s+shop\.example\.com\s+2\s+2\s+0\s`)
	if list := s.ok("app", "list"); !row.MatchString(list) {
		t.Fatalf("app list after promotion:\n%s", list)
	}
	if list := s.ok("release", "list", "--app", app); !regexp.MustCompile(`(?m)^2\s.*\spromoted .*\sstable\+staging\s`).MatchString(list) {
		t.Fatalf("release list after promotion:\n%s", list)
	}
	_, errOut, code = s.run("release", "promote", "--app", app)
	if code == 0 || !strings.Contains(errOut, "nothing to promote") {
		t.Fatalf("second promote: exit %d, %s", code, errOut)
	}
	_, errOut, code = s.run("release", "revert", "--app", app, "--to", "2")
	if code == 0 || !strings.Contains(errOut, "nothing to release") {
		t.Fatalf("revert to the live release: exit %d, %s", code, errOut)
	}
}

// Errors name the flags the user typed and the defaults follow what the user
// set (issue 13, item 9).
func TestErrorsNameFlags(t *testing.T) {
	s := newCLI(t, startAPI(t))
	s.ok("app", "create", "--name", "shop", "--domain", "shop.example.com")

	// --health-interval alone: the default timeout goes below it.
	s.ok("upstream", "create", "--app", "shop", "--name", "web", "--server", "10.0.0.1:80", "--health-path", "/", "--health-interval", "1s")
	got := &configv1.GetAppResponse{}
	s.json(got, "app", "get", "shop")
	if hc := got.GetApp().GetUpstreams()[0].GetHealthCheck(); hc.GetIntervalMs() != 1000 || hc.GetTimeoutMs() != 500 {
		t.Errorf("--health-interval 1s: interval %d ms, timeout %d ms; want 1000 and 500", hc.GetIntervalMs(), hc.GetTimeoutMs())
	}
	s.ok("upstream", "update", "--app", "shop", "--name", "web", "--health-interval", "3s")
	s.json(got, "app", "get", "shop")
	if hc := got.GetApp().GetUpstreams()[0].GetHealthCheck(); hc.GetIntervalMs() != 3000 || hc.GetTimeoutMs() != 500 {
		t.Errorf("update --health-interval 3s: interval %d ms, timeout %d ms; want 3000 and 500 (kept)", hc.GetIntervalMs(), hc.GetTimeoutMs())
	}
	s.ok("release", "create", "--app", "shop")

	edge := httptest.NewServer(http.NotFoundHandler()) // a web server, such as an edge node's port
	t.Cleanup(edge.Close)
	tests := []struct {
		name    string
		args    []string
		want    []string
		notWant []string
	}{
		{name: "timeout above the interval", args: []string{"upstream", "create", "--app", "shop", "--name", "w", "--server", "10.0.0.1:80",
			"--health-path", "/", "--health-interval", "1s", "--health-timeout", "2s"},
			want: []string{"  - --health-timeout: 2000 ms must be shorter than the interval (1000 ms)"}, notWant: []string{"health_check", "interval_ms"}},
		{name: "bad server host", args: []string{"upstream", "create", "--app", "shop", "--name", "w", "--server", "-bad-.example.com:80"},
			want: []string{"  - --server"}, notWant: []string{"servers["}},
		{name: "unquoted when", args: []string{"rule", "create", "--app", "shop", "--when", "PathPrefix(/api)", "--respond", "404"},
			want: []string{"  - --when: ", `Hint: strings in --when are double-quoted; quote the whole argument for the shell: --when 'PathPrefix("/api")'`}},
		{name: "revert to a release that does not exist", args: []string{"release", "revert", "--app", "shop", "--to", "99"},
			want: []string{"  - --to: release 99 does not exist (the only release is 1)"}, notWant: []string{"to_release"}},
		{name: "app domain", args: []string{"app", "create", "--name", "x", "--domain", "bad..example.com"},
			want: []string{"  - --domain: "}},
		{name: "not an API", args: []string{"app", "list", "--api", edge.URL},
			want: []string{"Error: " + edge.URL + " is not a Strata API (it answered HTTP 404 Not Found).", "Hint: --api"}, notWant: []string{"unimplemented"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs, code := s.run(tt.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(errs, w) {
					t.Errorf("stderr names %q:\n%s", w, errs)
				}
			}
		})
	}
}

// TestHTTPSRedirectFlags: app create/update set https_redirect and HSTS
// from flags; flags not given keep them; --hsts-max-age 0 and
// --https-redirect=false turn them off.
func TestHTTPSRedirectFlags(t *testing.T) {
	s := newCLI(t, startAPI(t))
	id := s.ok("app", "create", "--name", "www", "--domain", "www.example.com", "--http-port", "80", "--https-port", "443", "--https-redirect")
	get := func() *configv1.App {
		res := &configv1.GetAppResponse{}
		s.json(res, "app", "get", id)
		return res.GetApp()
	}
	if a := get(); !a.GetHttpsRedirect() || a.GetHsts() != nil {
		t.Fatalf("after create: redirect %v hsts %v", a.GetHttpsRedirect(), a.GetHsts())
	}
	s.ok("app", "update", id, "--hsts-max-age", "31536000", "--hsts-include-subdomains")
	if a := get(); !a.GetHttpsRedirect() || a.GetHsts().GetMaxAgeSeconds() != 31536000 || !a.GetHsts().GetIncludeSubdomains() || a.GetHsts().GetPreload() {
		t.Fatalf("after --hsts-max-age: redirect %v hsts %v", a.GetHttpsRedirect(), a.GetHsts())
	}
	if text := s.ok("app", "get", id); !strings.Contains(text, "max-age=31536000; includeSubDomains") {
		t.Errorf("app get lacks the HSTS value:\n%s", text)
	}
	s.ok("app", "update", id, "--label", "team=web")
	if a := get(); !a.GetHttpsRedirect() || a.GetHsts() == nil {
		t.Fatalf("an unrelated update changed redirect/HSTS: %v %v", a.GetHttpsRedirect(), a.GetHsts())
	}
	_, errOut, code := s.run("app", "update", id, "--hsts-preload", "--hsts-include-subdomains=false")
	if code == 0 || !strings.Contains(errOut, "--hsts-preload: needs") {
		t.Fatalf("preload without includeSubDomains: exit %d, %s", code, errOut)
	}
	s.ok("app", "update", id, "--https-redirect=false", "--hsts-max-age", "0")
	if a := get(); a.GetHttpsRedirect() || a.GetHsts() != nil {
		t.Fatalf("after turning off: redirect %v hsts %v", a.GetHttpsRedirect(), a.GetHsts())
	}
	_, errOut, code = s.run("app", "create", "--name", "plain", "--domain", "plain.example.com", "--https-redirect")
	if code == 0 || !strings.Contains(errOut, "--https-redirect: the app has no https port") {
		t.Fatalf("redirect without an https port: exit %d, %s", code, errOut)
	}
}

// TestZeroWeights: weight 0 means no traffic everywhere; a split or an
// upstream without a positive weight is refused, alone or not.
func TestZeroWeights(t *testing.T) {
	s := newCLI(t, startAPI(t))
	app := s.app().GetId()
	s.ok("upstream", "create", "--app", app, "--name", "web", "--server", "10.0.0.1:80")
	s.ok("upstream", "create", "--app", app, "--name", "spare", "--server", "10.0.0.2:80", "--server", "10.0.0.3:80=0")
	for _, args := range [][]string{
		{"rule", "create", "--app", app, "--upstream", "web=0"},
		{"rule", "create", "--app", app, "--upstream", "web=0", "--upstream", "spare=0"},
		{"upstream", "create", "--app", app, "--name", "drained", "--server", "10.0.0.4:80=0"},
	} {
		_, errOut, code := s.run(args...)
		if code == 0 || !strings.Contains(errOut, "weight 0 takes no traffic") {
			t.Errorf("strata %s: exit %d, %s", strings.Join(args, " "), code, errOut)
		}
	}
	// A drained target next to a positive one is fine.
	s.ok("rule", "create", "--app", app, "--upstream", "web=0", "--upstream", "spare=1")
}

// TestRenameAndDeleteTopology: partition and cluster rename and delete; a
// delete of something in use is refused naming the users; errors name the
// arguments.
func TestRenameAndDeleteTopology(t *testing.T) {
	s := newCLI(t, startAPI(t))
	part := s.ok("partition", "create", "--name", "eu")
	clu := s.ok("cluster", "create", "--name", "fra", "--partition", "eu")
	node := s.ok("node", "register", "--name", "fra-1", "--cluster", "fra")
	if got := s.ok("partition", "rename", "eu", "europe"); got != "renamed partition "+part+" to europe" {
		t.Errorf("partition rename printed %q", got)
	}
	if got := s.ok("cluster", "rename", "fra", "fra-a"); got != "renamed cluster "+clu+" to fra-a" {
		t.Errorf("cluster rename printed %q", got)
	}
	if out := s.ok("cluster", "list"); !strings.Contains(out, "fra-a") || !strings.Contains(out, "europe") {
		t.Errorf("cluster list after renames:\n%s", out)
	}
	_, errs, code := s.run("partition", "delete", "europe")
	if code == 0 || !strings.Contains(errs, `failed_precondition: partition "europe" is in use by clusters "fra-a"`) {
		t.Errorf("delete of a used partition: exit %d, %s", code, errs)
	}
	_, errs, code = s.run("cluster", "delete", "fra-a")
	if code == 0 || !strings.Contains(errs, `nodes "fra-1" (`+node+`)`) {
		t.Errorf("delete of a used cluster: exit %d, %s", code, errs)
	}
	_, errs, code = s.run("cluster", "rename", "fra-a", "Bad Name")
	if code == 0 || !strings.Contains(errs, "NEW-NAME: ") {
		t.Errorf("rename to a bad name: exit %d, %s", code, errs)
	}
	s.ok("node", "remove", node)
	if got := s.ok("cluster", "delete", "fra-a"); got != "deleted cluster fra-a" {
		t.Errorf("cluster delete printed %q", got)
	}
	s.ok("partition", "delete", "europe")
	if out := s.ok("partition", "list"); strings.Contains(out, part) {
		t.Errorf("deleted partition listed:\n%s", out)
	}
	if _, errs, code := s.run("partition", "delete", "europe"); code == 0 || !strings.Contains(errs, "not_found") {
		t.Errorf("second delete: exit %d, %s", code, errs)
	}
}
