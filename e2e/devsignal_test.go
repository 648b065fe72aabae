package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-edge/strata/internal/testbuf"
	"github.com/strata-edge/strata/pkg/certtest"
)

// noisy matches a log line at WARN or ERROR (slog text format).
var noisy = regexp.MustCompile(`(?m)^.*level=(WARN|ERROR).*$`)

// waitStderr waits until stderr holds want (a log line of a normal start).
func waitStderr(t *testing.T, p *proc, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(p.Stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in stderr within 60s:\n%s", want, p.Stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopped checks the one line that ends a clean stop.
func stopped(t *testing.T, p *proc) {
	t.Helper()
	out := p.Stdout()
	if n := strings.Count(out, "stopped"); n != 1 || !strings.HasSuffix(out, "Strata dev stopped.") {
		t.Errorf("stdout after the stop: %d \"stopped\" lines, want one at the end:\n%s", n, out)
	}
}

// TestDevQuietStartCleanStop: a normal start of strata dev logs no warning
// or error, also a restart with certificates and released apps (issue 13,
// item 12); SIGINT and SIGTERM end it with exit code 0 and one "stopped"
// line (item 10).
func TestDevQuietStartCleanStop(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	d := startDev(t, dataDir)
	waitStderr(t, d.proc, `msg="in sync"`)
	token, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	c := newCLI(t, "STRATA_API="+d.api, "STRATA_TOKEN="+strings.TrimSpace(string(token)))
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
	c.OK("app", "create", "--name", "shop", "--domain", "shop.example.com", "--https-port", "443")
	c.OK("cert", "upload", "--cert", certFile, "--key", keyFile, "--app", "shop")
	c.OK("release", "create", "--app", "shop")
	if lines := noisy.FindAllString(d.Stderr.String(), -1); len(lines) > 0 {
		t.Errorf("first start logged warnings or errors:\n%s", strings.Join(lines, "\n"))
	}
	d.Interrupt(t, 30*time.Second)
	stopped(t, d.proc)

	// Restarted on the same data: stored snapshot, certificates, a leaf link
	// that takes a moment to carry the hub's JetStream.
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		d := startDev(t, dataDir)
		waitStderr(t, d.proc, `msg="in sync"`)
		time.Sleep(500 * time.Millisecond) // let retry loops report, if they fail
		if lines := noisy.FindAllString(d.Stderr.String(), -1); len(lines) > 0 {
			t.Errorf("restart logged warnings or errors:\n%s", strings.Join(lines, "\n"))
		}
		if err := d.Cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-d.Exited:
			if err != nil {
				t.Fatalf("exit after %v: %v\nstderr:\n%s", sig, err, d.Stderr)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("still running 30s after %v", sig)
		}
		stopped(t, d.proc)
	}
}

// TestTaskDevCtrlC: Ctrl-C (SIGINT to the whole process group, as a
// terminal sends it) on `go tool task dev` ends with exit code 0, not
// `task: Failed to run task "dev": exit status 1`.
func TestTaskDevCtrlC(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command("go", "tool", "task", "dev", "--", "--data", dataDir,
		"--api-addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:-1", "--leaf-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0")
	cmd.Dir = ".." // the repository root, where Taskfile.yml is
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, errb := &testbuf.Buffer{}, &testbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	deadline := time.Now().Add(3 * time.Minute) // includes building bin/strata
	for !strings.Contains(out.String(), "\nnode: ") {
		select {
		case err := <-exited:
			t.Fatalf("task dev ended before its banner: %v\nstdout:\n%s\nstderr:\n%s", err, out, errb)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner:\nstdout:\n%s\nstderr:\n%s", out, errb)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil || strings.Contains(errb.String(), "Failed to run task") {
			t.Fatalf("task dev after Ctrl-C: %v\nstderr:\n%s", err, errb)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("task dev still running 60s after Ctrl-C")
	}
	if n := strings.Count(out.String(), "Strata dev stopped."); n != 1 {
		t.Errorf("%d \"stopped\" lines, want 1:\n%s", n, out)
	}
}
