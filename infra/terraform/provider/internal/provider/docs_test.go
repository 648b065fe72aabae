package provider

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsAreCurrent regenerates the registry docs (docs/, with
// terraform-plugin-docs, from the provider's schema through the terraform
// binary) and requires them to equal the committed ones: a schema change
// without `go generate` in this module fails here.
func TestDocsAreCurrent(t *testing.T) {
	acc(t)
	out := t.TempDir()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(root, out) // tfplugindocs joins it to --provider-dir
	if err != nil {
		t.Fatal(err)
	}
	// Build the tool first, with the module proxy in reach: TestMain points
	// HTTP(S)_PROXY at a closed port to keep terraform off the network, and
	// on a fresh machine the go command must still download the tool.
	bin := filepath.Join(t.TempDir(), "tfplugindocs")
	build := exec.Command("go", "build", "-o", bin, "github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs")
	build.Env = withoutProxy(os.Environ())
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build tfplugindocs: %v\n%s", err, b)
	}
	cmd := exec.Command(bin, "generate", "--provider-name", "strata",
		"--provider-dir", root, "--rendered-website-dir", rel)
	// tfplugindocs finds terraform on the PATH (else it would download one).
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(os.Getenv("TF_ACC_TERRAFORM_PATH"))+string(os.PathListSeparator)+os.Getenv("PATH"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tfplugindocs generate: %v\n%s", err, b)
	}
	want := map[string][]byte{}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(out, p)
		want[rel] = b
		return err
	}))
	if len(want) == 0 {
		t.Fatal("tfplugindocs generated no docs")
	}
	must(filepath.WalkDir("../../docs", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel("../../docs", p)
		if _, ok := want[rel]; !ok && strings.HasSuffix(rel, ".md") {
			t.Errorf("docs/%s: no such resource or data source any more; run go generate in infra/terraform/provider", rel)
		}
		return nil
	}))
	for rel, b := range want {
		got, err := os.ReadFile(filepath.Join("../../docs", rel))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("docs/%s is not what the schema generates (%v); run go generate in infra/terraform/provider", rel, err)
		}
	}
}

// withoutProxy is env without the proxy settings TestMain made.
func withoutProxy(env []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if k != "HTTPS_PROXY" && k != "HTTP_PROXY" && k != "NO_PROXY" {
			out = append(out, kv)
		}
	}
	return out
}
