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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-edge/strata/e2e/e2etest"
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
	edge = e2etest.Edge // one node's proxy, as a client reaches it
)

var (
	startProc = e2etest.Start
	cleanEnv  = e2etest.CleanEnv
	devArgs   = e2etest.DevArgs
	startNode = e2etest.StartNode
	get       = e2etest.Get
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

// waitServed polls every node until each answers want for host, within a
// generous deadline (CI runs on two shared cores), and returns how long it
// took.
func waitServed(t *testing.T, edges []edge, host, want string) time.Duration {
	t.Helper()
	return e2etest.WaitServed(t, 90*time.Second, edges, host, want)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
