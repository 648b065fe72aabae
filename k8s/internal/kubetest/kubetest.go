// Package kubetest starts a real kube-apiserver and etcd for tests
// (controller-runtime's envtest) with the Gateway API CRDs installed. The
// binaries come from scripts/k8s-test-bins.sh (KUBEBUILDER_ASSETS, or that
// script's cache directory): without them a test fails under CI=true and
// skips with a message elsewhere.
package kubetest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Assets is the directory holding kube-apiserver and etcd, or "".
func Assets() string {
	for _, dir := range []string{os.Getenv("KUBEBUILDER_ASSETS"), defaultAssets()} {
		if dir == "" {
			continue
		}
		if isExec(filepath.Join(dir, "kube-apiserver")) && isExec(filepath.Join(dir, "etcd")) {
			return dir
		}
	}
	return ""
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode()&0o111 != 0
}

// defaultAssets asks the build script where it puts the binaries.
func defaultAssets() string {
	root, err := repoRoot()
	if err != nil {
		return ""
	}
	out, err := exec.Command("bash", filepath.Join(root, "scripts", "k8s-test-bins.sh"), "--print").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func repoRoot() (string, error) {
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	return strings.TrimSpace(string(out)), err
}

// gatewayCRDs is the standard-channel CRD directory of the Gateway API
// module this module builds with (in the module cache).
func gatewayCRDs(t *testing.T) string {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("locate sigs.k8s.io/gateway-api: %v\n%s", err, stderr.String())
	}
	return filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard")
}

// require fails (CI=true) or skips the test with msg.
func require(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func requireAssets(t *testing.T) string {
	t.Helper()
	assets := Assets()
	if assets == "" {
		require(t, "kube-apiserver and etcd not found: run scripts/k8s-test-bins.sh (builds them once, ~15 min) or set KUBEBUILDER_ASSETS")
	}
	return assets
}

// BackendIP is the address test backends listen on inside the test's own
// network namespace (see InNetns): the API server refuses loopback
// addresses in EndpointSlices, and a test sends traffic only to addresses
// of its own.
const BackendIP = "198.18.0.10"

const netnsEnv = "STRATA_KUBETEST_NETNS"

// InNetns runs the calling test again in a new network namespace whose
// loopback interface also has BackendIP, and reports whether the caller is
// that run (true: go on with the test) or the outer one (false: return, the
// inner run's result is the test's). Needs root, as the XDP tests do.
func InNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == "1" {
		return true
	}
	requireAssets(t)
	if os.Geteuid() != 0 {
		require(t, "needs root for a network namespace (unshare --net)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		require(t, "needs unshare (util-linux) and ip (iproute2) for a network namespace")
	}
	script := `ip link set lo up && ip addr add ` + BackendIP + `/32 dev lo && exec "$0" "$@"`
	cmd := exec.Command("unshare", "--net", "--", "sh", "-c", script, os.Args[0],
		"-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=9m")
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("the test in its network namespace: %v", err)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("the test in its network namespace did not pass")
	}
	return false
}

// Start runs kube-apiserver and etcd until the end of the test and returns
// an admin config for them.
func Start(t *testing.T) *rest.Config {
	t.Helper()
	assets := requireAssets(t)
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{gatewayCRDs(t)},
		ErrorIfCRDPathMissing: true,
	}
	if os.Getenv(netnsEnv) == "1" {
		// No default route in the namespace: kube-apiserver would find no
		// address to advertise.
		env.ControlPlane.GetAPIServer().Configure().Set("advertise-address", BackendIP)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("envtest stop: %v", err)
		}
	})
	return cfg
}
