package crsftw

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-edge/strata/pkg/wafengine/operators"
)

// BaselineEnv names the file a baseline run (Coraza with its own
// operators, in a child process) writes its answers to.
const BaselineEnv = "CRSFTW_BASELINE_OUT"

// BaselineOut is, in the child process of StartBaseline, the file to write
// the baseline to with WriteBaseline ("": this is not the child).
func BaselineOut() string { return os.Getenv(BaselineEnv) }

// WriteBaseline writes v as JSON to out, in the child process.
func WriteBaseline(t testing.TB, out string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err == nil {
		err = os.WriteFile(out, b, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// Baseline is a child process running test again with Coraza's own
// operators (operators.Env=coraza: a process registers one set), whose
// answers the parent compares with Strata's.
type Baseline struct {
	cmd  *exec.Cmd
	out  strings.Builder
	path string
}

// StartBaseline starts test (the name of the calling test) in a child
// process with Coraza's operators and the given -test.timeout.
func StartBaseline(ctx context.Context, t testing.TB, test, timeout string) *Baseline {
	t.Helper()
	b := &Baseline{path: filepath.Join(t.TempDir(), "baseline.json")}
	b.cmd = exec.CommandContext(ctx, os.Args[0], "-test.run=^"+test+"$", "-test.timeout="+timeout)
	b.cmd.Env = append(os.Environ(), operators.Env+"=coraza", BaselineEnv+"="+b.path)
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.out
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return b
}

// Wait waits for the child and decodes what it wrote into v.
func (b *Baseline) Wait(t testing.TB, v any) {
	t.Helper()
	if err := b.cmd.Wait(); err != nil {
		t.Fatalf("baseline run (Coraza alone): %v\n%s", err, b.out.String())
	}
	data, err := os.ReadFile(b.path)
	if err == nil {
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		t.Fatal(err)
	}
}
