// Package e2e drives the real strata binary as a user would: `strata dev` as a
// process, and the CLI against it.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// binary is the strata binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode (builds and runs the strata binary)")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "strata-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "strata")
	configDir = filepath.Join(dir, "config")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	build := exec.Command("go", "build", "-o", binary, "github.com/strata-edge/strata/cmd/strata")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build strata:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running strata process (dev or node) whose stdout banner
// ("key: value" lines) is collected.
type proc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	exited chan error

	mu     sync.Mutex
	banner map[string]string
	lines  []string
	seen   chan struct{} // closed and replaced on every stdout line
}

// dev is a running `strata dev` process.
type dev struct {
	*proc
	api string
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startProc runs the strata binary with args and collects its banner.
func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = cleanEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan error, 1),
		banner: map[string]string{}, seen: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.lines = append(p.lines, line)
			if k, v, ok := strings.Cut(line, ": "); ok && !strings.Contains(k, " ") {
				if _, dup := p.banner[k]; !dup {
					p.banner[k] = v
				}
			}
			close(p.seen)
			p.seen = make(chan struct{})
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// value waits for the banner line "key: value" and returns the value.
func (p *proc) value(t *testing.T, key string) string {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		p.mu.Lock()
		v, ok := p.banner[key]
		seen := p.seen
		p.mu.Unlock()
		if ok {
			return v
		}
		select {
		case <-seen:
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("strata %v exited before printing %q: %v\nstdout:\n%s\nstderr:\n%s", p.cmd.Args[1:], key, err, p.stdout(), p.stderr)
		case <-deadline:
			t.Fatalf("strata %v printed no %q line within 60s\nstdout:\n%s\nstderr:\n%s", p.cmd.Args[1:], key, p.stdout(), p.stderr)
		}
	}
}

func (p *proc) stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// startDev starts `strata dev` on dataDir with free ports and waits for the
// banner's "api:" line.
func startDev(t *testing.T, dataDir string) *dev {
	t.Helper()
	p := startProc(t, "dev", "--data", dataDir,
		"--api-addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:-1", "--leaf-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0")
	d := &dev{proc: p, api: p.value(t, "api")}
	if !strings.HasPrefix(d.api, "http://127.0.0.1:") || strings.HasSuffix(d.api, ":0") {
		t.Fatalf("banner api address %q: want the bound http://127.0.0.1:PORT", d.api)
	}
	return d
}

// interrupt sends SIGINT and requires a clean exit (code 0) within timeout.
func (p *proc) interrupt(t *testing.T, timeout time.Duration) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("strata %v exited with %v after SIGINT\nstderr:\n%s", p.cmd.Args[1:], err, p.stderr)
		}
	case <-time.After(timeout):
		t.Fatalf("strata %v still running %s after SIGINT\nstderr:\n%s", p.cmd.Args[1:], timeout, p.stderr)
	}
}

// configDir is STRATA_CONFIG_DIR of every process: an empty directory, so
// that no `strata login` session of the person running the tests is used.
var configDir string

// cleanEnv is the test's environment without STRATA_* variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STRATA_") {
			env = append(env, kv)
		}
	}
	return append(env, "STRATA_CONFIG_DIR="+configDir)
}

// cli runs the strata CLI in a fresh directory (so no ./.data token is found)
// with the given environment additions.
type cli struct {
	t   *testing.T
	env []string
}

type result struct {
	stdout, stderr string
	code           int
}

func (c cli) run(args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = c.t.TempDir()
	cmd.Env = append(cleanEnv(), c.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			c.t.Fatalf("strata %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// ok runs a command that must succeed and returns its trimmed stdout.
func (c cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("strata %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

func (c cli) getApp(id string) *configv1.GetAppResponse {
	c.t.Helper()
	out := c.ok("app", "get", id, "-o", "json")
	res := &configv1.GetAppResponse{}
	if err := protojson.Unmarshal([]byte(out), res); err != nil {
		c.t.Fatalf("app get -o json is not a GetAppResponse: %v\n%s", err, out)
	}
	return res
}

func (c cli) releases(app string) []*configv1.Release {
	c.t.Helper()
	out := c.ok("release", "list", "--app", app, "-o", "json")
	res := &configv1.ListReleasesResponse{}
	if err := protojson.Unmarshal([]byte(out), res); err != nil {
		c.t.Fatalf("release list -o json: %v\n%s", err, out)
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
	c := cli{t: t, env: []string{"STRATA_API=" + d.api, "STRATA_TOKEN=" + token}}

	// Build an app and release it.
	app := c.ok("app", "create", "--name", "shop", "--domain", "shop.example.com")
	if !strings.HasPrefix(app, "app_") || strings.ContainsAny(app, " \n") {
		t.Fatalf("app create printed %q, want the id alone", app)
	}
	if got := c.ok("upstream", "create", "--app", app, "--name", "web", "--server", "127.0.0.1:8081", "--connect-timeout", "2s"); got != "web" {
		t.Errorf("upstream create printed %q", got)
	}
	if got := c.ok("rule", "create", "--app", app, "--upstream", "web", "--when", `PathPrefix("/")`); got != "rule-1" {
		t.Errorf("rule create printed %q, want the generated name rule-1", got)
	}
	if got := c.ok("release", "create", "--app", app, "--note", "first"); got != "1" {
		t.Fatalf("first release printed %q, want 1", got)
	}
	r1 := c.getApp(app).GetReleased()
	if got := serverAddrs(r1, "web"); len(got) != 1 || got[0] != "127.0.0.1:8081" {
		t.Fatalf("release 1 upstream web servers %v", got)
	}

	// Change the upstream: the diff shows it, release 2 carries it.
	c.ok("upstream", "update", "--app", app, "--name", "web", "--server", "127.0.0.1:9091=2")
	diff := c.ok("app", "diff", app)
	for _, want := range []string{"127.0.0.1:8081", "127.0.0.1:9091", "1 pending change(s)", "admin"} {
		if !strings.Contains(diff, want) {
			t.Errorf("app diff does not show %q:\n%s", want, diff)
		}
	}
	if got := c.ok("release", "create", "--app", app, "--note", "move web"); got != "2" {
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
	if got := c.ok("release", "revert", "--app", app, "--to", "1"); got != "3" {
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
	if got := c.ok("release", "revert", "--app", app, "--to", "2", "--note", "undo revert"); got != "4" {
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
	bad := c.run("app", "create", "--name", "bad", "--domain", "bad..example.com")
	if bad.code == 0 {
		t.Fatalf("invalid domain accepted: %s", bad.stdout)
	}
	if !strings.Contains(bad.stderr, "invalid_argument") || !strings.Contains(bad.stderr, "  - --domain: ") {
		t.Errorf("invalid domain error does not name the code and field:\n%s", bad.stderr)
	}
	// A stale expected version is refused.
	stale := c.run("release", "create", "--app", app, "--expect-version", "1")
	if stale.code == 0 || !strings.Contains(stale.stderr, "aborted") {
		t.Errorf("stale --expect-version: exit %d\n%s", stale.code, stale.stderr)
	}

	// No token: rejected.
	anon := cli{t: t, env: []string{"STRATA_API=" + d.api}}
	r := anon.run("app", "list")
	if r.code == 0 || !strings.Contains(r.stderr, "unauthenticated") {
		t.Errorf("call without token: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	wrong := cli{t: t, env: []string{"STRATA_API=" + d.api, "STRATA_TOKEN=strata_wrong"}}
	if r := wrong.run("app", "list"); r.code == 0 || !strings.Contains(r.stderr, "invalid bearer token") {
		t.Errorf("call with a wrong token: exit %d\n%s", r.code, r.stderr)
	}

	// Ctrl-C stops cleanly; a restart on the same dir keeps everything.
	d.interrupt(t, 15*time.Second)
	d2 := startDev(t, dataDir)
	again, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(again)) != token {
		t.Errorf("restart generated a new admin token")
	}
	c2 := cli{t: t, env: []string{"STRATA_API=" + d2.api, "STRATA_TOKEN=" + token}}
	restarted := c2.getApp(app)
	if !proto.Equal(restarted.GetReleased(), r4) {
		t.Errorf("after restart the released content changed:\ngot  %v\nwant %v", restarted.GetReleased(), r4)
	}
	if got := c2.releases(app); len(got) != 4 {
		t.Errorf("after restart %d releases, want 4", len(got))
	}
	if list := c2.ok("app", "list"); !strings.Contains(list, app) {
		t.Errorf("app list after restart lacks %s:\n%s", app, list)
	}
	d2.interrupt(t, 15*time.Second)
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
	cmd := exec.Command(binary, "dev", "--data", dataDir, "--api-addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0",
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
