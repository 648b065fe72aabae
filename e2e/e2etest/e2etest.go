// Package e2etest runs the real strata binary for the end-to-end suites
// (e2e, e2e/reliability): built once per suite, processes whose stdout
// banner ("key: value" lines) is collected, and the CLI.
package e2etest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-edge/strata/internal/testbuf"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// Binary is the strata binary Build made; ConfigDir is STRATA_CONFIG_DIR of
// every process: an empty directory, so that no `strata login` session of
// the person running the tests is used.
var Binary, ConfigDir string

// Build builds the strata binary into a new temporary directory named after
// suite and returns that directory (remove it after the run).
func Build(suite string) (string, error) {
	dir, err := os.MkdirTemp("", "strata-"+suite+"-")
	if err != nil {
		return "", err
	}
	Binary = filepath.Join(dir, "strata")
	ConfigDir = filepath.Join(dir, "config")
	if runtime.GOOS == "windows" {
		Binary += ".exe"
	}
	build := exec.Command("go", "build", "-o", Binary, "github.com/strata-edge/strata/cmd/strata")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return dir, fmt.Errorf("%s: build strata: %w", suite, err)
	}
	return dir, nil
}

// Main builds the binary, runs the suite's tests and exits with their code.
func Main(m *testing.M, suite string) {
	dir, err := Build(suite)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// CleanEnv is the test's environment without STRATA_* variables.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STRATA_") {
			env = append(env, kv)
		}
	}
	return append(env, "STRATA_CONFIG_DIR="+ConfigDir)
}

// DevArgs are the flags of `strata dev` on dataDir with free ports; extra
// flags (for example a fixed --leaf-addr so nodes reconnect after a restart)
// come last and win.
func DevArgs(dataDir string, extra ...string) []string {
	args := []string{"dev", "--data", dataDir,
		"--api-addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:-1", "--leaf-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0"}
	return append(args, extra...)
}

// Proc is a running strata process whose stdout banner is collected.
type Proc struct {
	Cmd    *exec.Cmd
	Stderr *testbuf.Buffer
	// Exited receives the exit once; a reader that only looks puts it back.
	Exited chan error

	mu     sync.Mutex
	banner map[string]string
	lines  []string
	seen   chan struct{} // closed and replaced on every stdout line
}

// Start runs the strata binary with args and collects its banner. The
// process is killed at the end of the test if it still runs.
func Start(t *testing.T, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(Binary, args...)
	cmd.Env = CleanEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Proc{Cmd: cmd, Stderr: &testbuf.Buffer{}, Exited: make(chan error, 1),
		banner: map[string]string{}, seen: make(chan struct{})}
	cmd.Stderr = p.Stderr
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
	go func() { p.Exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.Exited
		}
	})
	return p
}

// Value waits for the banner line "key: value" and returns the value.
func (p *Proc) Value(t *testing.T, key string) string {
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
		case err := <-p.Exited:
			p.Exited <- err
			t.Fatalf("strata %v exited before printing %q: %v\nstdout:\n%s\nstderr:\n%s", p.Cmd.Args[1:], key, err, p.Stdout(), p.Stderr)
		case <-deadline:
			t.Fatalf("strata %v printed no %q line within 60s\nstdout:\n%s\nstderr:\n%s", p.Cmd.Args[1:], key, p.Stdout(), p.Stderr)
		}
	}
}

// Stdout is what the process printed so far.
func (p *Proc) Stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// Interrupt sends SIGINT and requires a clean exit (code 0) within timeout.
func (p *Proc) Interrupt(t *testing.T, timeout time.Duration) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.Exited:
		if err != nil {
			t.Fatalf("strata %v exited with %v after SIGINT\nstderr:\n%s", p.Cmd.Args[1:], err, p.Stderr)
		}
	case <-time.After(timeout):
		t.Fatalf("strata %v still running %s after SIGINT\nstderr:\n%s", p.Cmd.Args[1:], timeout, p.Stderr)
	}
}

// CLI runs the strata CLI in a fresh directory (so no ./.data token is
// found) with Env added to the clean environment.
type CLI struct {
	T   *testing.T
	Env []string
}

// Result is one CLI run.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs the CLI with args (at most a minute).
func (c CLI) Run(args ...string) Result {
	c.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary, args...)
	cmd.Dir = c.T.TempDir()
	cmd.Env = append(CleanEnv(), c.Env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			c.T.Fatalf("strata %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return Result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// OK runs a command that must succeed and returns its trimmed stdout.
func (c CLI) OK(args ...string) string {
	c.T.Helper()
	r := c.Run(args...)
	if r.Code != 0 {
		c.T.Fatalf("strata %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return strings.TrimSpace(r.Stdout)
}

// Kill sends SIGKILL (no shutdown code runs) and waits for the exit.
func (p *Proc) Kill(t *testing.T) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("strata %v still running 30s after SIGKILL", p.Cmd.Args[1:])
	}
}

// Edge is a node as clients reach it.
type Edge struct {
	Name string
	HTTP string // http://HOST:PORT
}

// StartNode runs `strata node` joined to api with joinToken, on free HTTP
// and HTTPS ports (and extra flags), and waits for its http line.
func StartNode(t *testing.T, api, joinToken, name, dataDir string, extra ...string) (*Proc, Edge) {
	t.Helper()
	args := append([]string{"node", "--api", api, "--join-token", joinToken, "--name", name, "--data", dataDir,
		"--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0"}, extra...)
	p := Start(t, args...)
	return p, Edge{Name: name, HTTP: p.Value(t, "http")}
}

// Get requests / with the Host header through e and returns the body of a
// 200 answer.
func Get(client *http.Client, e Edge, host string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, e.HTTP+"/", nil)
	if err != nil {
		return "", err
	}
	req.Host = host
	res, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", res.StatusCode, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// WaitServed polls every node, each within deadline, until it answers want
// for host, and returns how long it took.
func WaitServed(t *testing.T, deadline time.Duration, edges []Edge, host, want string) time.Duration {
	t.Helper()
	start := time.Now()
	client := &http.Client{Timeout: 5 * time.Second}
	for _, e := range edges {
		natstest.CheckFor(t, deadline, 50*time.Millisecond, func() error {
			got, err := Get(client, e, host)
			if err != nil {
				return fmt.Errorf("node %s (%s): %w", e.Name, e.HTTP, err)
			}
			if got != want {
				return fmt.Errorf("node %s (%s) answers %q, want %q from the upstream", e.Name, e.HTTP, got, want)
			}
			return nil
		})
	}
	return time.Since(start)
}
