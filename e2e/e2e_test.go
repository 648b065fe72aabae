// Package e2e drives the real strata binary as a user would: `strata dev` as a
// process, and the CLI against it.
package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-edge/strata/e2e/e2etest"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode (builds and runs the strata binary)")
		os.Exit(0)
	}
	e2etest.Main(m, "e2e")
}

// The shared helpers of both end-to-end suites (e2etest).
type (
	proc = e2etest.Proc
	edge = e2etest.Edge // one node's proxy, as a client reaches it
)

var (
	startProc = e2etest.Start
	cleanEnv  = e2etest.CleanEnv
	startNode = e2etest.StartNode
)

// cli is the CLI with the readers of this suite.
type cli struct{ e2etest.CLI }

// newCLI is the CLI with env added to the clean environment.
func newCLI(t *testing.T, env ...string) cli { return cli{e2etest.CLI{T: t, Env: env}} }

// dev is a running `strata dev` process.
type dev struct {
	*proc
	api string
}

// startDev starts `strata dev` on dataDir with free ports and waits for the
// banner's "api:" line.
func startDev(t *testing.T, dataDir string) *dev {
	t.Helper()
	p := startProc(t, e2etest.DevArgs(dataDir)...)
	d := &dev{proc: p, api: p.Value(t, "api")}
	if !strings.HasPrefix(d.api, "http://127.0.0.1:") || strings.HasSuffix(d.api, ":0") {
		t.Fatalf("banner api address %q: want the bound http://127.0.0.1:PORT", d.api)
	}
	return d
}

func (c cli) getApp(id string) *configv1.GetAppResponse {
	c.T.Helper()
	out := c.OK("app", "get", id, "-o", "json")
	res := &configv1.GetAppResponse{}
	if err := protojson.Unmarshal([]byte(out), res); err != nil {
		c.T.Fatalf("app get -o json is not a GetAppResponse: %v\n%s", err, out)
	}
	return res
}

func (c cli) releases(app string) []*configv1.Release {
	c.T.Helper()
	out := c.OK("release", "list", "--app", app, "-o", "json")
	res := &configv1.ListReleasesResponse{}
	if err := protojson.Unmarshal([]byte(out), res); err != nil {
		c.T.Fatalf("release list -o json: %v\n%s", err, out)
	}
	return res.GetReleases()
}

// content is an app's content without its release number, for comparing
// the content of two releases.
func content(a *configv1.App) *configv1.App {
	c := proto.Clone(a).(*configv1.App)
	c.Release = 0
	return c
}

func serverAddrs(a *configv1.App, upstream string) []string {
	for _, u := range a.GetUpstreams() {
		if u.GetName() == upstream {
			var out []string
			for _, s := range u.GetServers() {
				out = append(out, s.GetAddress())
			}
			return out
		}
	}
	return nil
}

func TestDevReleaseRevertRestart(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	d := startDev(t, dataDir)

	tokenFile := filepath.Join(dataDir, "admin.token")
	fi, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %#o, want 0600", fi.Mode().Perm())
	}
	tokenBytes, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokenBytes))
	c := newCLI(t, "STRATA_API="+d.api, "STRATA_TOKEN="+token)

	// Build an app and release it.
	app := c.OK("app", "create", "--name", "shop", "--domain", "shop.example.com")
	if !strings.HasPrefix(app, "app_") || strings.ContainsAny(app, " \n") {
		t.Fatalf("app create printed %q, want the id alone", app)
	}
	if got := c.OK("upstream", "create", "--app", app, "--name", "web", "--server", "127.0.0.1:8081", "--connect-timeout", "2s"); got != "web" {
		t.Errorf("upstream create printed %q", got)
	}
	if got := c.OK("rule", "create", "--app", app, "--upstream", "web", "--when", `PathPrefix("/")`); got != "rule-1" {
		t.Errorf("rule create printed %q, want the generated name rule-1", got)
	}
	if got := c.OK("release", "create", "--app", app, "--note", "first"); got != "1" {
		t.Fatalf("first release printed %q, want 1", got)
	}
	r1 := c.getApp(app).GetReleased()
	if got := serverAddrs(r1, "web"); len(got) != 1 || got[0] != "127.0.0.1:8081" {
		t.Fatalf("release 1 upstream web servers %v", got)
	}

	// Change the upstream: the diff shows it, release 2 carries it.
	c.OK("upstream", "update", "--app", app, "--name", "web", "--server", "127.0.0.1:9091=2")
	diff := c.OK("app", "diff", app)
	for _, want := range []string{"127.0.0.1:8081", "127.0.0.1:9091", "1 pending change(s)", "admin"} {
		if !strings.Contains(diff, want) {
			t.Errorf("app diff does not show %q:\n%s", want, diff)
		}
	}
	if got := c.OK("release", "create", "--app", app, "--note", "move web"); got != "2" {
		t.Fatalf("second release printed %q, want 2", got)
	}
	r2 := c.getApp(app).GetReleased()
	if got := serverAddrs(r2, "web"); len(got) != 1 || got[0] != "127.0.0.1:9091" {
		t.Fatalf("release 2 upstream web servers %v", got)
	}
	// The update kept what it was not told to change.
	if ms := r2.GetUpstreams()[0].GetTimeouts().GetConnectMs(); ms != 2000 {
		t.Errorf("upstream update lost the connect timeout: %d ms", ms)
	}

	// Revert to 1 (release 3): the released content is release 1's again.
	if got := c.OK("release", "revert", "--app", app, "--to", "1"); got != "3" {
		t.Fatalf("revert printed %q, want 3", got)
	}
	afterRevert := c.getApp(app)
	if !proto.Equal(content(afterRevert.GetReleased()), content(r1)) {
		t.Errorf("after revert to 1 the released content differs from release 1:\ngot  %v\nwant %v", afterRevert.GetReleased(), r1)
	}
	if afterRevert.GetLatestRelease() != 3 {
		t.Errorf("latest release %d, want 3", afterRevert.GetLatestRelease())
	}

	// Revert the revert (release 4): release 2's content is back.
	if got := c.OK("release", "revert", "--app", app, "--to", "2", "--note", "undo revert"); got != "4" {
		t.Fatalf("revert of the revert printed %q, want 4", got)
	}
	r4 := c.getApp(app).GetReleased()
	if !proto.Equal(content(r4), content(r2)) {
		t.Errorf("after revert to 2 the released content differs from release 2:\ngot  %v\nwant %v", r4, r2)
	}
	byNumber := map[uint64]*configv1.Release{}
	for _, r := range c.releases(app) {
		byNumber[r.GetNumber()] = r
	}
	if len(byNumber) != 4 || byNumber[1].GetKind() != "release" || byNumber[3].GetKind() != "revert" ||
		byNumber[3].GetRevertedTo() != 1 || byNumber[4].GetRevertedTo() != 2 || byNumber[4].GetNote() != "undo revert" {
		t.Errorf("release list: %v", byNumber)
	}

	// Bad input: non-zero exit and an error naming the field.
	bad := c.Run("app", "create", "--name", "bad", "--domain", "bad..example.com")
	if bad.Code == 0 {
		t.Fatalf("invalid domain accepted: %s", bad.Stdout)
	}
	if !strings.Contains(bad.Stderr, "invalid_argument") || !strings.Contains(bad.Stderr, "  - --domain: ") {
		t.Errorf("invalid domain error does not name the code and field:\n%s", bad.Stderr)
	}
	// A stale expected version is refused.
	stale := c.Run("release", "create", "--app", app, "--expect-version", "1")
	if stale.Code == 0 || !strings.Contains(stale.Stderr, "aborted") {
		t.Errorf("stale --expect-version: exit %d\n%s", stale.Code, stale.Stderr)
	}

	// No token: rejected.
	anon := newCLI(t, "STRATA_API="+d.api)
	r := anon.Run("app", "list")
	if r.Code == 0 || !strings.Contains(r.Stderr, "unauthenticated") {
		t.Errorf("call without token: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	wrong := newCLI(t, "STRATA_API="+d.api, "STRATA_TOKEN=strata_wrong")
	if r := wrong.Run("app", "list"); r.Code == 0 || !strings.Contains(r.Stderr, "invalid bearer token") {
		t.Errorf("call with a wrong token: exit %d\n%s", r.Code, r.Stderr)
	}

	// Ctrl-C stops cleanly; a restart on the same dir keeps everything.
	d.Interrupt(t, 15*time.Second)
	d2 := startDev(t, dataDir)
	again, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(again)) != token {
		t.Errorf("restart generated a new admin token")
	}
	c2 := newCLI(t, "STRATA_API="+d2.api, "STRATA_TOKEN="+token)
	restarted := c2.getApp(app)
	if !proto.Equal(restarted.GetReleased(), r4) {
		t.Errorf("after restart the released content changed:\ngot  %v\nwant %v", restarted.GetReleased(), r4)
	}
	if got := c2.releases(app); len(got) != 4 {
		t.Errorf("after restart %d releases, want 4", len(got))
	}
	if list := c2.OK("app", "list"); !strings.Contains(list, app) {
		t.Errorf("app list after restart lacks %s:\n%s", app, list)
	}
	d2.Interrupt(t, 15*time.Second)
}

func TestDevRefusesReadableTokenFile(t *testing.T) {
	dataDir := t.TempDir()
	tokenFile := filepath.Join(dataDir, "admin.token")
	if err := os.WriteFile(tokenFile, []byte("strata_x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tokenFile, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(e2etest.Binary, "dev", "--data", dataDir, "--api-addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0",
		"--leaf-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0")
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("strata dev started with a world-readable token file:\n%s", out)
	}
	if !strings.Contains(string(out), "chmod 600") {
		t.Errorf("error does not say how to fix the file:\n%s", out)
	}
}
