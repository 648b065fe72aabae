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

// Start runs kube-apiserver and etcd until the end of the test and returns
// an admin config for them.
func Start(t *testing.T) *rest.Config {
	t.Helper()
	assets := Assets()
	if assets == "" {
		msg := "kube-apiserver and etcd not found: run scripts/k8s-test-bins.sh (builds them once, ~15 min) or set KUBEBUILDER_ASSETS"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{gatewayCRDs(t)},
		ErrorIfCRDPathMissing: true,
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
