package provider

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/strata-edge/strata/e2e/e2etest"
)

// The acceptance tests run terraform against one real `strata dev` (the
// binary built by e2etest), through the in-process provider: Terraform
// reattaches to it, so nothing is downloaded. HTTPS_PROXY points at a
// closed port, so any network access Terraform tried would fail the test.

var (
	api    *client // the test's own API client (edits "outside Terraform")
	apiURL string
	token  string
	skip   string // why the acceptance tests cannot run (outside CI only)
)

var factories = map[string]func() (tfprotov6.ProviderServer, error){
	"strata": providerserver.NewProtocol6WithError(New("test")()),
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	tf, why := terraformBinary()
	if tf == "" {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "terraform provider acceptance tests: "+why+" (CI must provide one: .ci/run installs it)")
			return 1
		}
		skip = why
		return m.Run()
	}
	dir, err := e2etest.Build("tfprovider")
	defer func() { _ = os.RemoveAll(dir) }()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	stop, err := startDev(filepath.Join(dir, "data"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	cliConfig := filepath.Join(dir, "terraformrc")
	if err := os.WriteFile(cliConfig, nil, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for k, v := range map[string]string{
		"TF_ACC": "1", "TF_ACC_TERRAFORM_PATH": tf, "TF_CLI_CONFIG_FILE": cliConfig, "CHECKPOINT_DISABLE": "1",
		"HTTPS_PROXY": "http://127.0.0.1:1", "HTTP_PROXY": "http://127.0.0.1:1", "NO_PROXY": "127.0.0.1",
		"STRATA_API": apiURL, "STRATA_TOKEN": token,
	} {
		_ = os.Setenv(k, v)
	}
	return m.Run()
}

// terraformBinary is TF_ACC_TERRAFORM_PATH or the terraform on the PATH.
func terraformBinary() (string, string) {
	if p := os.Getenv("TF_ACC_TERRAFORM_PATH"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", "TF_ACC_TERRAFORM_PATH: " + err.Error()
		}
		return p, ""
	}
	p, err := exec.LookPath("terraform")
	if err != nil {
		return "", "no terraform binary (set TF_ACC_TERRAFORM_PATH or put terraform on the PATH)"
	}
	return p, ""
}

// startDev runs `strata dev` on dataDir and waits for its API address.
func startDev(dataDir string) (func(), error) {
	cmd := exec.Command(e2etest.Binary, e2etest.DevArgs(dataDir)...)
	cmd.Env = e2etest.CleanEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logPath := dataDir + ".stderr"
	stderr, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); _ = stderr.Close() }
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "api: "); ok {
				found <- v
			}
		}
	}()
	select {
	case apiURL = <-found:
	case <-time.After(60 * time.Second):
		stop()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("strata dev printed no api: line within 60s\n%s", log)
	}
	b, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		stop()
		return nil, err
	}
	token = strings.TrimSpace(string(b))
	api = newClient(apiURL, token)
	return stop, nil
}

// acc skips (outside CI) when no terraform binary is there, and runs the
// test in parallel with the others.
func acc(t *testing.T) context.Context {
	t.Helper()
	if skip != "" {
		t.Skip(skip)
	}
	t.Parallel()
	return context.Background()
}
