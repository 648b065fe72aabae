package cli_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
	"google.golang.org/protobuf/encoding/protojson"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/internal/cli/clientx/clitest"
	"github.com/strata-edge/strata/internal/stack"
	"github.com/strata-edge/strata/internal/testbuf"
	"github.com/strata-edge/strata/pkg/certtest"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// startDev runs the whole of strata dev in-process (NATS hub, services,
// API, built-in edge node) and returns the API URL and admin token.
func startDev(t *testing.T) (api, token string) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	banner := &testbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- stack.RunDev(ctx, stack.DevOptions{DataDir: dir, APIAddr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0",
			LeafAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), Banner: banner})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	natstest.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		for _, line := range strings.Split(banner.String(), "\n") {
			if v, ok := strings.CutPrefix(line, "api: "); ok {
				api = v
			}
		}
		if api == "" || !strings.Contains(banner.String(), "\nnode: ") {
			select {
			case err := <-done:
				t.Fatalf("strata dev ended: %v", err)
			default:
			}
			return errors.New("no banner yet")
		}
		return nil
	})
	b, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return api, strings.TrimSpace(string(b))
}

func TestNodeCommands(t *testing.T) {
	api, token := startDev(t)
	s := strata{t: t, env: map[string]string{"STRATA_API": api, "STRATA_TOKEN": token, "STRATA_CONFIG_DIR": t.TempDir()}}

	// The built-in node runs the (empty) config of partition default.
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if out := s.ok("node", "list"); !strings.Contains(out, "default  1      1/1 (100%)") {
			return errors.New("dev node not in sync yet:\n" + out)
		}
		return nil
	})

	jt := s.ok("node", "token", "create", "--cluster", "default", "--ttl", "2h", "--description", "rack 4")
	if !strings.HasPrefix(jt, "jtok_") {
		t.Fatalf("token create printed %q", jt)
	}
	if out := s.ok("node", "token", "list"); !strings.Contains(out, "rack 4") || !strings.Contains(out, "valid") {
		t.Errorf("token list:\n%s", out)
	}
	_, errOut, code := s.run("node", "token", "create", "--cluster", "default", "--ttl", "40d")
	if code == 0 || !strings.Contains(errOut, "--ttl") {
		t.Errorf("ttl beyond 30 days: exit %d\n%s", code, errOut)
	}
	_, errOut, code = s.run("node", "token", "create", "--cluster", "nowhere")
	if code == 0 || !strings.Contains(errOut, "not_found") {
		t.Errorf("token for an unknown cluster: exit %d\n%s", code, errOut)
	}

	// A node joins with a token that needs approval.
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	joiner := configv1connect.NewNodeServiceClient(http.DefaultClient, api)
	res, err := joiner.Join(context.Background(), &configv1.JoinRequest{JoinToken: jt, Name: "rack4-a", PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetApproved() || res.GetUserJwt() != "" {
		t.Fatalf("node approved without approval: %v", res)
	}
	id := res.GetNode().GetId()
	if out := s.ok("node", "list"); !strings.Contains(out, "rack4-a (awaiting approval)") {
		t.Errorf("node list does not show the node awaiting approval:\n%s", out)
	}
	if out := s.ok("node", "approve", id); out != "approved node "+id+" (rack4-a)" {
		t.Errorf("approve printed %q", out)
	}
	res, err = joiner.Join(context.Background(), &configv1.JoinRequest{JoinToken: jt, Name: "rack4-a", PublicKey: pub})
	if err != nil || !res.GetApproved() || res.GetUserJwt() == "" || len(res.GetLeafUrls()) != 1 {
		t.Fatalf("join after approval: %v, %v", res, err)
	}
	if out := s.ok("node", "disable", id); out != "node "+id+" disabled: yes" {
		t.Errorf("disable printed %q", out)
	}
	if out := s.ok("node", "list"); !strings.Contains(out, "rack4-a (disabled)") {
		t.Errorf("node list does not show the node disabled:\n%s", out)
	}
	if out := s.ok("node", "enable", id); out != "node "+id+" disabled: no" {
		t.Errorf("enable printed %q", out)
	}
	_, errOut, code = s.run("node", "approve", "node_nope")
	if code == 0 || !strings.Contains(errOut, "not_found") {
		t.Errorf("approve of an unknown node: exit %d\n%s", code, errOut)
	}
	_, errOut, code = s.run("node", "lst")
	if code == 0 || !strings.Contains(errOut, `unknown command "lst"`) {
		t.Errorf("node lst: exit %d\n%s", code, errOut)
	}
}

func TestIAMCommandsAndSessionFile(t *testing.T) {
	api, token := startDev(t)
	configDir := t.TempDir()
	s := strata{t: t, env: map[string]string{"STRATA_API": api, "STRATA_TOKEN": token, "STRATA_CONFIG_DIR": configDir}}
	if out := s.ok("whoami"); !strings.Contains(out, "super_admin") {
		t.Errorf("whoami with the bootstrap token:\n%s", out)
	}
	s.ok("user", "create", "deploy-bot", "--service-account")
	out := s.ok("token", "create", "--user", "deploy-bot")
	var secret string
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "strata_") {
			secret = f
		}
	}
	if secret == "" {
		t.Fatalf("token create printed no secret:\n%s", out)
	}

	// Without --token or STRATA_TOKEN the saved session is used.
	if err := os.WriteFile(filepath.Join(configDir, "session.token"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	session := strata{t: t, env: map[string]string{"STRATA_API": api, "STRATA_CONFIG_DIR": configDir}}
	if out := session.ok("whoami"); !strings.HasPrefix(out, "deploy-bot") {
		t.Errorf("whoami with the session file:\n%s", out)
	}
	// deploy-bot holds no grant: authenticated, but not allowed.
	_, errOut, code := session.run("app", "list")
	if code == 0 || !strings.Contains(errOut, "permission_denied") {
		t.Errorf("app list without a grant: exit %d\n%s", code, errOut)
	}
	// An explicit token wins over the session.
	if out := s.ok("whoami"); !strings.Contains(out, "super_admin") {
		t.Errorf("STRATA_TOKEN did not win over the session:\n%s", out)
	}
}

// Tables show the names of the objects a row refers to (issue 13, item 11):
// a cluster's partition and parents, a join token's cluster, the apps of a
// certificate; -o json keeps the ids.
func TestListsShowNames(t *testing.T) {
	api, token := startDev(t)
	s := strata{t: t, env: map[string]string{"STRATA_API": api, "STRATA_TOKEN": token}}
	part := s.ok("partition", "create", "--name", "eu")
	s.ok("cluster", "create", "--name", "fra-shield", "--partition", "eu")
	s.ok("cluster", "create", "--name", "fra", "--partition", "eu")
	s.ok("cluster", "update", "fra", "--parents", "fra-shield")
	if out := s.ok("cluster", "list"); !regexp.MustCompile(`(?m)^clu_\S+ +fra +eu +on +fra-shield +-$`).MatchString(out) {
		t.Errorf("cluster list lacks the row of fra with partition eu and parent fra-shield:\n%s", out)
	}
	clusters := &configv1.ListClustersResponse{}
	s.json(clusters, "cluster", "list")
	for _, c := range clusters.GetClusters() {
		if c.GetName() == "fra" && c.GetPartitionId() != part {
			t.Errorf("cluster list -o json: partition_id %q, want the id %s", c.GetPartitionId(), part)
		}
	}
	s.ok("node", "token", "create", "--cluster", "fra", "--description", "edge")
	if out := s.ok("node", "token", "list"); !regexp.MustCompile(`(?m)^jtok_\S+ +fra +no `).MatchString(out) {
		t.Errorf("node token list shows no cluster name fra:\n%s", out)
	}

	s.ok("app", "create", "--name", "shop", "--domain", "shop.example.com")
	set := certtest.NewSet(t)
	leaf, chain := set.Leaf(t, certtest.Options{DNSNames: []string{"shop.example.com"}})
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "chain.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, []byte(chain), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(leaf.KeyPEM(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	id := s.ok("cert", "upload", "--cert", certFile, "--key", keyFile, "--app", "shop")
	if !regexp.MustCompile(`^crt_[0-9a-z]+$`).MatchString(id) {
		t.Fatalf("cert upload printed %q, want the id alone", id)
	}
	if out := s.ok("cert", "list"); !regexp.MustCompile(`(?m)^` + id + ` .* active +shop +-$`).MatchString(out) {
		t.Errorf("cert list shows no app name shop:\n%s", out)
	}
}

// TestNodeJSONGolden: the node and join-token commands' -o json output,
// pinned in testdata/json (refresh with -update).
func TestNodeJSONGolden(t *testing.T) {
	api, token := startDev(t)
	s := strata{t: t, env: map[string]string{"STRATA_API": api, "STRATA_TOKEN": token}}
	s.ok("cluster", "create", "--name", "fra")
	jt := &configv1.CreateJoinTokenResponse{}
	for _, st := range []struct{ name, args string }{
		{"node-token-create", "node token create --cluster fra --ttl 1h --description edge"},
		{"node-token-list", "node token list"},
		{"node-register", "node register --name fra-1 --cluster fra"},
		{"node-disable", "node disable fra-1"},
		{"node-enable", "node enable fra-1"},
		{"node-approve", "node approve fra-1"},
	} {
		out := s.ok(append(strings.Fields(st.args), "-o", "json")...)
		if st.name == "node-token-create" {
			if err := protojson.Unmarshal([]byte(out), jt); err != nil {
				t.Fatal(err)
			}
		}
		if st.name == "node-token-list" {
			// strata dev's own auto-approve token is listed too, in id
			// order, which changes from run to run: pin them by description.
			list := &configv1.ListJoinTokensResponse{}
			if err := protojson.Unmarshal([]byte(out), list); err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(list.JoinTokens, func(a, b *configv1.JoinToken) int { return strings.Compare(a.GetDescription(), b.GetDescription()) })
			out = protojson.MarshalOptions{UseProtoNames: true}.Format(list)
		}
		clitest.Golden(t, st.name, []byte(out))
	}
	clitest.Golden(t, "node-token-revoke", []byte(s.ok("node", "token", "revoke", jt.GetJoinToken().GetId(), "-o", "json")))
}

// Errors name the arguments and flags of the dns, partition and cert
// commands, and DNS names are worded like app domains (issue 13, item 9).
func TestDNSErrorsNameArguments(t *testing.T) {
	api, token := startDev(t)
	s := strata{t: t, env: map[string]string{"STRATA_API": api, "STRATA_TOKEN": token}}
	s.ok("dns", "zone", "create", "example.com")
	s.ok("dns", "record", "add", "--zone", "example.com", "www", "CNAME", "web.example.org.")
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"dns", "zone", "create", "bad..zone"}, `  - NAME: "bad..zone" has an empty label (two dots in a row)`},
		{[]string{"app", "create", "--name", "bad", "--domain", "bad..zone"}, `  - --domain: "bad..zone" has an empty label (two dots in a row)`},
		{[]string{"dns", "record", "add", "--zone", "example.com", "x", "A", "1.2.3"}, `  - DATA: "1.2.3" is not valid A data: want an IPv4 address, e.g. 192.0.2.10`},
		{[]string{"dns", "record", "add", "--zone", "example.com", "x", "A", "192.0.2.1", "--cidr", "10.0.0.0/33"}, `  - --cidr: "10.0.0.0/33" is not a CIDR`},
		{[]string{"partition", "create", "--name", "bad name"}, "  - --name: "},
		{[]string{"cert", "upload", "--cert", notPEM, "--key", notPEM}, "  - --cert: "},
	} {
		_, errs, code := s.run(tt.args...)
		if code != 1 || !strings.Contains(errs, tt.want) {
			t.Errorf("strata %s: exit %d, stderr lacks %q:\n%s", strings.Join(tt.args, " "), code, tt.want, errs)
		}
	}
	// A conflict is reported once, on the record being added.
	_, errs, _ := s.run("dns", "record", "add", "--zone", "example.com", "www", "A", "192.0.2.1")
	if n := strings.Count(errs, "\n  - "); n != 1 || !strings.Contains(errs, "a CNAME owner has no other data") {
		t.Errorf("A beside a CNAME: %d violations, want the CNAME conflict once:\n%s", n, errs)
	}
}

// TestPurgeJSONGolden: the purge commands' -o json output against strata
// dev and its edge node, pinned in testdata/json (refresh with -update).
func TestPurgeJSONGolden(t *testing.T) {
	api, token := startDev(t)
	s := strata{t: t, env: map[string]string{"STRATA_API": api, "STRATA_TOKEN": token}}
	// The built-in node must be online to be waited for.
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		nodes := &configv1.ListNodesResponse{}
		s.json(nodes, "node", "list")
		if len(nodes.GetNodes()) != 1 || !nodes.GetNodes()[0].GetOnline() {
			return errors.New("node not online yet")
		}
		return nil
	})
	res := &purgev1.Purge{}
	out := s.ok("purge", "url", "https://shop.example.com/a.css", "--wait", "-o", "json")
	if err := protojson.Unmarshal([]byte(out), res); err != nil {
		t.Fatal(err)
	}
	clitest.Golden(t, "purge-url", []byte(out))
	clitest.Golden(t, "purge-get", []byte(s.ok("purge", "get", res.GetId(), "-o", "json")))
	clitest.Golden(t, "purge-list", []byte(s.ok("purge", "list", "-o", "json")))
	for _, st := range []struct{ name, args string }{
		{"purge-prefix", "purge prefix shop.example.com/static/ --wait"},
		{"purge-host", "purge host shop.example.com --wait"},
		{"purge-tag", "purge tag product-42 --soft --wait"},
		{"purge-condition", "purge condition --host shop.example.com --path-regex ^/img/ --header Content-Type:image/png --wait"},
	} {
		clitest.Golden(t, st.name, []byte(s.ok(append(strings.Fields(st.args), "-o", "json")...)))
	}

	// A push of a URL the node has no configuration for: acknowledged,
	// with the URL's failure (exit 1).
	s.ok("app", "create", "--name", "shop", "--domain", "shop.example.com")
	out, errs, code := s.run("cache", "push", "--app", "shop", "https://shop.example.com/a.css", "--wait", "-o", "json")
	if code != 1 || !strings.Contains(errs, "1 URL fetches failed") {
		t.Fatalf("cache push: exit %d, stderr %q", code, errs)
	}
	clitest.Golden(t, "cache-push", []byte(out))
	push := &purgev1.Push{}
	if err := protojson.Unmarshal([]byte(out), push); err != nil {
		t.Fatal(err)
	}
	clitest.Golden(t, "cache-push-get", []byte(s.ok("cache", "push", "get", push.GetId(), "-o", "json")))
	clitest.Golden(t, "cache-push-list", []byte(s.ok("cache", "push", "list", "-o", "json")))
}
