package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// k8sControllerBinary is the Kubernetes controller's own binary (module
// k8s/): its Kubernetes dependencies stay out of this one, which runs it.
const k8sControllerBinary = "strata-k8s-controller"

func newK8sControllerCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "k8s-controller --kubeconfig FILE --api URL --token-file FILE [--cluster NAME] [--partition P]",
		Short: "Run the Kubernetes Gateway API and Ingress controller (runs strata-k8s-controller)",
		Long: `Run the Kubernetes controller: it watches GatewayClass, Gateway, HTTPRoute,
ReferenceGrant and Ingress objects and releases them as Strata apps through the
API, with actor k8s-controller (docs/kubernetes.md). Its flags are those of
strata-k8s-controller, found next to this binary or in PATH; build it with
  go build -o bin/ ./k8s/cmd/strata-k8s-controller`,
		Example: `  strata user create k8s-controller --service-account
  strata grant create --user k8s-controller --role admin --all
  strata token create --user k8s-controller > k8s.token
  strata k8s-controller --kubeconfig ~/.kube/config --api http://127.0.0.1:7400 --token-file k8s.token --cluster east`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			bin, err := findK8sController()
			if err != nil {
				return err
			}
			c := exec.CommandContext(cmd.Context(), bin, args...)
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, g.stdout, g.stderr
			c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
			c.WaitDelay = 30 * time.Second
			err = c.Run()
			var exit *exec.ExitError
			if errors.As(err, &exit) && cmd.Context().Err() == nil {
				return fmt.Errorf("%s exited with code %d", k8sControllerBinary, exit.ExitCode())
			}
			if cmd.Context().Err() != nil {
				return nil // stopped by a signal
			}
			return err
		},
	}
}

func findK8sController() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), k8sControllerBinary)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(k8sControllerBinary); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found next to this binary or in PATH: build it with `go build -o bin/ ./k8s/cmd/strata-k8s-controller`", k8sControllerBinary)
}
