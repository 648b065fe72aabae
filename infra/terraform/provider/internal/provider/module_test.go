package provider

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/strata-edge/strata/e2e/e2etest"
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

const modulesDir = "../../../modules"

// TestNodeClusterModule installs the strata provider from a local
// filesystem mirror (built here: nothing is downloaded), then on a copy of
// modules/node-cluster runs `terraform init -backend=false` and `terraform
// validate`, and, as a user would, applies a root module using it for a
// cluster of two nodes and starts each node as its unit would (`strata node
// --config FILE` with the config the module made, only --data added as two
// nodes share this machine): both join and are approved; then a plan shows
// no changes and destroy removes the cluster. The cloud examples need the
// aws, google and azurerm plugins, which cannot be had offline: of them only
// `terraform fmt -check` runs (they parse).
func TestNodeClusterModule(t *testing.T) {
	acc(t)
	dir := t.TempDir()
	plugin := filepath.Join(dir, "mirror/registry.terraform.io/strata-edge/strata/0.0.1", runtime.GOOS+"_"+runtime.GOARCH)
	if out, err := exec.Command("go", "build", "-o", filepath.Join(plugin, "terraform-provider-strata_v0.0.1"), "../..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	rc := filepath.Join(dir, "terraformrc")
	mirror := fmt.Sprintf("provider_installation {\n  filesystem_mirror {\n    path    = %q\n    include = [\"strata-edge/strata\"]\n  }\n}\n", filepath.Join(dir, "mirror"))
	if err := os.WriteFile(rc, []byte(mirror), 0o600); err != nil {
		t.Fatal(err)
	}
	tf := func(wd string, args ...string) string {
		t.Helper()
		cmd := exec.Command(os.Getenv("TF_ACC_TERRAFORM_PATH"), args...)
		cmd.Dir, cmd.Env = wd, append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "TF_IN_AUTOMATION=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	root := filepath.Join(dir, "root")
	module := filepath.Join(root, "modules/node-cluster")
	if err := os.CopyFS(module, os.DirFS(filepath.Join(modulesDir, "node-cluster"))); err != nil {
		t.Fatal(err)
	}

	tf(module, "init", "-backend=false", "-input=false", "-no-color")
	var v struct {
		Valid       bool `json:"valid"`
		Diagnostics []struct {
			Summary string `json:"summary"`
		} `json:"diagnostics"`
	}
	if err := json.Unmarshal([]byte(tf(module, "validate", "-json", "-no-color")), &v); err != nil || !v.Valid || len(v.Diagnostics) > 0 {
		t.Fatalf("terraform validate: valid %v, diagnostics %v (%v)", v.Valid, v.Diagnostics, err)
	}
	examples, err := filepath.Abs(modulesDir)
	if err != nil {
		t.Fatal(err)
	}
	tf(examples, "fmt", "-check", "-recursive", "-no-color")

	unit, err := os.ReadFile("../../../../systemd/strata-node.service")
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
terraform {
  required_providers {
    strata = { source = "strata-edge/strata" }
  }
}
resource "strata_partition" "p" { name = "tf-mod-part" }
module "fra" {
  source       = "./modules/node-cluster"
  name         = "tf-mod"
  partition_id = strata_partition.p.id
  node_count   = 2
  api_url      = %q
  node_flags   = { "http-addr" = "127.0.0.1:0", "https-addr" = "127.0.0.1:0" }
}
output "nodes" {
  value     = module.fra.nodes
  sensitive = true
}
output "unit" { value = module.fra.systemd_unit }
`, apiURL)
	if err := os.WriteFile(filepath.Join(root, "main.tf"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tf(root, "init", "-input=false", "-no-color")
	tf(root, "apply", "-auto-approve", "-input=false", "-no-color")
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			removeNodes(t)
			tf(root, "destroy", "-auto-approve", "-input=false", "-no-color")
		}
	})
	var outputs struct {
		Unit  struct{ Value string }
		Nodes struct {
			Value []struct {
				Name, Config string
				CloudInit    string `json:"cloud_init"`
			}
		}
	}
	if err := json.Unmarshal([]byte(tf(root, "output", "-json")), &outputs); err != nil {
		t.Fatal(err)
	}
	if outputs.Unit.Value != string(unit) {
		t.Fatalf("module's unit differs from infra/systemd/strata-node.service:\n%s", outputs.Unit.Value)
	}
	if len(outputs.Nodes.Value) != 2 {
		t.Fatalf("nodes output %v, want 2 nodes", outputs.Nodes.Value)
	}
	for i, node := range outputs.Nodes.Value {
		var doc struct {
			WriteFiles []struct{ Path, Content string } `yaml:"write_files"`
		}
		ci := node.CloudInit
		if err := yaml.Unmarshal([]byte(ci), &doc); err != nil || !strings.HasPrefix(ci, "#cloud-config\n") || len(doc.WriteFiles) != 2 ||
			doc.WriteFiles[0].Path != "/etc/strata/node.conf" || doc.WriteFiles[0].Content != node.Config || doc.WriteFiles[1].Content != string(unit) {
			t.Fatalf("cloud_init of node %d does not write the config and the unit (%v):\n%s", i, err, ci)
		}
		conf := filepath.Join(t.TempDir(), "node.conf")
		if err := os.WriteFile(conf, []byte(node.Config), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(e2etest.Binary, "node", "--config", conf, "--data", t.TempDir())
		cmd.Env = e2etest.CleanEnv()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	var last error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if last = bothApproved(); last == nil {
			break
		}
	}
	if last != nil {
		t.Fatal(last)
	}
	// No perpetual diff: a second plan has nothing to do (exit code 0).
	tf(root, "plan", "-detailed-exitcode", "-input=false", "-no-color")
	removeNodes(t)
	tf(root, "destroy", "-auto-approve", "-input=false", "-no-color")
	destroyed = true
	if c, _ := findCluster("tf-mod"); c != nil {
		t.Fatal("cluster tf-mod still there after destroy")
	}
}

// removeNodes removes the nodes of tf-mod (not Terraform's) so that the
// cluster can be destroyed.
func removeNodes(t *testing.T) {
	res, err := api.config.ListNodes(bg, &configv1.ListNodesRequest{Cluster: "tf-mod"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range res.GetNodes() {
		if _, err := api.config.RemoveNode(bg, &configv1.RemoveNodeRequest{NodeId: n.GetNode().GetId()}); err != nil {
			t.Fatal(err)
		}
	}
}

func bothApproved() error {
	res, err := api.config.ListNodes(bg, &configv1.ListNodesRequest{Cluster: "tf-mod"})
	if err != nil {
		return err
	}
	var names []string
	for _, n := range res.GetNodes() {
		if n.GetNode().GetApproved() {
			names = append(names, n.GetNode().GetName())
		}
	}
	if strings.Join(names, ",") != "tf-mod-1,tf-mod-2" {
		return fmt.Errorf("approved nodes of tf-mod: %v, want tf-mod-1 and tf-mod-2", names)
	}
	return nil
}
