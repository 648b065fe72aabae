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
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-edge/strata/e2e/e2etest"

	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv("STRATA_RELIABILITY") != "1" {
		fmt.Println("reliability: skipped; run `go tool task test-reliability` (STRATA_RELIABILITY=1)")
		os.Exit(0)
	}
	e2etest.Main(m, "reliability")
}

// The helpers shared with the e2e suite (e2etest).
type (
	proc = e2etest.Proc
	cli  = e2etest.CLI
)

var (
	startProc = e2etest.Start
	cleanEnv  = e2etest.CleanEnv
	devArgs   = e2etest.DevArgs
)

// dev is a running `strata dev` process: control plane, embedded NATS and a
// built-in node.
type dev struct {
	*proc
	dataDir string
	api     string // http://127.0.0.1:PORT
	leaf    string // the NATS leaf URL nodes dial (banner "leaf")
	token   string // admin token
}

// startDev starts `strata dev` on dataDir and waits for the banner's "api:"
// line and the admin token.
func startDev(t *testing.T, dataDir string, extra ...string) *dev {
	t.Helper()
	p := startProc(t, devArgs(dataDir, extra...)...)
	d := &dev{proc: p, dataDir: dataDir, api: p.Value(t, "api"), leaf: p.Value(t, "leaf")}
	if !strings.HasPrefix(d.api, "http://127.0.0.1:") || strings.HasSuffix(d.api, ":0") {
		t.Fatalf("banner api address %q: want the bound http://127.0.0.1:PORT", d.api)
	}
	d.token = readFile(t, filepath.Join(dataDir, "admin.token"))
	return d
}

// cli returns the CLI as the admin of d.
func (d *dev) cli(t *testing.T) cli {
	return cli{T: t, Env: []string{"STRATA_API=" + d.api, "STRATA_TOKEN=" + d.token}}
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
	return p, edge{name: name, http: p.Value(t, "http")}
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
