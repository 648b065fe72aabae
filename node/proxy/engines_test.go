package proxy_test

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestSuiteOnEvloop runs this package's tests again with the plain
// listener on the event-loop engine (STRATA_TEST_HTTP_ENGINE=evloop), so
// every plain-listener test covers both engines.
func TestSuiteOnEvloop(t *testing.T) {
	if os.Getenv("STRATA_TEST_HTTP_ENGINE") != "" || testing.Short() || runtime.GOOS != "linux" {
		t.Skip("already on a chosen engine, -short, or not Linux")
	}
	cmd := exec.Command(os.Args[0], "-test.count=1", "-test.timeout=150s", "-test.skip=^TestSuiteOnEvloop$|Fuzz")
	cmd.Env = append(os.Environ(), "STRATA_TEST_HTTP_ENGINE=evloop")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.Split(string(out), "\n")
		var fails []string
		for _, l := range lines {
			if strings.Contains(l, "--- FAIL") || strings.Contains(l, ".go:") || strings.HasPrefix(l, "panic") {
				fails = append(fails, l)
			}
		}
		t.Fatalf("suite on evloop failed after %v: %v\n%s", time.Since(start), err, strings.Join(fails, "\n"))
	}
}
