package iamcmd

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx/clitest"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/services/iam"
)

const adminToken = "strata_iamcmd-test-admin"

// startIAM serves the real IAM service on an embedded JetStream behind the
// real interceptors.
func startIAM(t *testing.T) *httptest.Server {
	t.Helper()
	ctx := context.Background()
	store, _ := clitest.Store(t)
	svc, err := iam.New(iam.Options{Store: store, BootstrapToken: adminToken, Argon2: iam.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	rules := authz.DefaultRules()
	mux := http.NewServeMux()
	mux.Handle(svc.Handler(connect.WithInterceptors(
		apiauth.NewInterceptor(svc.Authenticator(), apiauth.WithPublicProcedures(rules.PublicProcedures()...)),
		authz.NewInterceptor(svc),
	)))
	srv := httptest.NewServer(svc.Middleware(mux))
	t.Cleanup(srv.Close)
	return srv
}

// factory is a ClientFactory like the root command's: the token is the
// explicit one, else the saved session.
type factory struct {
	clitest.Env
	url, token, session string
}

func (f *factory) IAMClient() (iamv1connect.IAMServiceClient, error) {
	token := f.token
	if token == "" {
		s, err := ReadSessionFile(f.session)
		if err != nil {
			return nil, err
		}
		token = s
	}
	var opts []connect.ClientOption
	if token != "" {
		opts = append(opts, connect.WithInterceptors(apiauth.BearerToken(token)))
	}
	return iamv1connect.NewIAMServiceClient(http.DefaultClient, f.url, opts...), nil
}
func (f *factory) SessionFile() (string, error) { return f.session, nil }

// run executes one command line and returns stdout and the error.
func run(t *testing.T, f *factory, stdin string, args ...string) (string, error) {
	t.Helper()
	f.In = strings.NewReader(stdin)
	return f.Run(Commands(f), args...)
}

func mustRun(t *testing.T, f *factory, stdin string, args ...string) string {
	t.Helper()
	out, err := run(t, f, stdin, args...)
	if err != nil {
		t.Fatalf("strata %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func TestIAMCommands(t *testing.T) {
	srv := startIAM(t)
	session := filepath.Join(t.TempDir(), "cfg", "session.token")
	admin := &factory{url: srv.URL, token: adminToken, session: session}
	const pw = "correct horse battery staple\n"

	_, err := run(t, admin, "hunter2\n", "user", "create", "alice", "--password-stdin")
	if err == nil || !strings.Contains(err.Error(), "at least 12 characters") {
		t.Fatalf("weak password: %v", err)
	}
	out := mustRun(t, admin, pw, "user", "create", "alice", "--password-stdin", "--email", "alice@example.com")
	if out != "alice\n" {
		t.Fatalf("user create printed %q, want the name alone", out)
	}
	mustRun(t, admin, "", "user", "create", "ci", "--service-account")
	mustRun(t, admin, "", "group", "create", "shop", "--member", "alice")
	out = mustRun(t, admin, "", "grant", "create", "--group", "shop", "--role", "viewer", "--all")
	if !regexp.MustCompile(`^grt_[0-9a-z]+\n$`).MatchString(out) {
		t.Fatalf("grant create printed %q, want the grant id alone", out)
	}
	if _, err := run(t, admin, "", "grant", "create", "--user", "alice", "--role", "viewer"); err == nil || !strings.Contains(err.Error(), "exactly one scope") {
		t.Fatalf("grant without scope: %v", err)
	}
	out = mustRun(t, admin, "", "user", "list")
	if !strings.Contains(out, "alice") || !strings.Contains(out, "service") {
		t.Fatalf("user list:\n%s", out)
	}
	out = mustRun(t, admin, "", "token", "create", "--user", "ci", "--ttl", "90d", "--description", "pipeline")
	if !regexp.MustCompile(`^strata_\S+\n$`).MatchString(out) || !strings.Contains(admin.Err.String(), "not shown again") {
		t.Fatalf("token create: stdout %q (want the secret alone), stderr %q", out, admin.Err.String())
	}
	out = mustRun(t, admin, "", "token", "list", "--all")
	if !strings.Contains(out, "pipeline") || !strings.Contains(out, "active") {
		t.Fatalf("token list:\n%s", out)
	}

	// Log in as alice: the session is saved for the next commands.
	alice := &factory{url: srv.URL, session: session}
	out = mustRun(t, alice, pw, "login", "alice", "--password-stdin")
	if !strings.Contains(out, "Logged in as alice") {
		t.Fatalf("login printed %q", out)
	}
	fi, err := os.Stat(session)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("session file: %v, %v", fi, err)
	}
	out = mustRun(t, alice, "", "whoami")
	if !strings.Contains(out, "alice (user ses_") || !strings.Contains(out, "group shop") {
		t.Fatalf("whoami:\n%s", out)
	}
	if _, err := run(t, alice, "", "user", "list"); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("viewer listing users: %v", err)
	}

	out = mustRun(t, admin, "", "audit", "--actor", "admin", "--since", "1h", "--type", "iam.user")
	if strings.Count(out, "iam.user.created") != 2 || !strings.Contains(out, "iam.user.alice") {
		t.Fatalf("audit:\n%s", out)
	}
	admin.AsJSON = true
	out = mustRun(t, admin, "", "audit", "--object", "iam.user.alice", "--data")
	if !strings.Contains(out, `"data_json"`) || strings.Contains(out, "argon2") {
		t.Fatalf("audit json:\n%s", out)
	}
	admin.AsJSON = false
	if _, err := run(t, admin, "", "audit", "--since", "yesterday"); err == nil || !strings.Contains(err.Error(), "--since") {
		t.Fatalf("bad --since: %v", err)
	}

	mustRun(t, alice, "", "logout")
	if _, err := os.Stat(session); !os.IsNotExist(err) {
		t.Fatalf("session file after logout: %v", err)
	}
	if _, err := run(t, alice, "", "whoami"); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("whoami after logout: %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"90d", 90 * 24 * time.Hour, ""},
		{"2w", 14 * 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"45s", 45 * time.Second, ""},
		{"", 0, "empty"},
		{"0h", 0, "must be positive"},
		{"10", 0, "missing unit"},
		{"3y", 0, `unknown unit "y"`},
		{"-1h", 0, "expected a number"},
		{"1.5h", 0, "unknown unit"},
		{"99999999999999999999d", 0, "too large"},
		{"106752d", 0, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseDuration(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseDuration(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"1h", now.Add(-time.Hour)},
		{"7d", now.Add(-7 * 24 * time.Hour)},
		{"2026-03-01", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-03-01 15:04", time.Date(2026, 3, 1, 15, 4, 0, 0, time.UTC)},
		{"2026-03-01T15:04:05+01:00", time.Date(2026, 3, 1, 14, 4, 5, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := parseTime(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := parseTime("yesterday", now); err == nil || !strings.Contains(err.Error(), "neither a duration") {
		t.Errorf("parseTime(yesterday) = %v", err)
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90d", "1w2d3h4m5s", "1h30m", "", "0s", "9223372036854775807s", "1x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err != nil {
			return
		}
		if d <= 0 {
			t.Fatalf("parseDuration(%q) = %v, not positive", s, d)
		}
		// Where Go's parser understands the same text, both agree.
		if !strings.ContainsAny(s, "dw") {
			if g, err := time.ParseDuration(s); err == nil && g != d {
				t.Fatalf("parseDuration(%q) = %v, time.ParseDuration = %v", s, d, g)
			}
		}
	})
}

// TestIAMJSONGolden: the IAM commands' -o json output, pinned in
// testdata/json (refresh with -update).
func TestIAMJSONGolden(t *testing.T) {
	srv := startIAM(t)
	admin := &factory{url: srv.URL, token: adminToken, session: filepath.Join(t.TempDir(), "session.token")}
	admin.In = strings.NewReader("")
	cmds := func() []*cobra.Command { return Commands(admin) }
	admin.GoldenSteps(t, cmds, []clitest.Step{
		{Name: "user-create", Args: []string{"user", "create", "ci", "--service-account", "--display-name", "CI"}},
		{Name: "user-list", Args: []string{"user", "list"}},
		{Name: "user-get", Args: []string{"user", "get", "ci"}},
		{Name: "user-update", Args: []string{"user", "update", "ci", "--email", "ci@example.com"}},
		{Name: "group-create", Args: []string{"group", "create", "shop", "--member", "ci", "--description", "Shop team"}},
		{Name: "group-list", Args: []string{"group", "list"}},
		{Name: "group-get", Args: []string{"group", "get", "shop"}},
		{Name: "role-create", Args: []string{"role", "create", "reader", "--permission", "config.app.read"}},
		{Name: "grant-create", Args: []string{"grant", "create", "--group", "shop", "--role", "reader", "--all"}},
		{Name: "grant-list", Args: []string{"grant", "list"}},
		{Name: "token-create", Args: []string{"token", "create", "--user", "ci", "--description", "pipeline"}},
		{Name: "token-list", Args: []string{"token", "list", "--all"}},
		{Name: "whoami", Args: []string{"whoami"}},
		{Name: "user-create-bob", Args: []string{"user", "create", "bob", "--service-account"}},
		{Name: "group-add", Args: []string{"group", "add", "shop", "bob"}},
		{Name: "group-remove", Args: []string{"group", "remove", "shop", "bob"}},
		{Name: "user-disable", Args: []string{"user", "disable", "bob"}},
		{Name: "user-enable", Args: []string{"user", "enable", "bob"}},
		{Name: "role-update", Args: []string{"role", "update", "reader", "--permission", "config.*.read"}},
		{Name: "role-list", Args: []string{"role", "list"}},
		{Name: "role-permissions", Args: []string{"role", "permissions"}},
		{Name: "audit", Args: []string{"audit", "--type", "iam.user", "--limit", "3"}},
	})
	admin.In = strings.NewReader("a long enough password\n")
	admin.GoldenSteps(t, cmds, []clitest.Step{
		{Name: "user-create-carol", Args: []string{"user", "create", "carol", "--no-password"}},
		{Name: "user-set-password", Args: []string{"user", "set-password", "carol", "--password-stdin"}},
	})
	// The deletes need the ids made above.
	admin.AsJSON = true
	grants := &iamv1.ListGrantsResponse{}
	tokens := &iamv1.ListTokensResponse{}
	for _, q := range []struct {
		args []string
		msg  proto.Message
	}{{[]string{"grant", "list"}, grants}, {[]string{"token", "list", "--all"}, tokens}} {
		out, err := run(t, admin, "", q.args...)
		if err != nil || protojson.Unmarshal([]byte(out), q.msg) != nil {
			t.Fatalf("%v: %v\n%s", q.args, err, out)
		}
	}
	admin.GoldenSteps(t, cmds, []clitest.Step{
		{Name: "token-revoke", Args: []string{"token", "revoke", tokens.GetTokens()[0].GetId()}},
		{Name: "grant-delete", Args: []string{"grant", "delete", grants.GetGrants()[0].GetId()}},
		{Name: "role-delete", Args: []string{"role", "delete", "reader"}},
		{Name: "group-delete", Args: []string{"group", "delete", "shop"}},
		// The bootstrap token goes last: it is the token of these calls.
		{Name: "grant-create-admin", Args: []string{"grant", "create", "--user", "carol", "--role", "super_admin", "--all"}},
		{Name: "token-revoke-bootstrap", Args: []string{"token", "revoke-bootstrap"}},
	})
}
