// Package reliability is the standing reliability suite of issue 11: the
// strata binary and the real services under faults (kill -9, network faults,
// disk full, clock skew), a fuzzer of event sequences and the table of bad
// inputs. It runs with `go tool task test-reliability` (STRATA_RELIABILITY=1);
// `go test ./...` skips it, so CI does not run it twice. docs/reliability.md
// says what each test does and what held.
//
// This file is the one shared helper for starting the stack: the binary built
// once, `strata dev` and `strata node` processes, the CLI, and waits.
package reliability

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// binary is the strata binary built once by TestMain.
var binary string

// configDir is STRATA_CONFIG_DIR of every process: an empty directory, so
// that no `strata login` session of the person running the tests is used.
var configDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv("STRATA_RELIABILITY") != "1" {
		fmt.Println("reliability: skipped; run `go tool task test-reliability` (STRATA_RELIABILITY=1)")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "strata-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "strata")
	configDir = filepath.Join(dir, "config")
	build := exec.Command("go", "build", "-o", binary, "github.com/strata-edge/strata/cmd/strata")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "reliability: build strata:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running strata process whose stdout banner ("key: value" lines)
// is collected.
type proc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	exited chan error

	mu     sync.Mutex
	banner map[string]string
	lines  []string
	seen   chan struct{} // closed and replaced on every stdout line
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

// startProc runs the strata binary with args and collects its banner. The
// process is killed at the end of the test if it still runs.
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

// kill sends SIGKILL (no shutdown code runs) and waits for the exit.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("strata %v still running 30s after SIGKILL", p.cmd.Args[1:])
	}
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

// dev is a running `strata dev` process: control plane, embedded NATS and a
// built-in node.
type dev struct {
	*proc
	dataDir string
	api     string // http://127.0.0.1:PORT
	leaf    string // the NATS leaf URL nodes dial (banner "leaf")
	token   string // admin token
}

// devArgs are the flags of `strata dev` on dataDir; extra flags (for example
// a fixed --leaf-addr so nodes reconnect after a restart) come last and win.
func devArgs(dataDir string, extra ...string) []string {
	args := []string{"dev", "--data", dataDir,
		"--api-addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:-1", "--leaf-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0"}
	return append(args, extra...)
}

// startDev starts `strata dev` on dataDir and waits for the banner's "api:"
// line and the admin token.
func startDev(t *testing.T, dataDir string, extra ...string) *dev {
	t.Helper()
	p := startProc(t, devArgs(dataDir, extra...)...)
	d := &dev{proc: p, dataDir: dataDir, api: p.value(t, "api"), leaf: p.value(t, "leaf")}
	if !strings.HasPrefix(d.api, "http://127.0.0.1:") || strings.HasSuffix(d.api, ":0") {
		t.Fatalf("banner api address %q: want the bound http://127.0.0.1:PORT", d.api)
	}
	d.token = readFile(t, filepath.Join(dataDir, "admin.token"))
	return d
}

// cli returns the CLI as the admin of d.
func (d *dev) cli(t *testing.T) cli {
	return cli{t: t, env: []string{"STRATA_API=" + d.api, "STRATA_TOKEN=" + d.token}}
}

// edge is one node's proxy, as a client reaches it.
type edge struct {
	name string
	http string // http://HOST:PORT
}

// startNode runs `strata node` joined to api with a join token and waits for
// its http line. extra flags come last.
func startNode(t *testing.T, api, joinToken, name, dataDir string, extra ...string) (*proc, edge) {
	t.Helper()
	args := append([]string{"node", "--api", api, "--join-token", joinToken, "--name", name, "--data", dataDir,
		"--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0"}, extra...)
	p := startProc(t, args...)
	return p, edge{name: name, http: p.value(t, "http")}
}

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

// get requests / with the Host header through one node and returns the body
// of a 200 answer.
func get(client *http.Client, e edge, host string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, e.http+"/", nil)
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

// waitServed polls every node until each answers want for host, within a
// generous deadline (CI runs on two shared cores), and returns how long it
// took.
func waitServed(t *testing.T, edges []edge, host, want string) time.Duration {
	t.Helper()
	start := time.Now()
	client := &http.Client{Timeout: 5 * time.Second}
	for _, e := range edges {
		natstest.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error {
			got, err := get(client, e, host)
			if err != nil {
				return fmt.Errorf("node %s (%s): %w", e.name, e.http, err)
			}
			if got != want {
				return fmt.Errorf("node %s (%s) answers %q, want %q", e.name, e.http, got, want)
			}
			return nil
		})
	}
	return time.Since(start)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
