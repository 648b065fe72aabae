// Command strata-k8s-controller is the Strata Kubernetes controller, also run
// as `strata k8s-controller`: it watches Gateway API objects and Ingresses
// and releases them as Strata apps through the API (docs/kubernetes.md).
//
//	strata-k8s-controller --kubeconfig ~/.kube/config --api https://strata.example:7400 \
//	  --token-file /var/run/strata/token --cluster east --partition default
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"connectrpc.com/connect"
	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/k8s/apply"
	"github.com/strata-edge/strata/k8s/controller"
	"github.com/strata-edge/strata/pkg/apiauth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) int {
	fs := pflag.NewFlagSet("strata k8s-controller", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		kubeconfig = fs.String("kubeconfig", getenv("KUBECONFIG"), "kubeconfig file (default: $KUBECONFIG, else the in-cluster service account)")
		api        = fs.String("api", getenv("STRATA_API"), "Strata API URL (default: $STRATA_API)")
		token      = fs.String("token", "", "Strata API token (default: $STRATA_TOKEN); prefer --token-file")
		tokenFile  = fs.String("token-file", "", "file holding the Strata API token (e.g. a mounted Secret)")
		opts       controller.Options
		ports      []uint
		tlsPorts   []uint
	)
	fs.StringVar(&opts.Cluster, "cluster", "default", "this Kubernetes cluster's name: apps are named and labelled with it, so several clusters can feed one control plane")
	fs.StringArrayVar(&opts.Partitions, "partition", nil, "Strata partition (name or id) this cluster's apps go to (repeatable; default: default)")
	fs.StringVar(&opts.ControllerName, "controller-name", controller.DefaultControllerName, "GatewayClass spec.controllerName to handle")
	fs.StringVar(&opts.IngressClass, "ingress-class", "strata", "IngressClass name to handle")
	fs.BoolVar(&opts.DefaultIngressClass, "default-ingress-class", false, "also handle Ingresses that name no class")
	fs.UintSliceVar(&ports, "ingress-http-port", []uint{80}, "HTTP ports of Ingress apps")
	fs.UintSliceVar(&tlsPorts, "ingress-https-port", []uint{443}, "HTTPS ports of Ingress apps with TLS")
	fs.StringArrayVar(&opts.Addresses, "address", nil, "address of the Strata nodes, written to Gateway and Ingress status (repeatable)")
	fs.StringVar(&opts.MetricsAddr, "metrics-addr", "0", `address of /metrics ("0": off)`)
	fs.StringVar(&opts.HealthAddr, "health-addr", "0", `address of /healthz and /readyz ("0": off)`)
	fs.BoolVar(&opts.LeaderElection, "leader-elect", false, "elect one active replica (run several for failover)")
	fs.StringVar(&opts.LeaderElectionNamespace, "leader-elect-namespace", "", "namespace of the leader election Lease (default: the pod's)")
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return 0
		}
		return 2
	}
	for _, p := range ports {
		opts.HTTPPorts = append(opts.HTTPPorts, uint32(p))
	}
	for _, p := range tlsPorts {
		opts.HTTPSPorts = append(opts.HTTPSPorts, uint32(p))
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "strata k8s-controller: "+format+"\n", a...)
		return 1
	}
	secret := *token
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fail("--token-file: %v", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	if secret == "" {
		secret = getenv("STRATA_TOKEN")
	}
	if *api == "" || secret == "" {
		return fail("--api and a token (--token, --token-file or STRATA_TOKEN) are required: create one with `strata token create --user k8s-controller`")
	}
	cfg, err := ctrl.GetConfig()
	if *kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", *kubeconfig)
	}
	if err != nil {
		return fail("kubeconfig: %v", err)
	}
	base := strings.TrimRight(*api, "/")
	auth := connect.WithInterceptors(apiauth.BearerToken(secret))
	applier := &apply.Applier{
		Config: configv1connect.NewConfigServiceClient(http.DefaultClient, base, auth),
		Cert:   certv1connect.NewCertServiceClient(http.DefaultClient, base, auth),
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	c, err := controller.New(cfg, applier, opts)
	if err != nil {
		return fail("%v", err)
	}
	if err := c.Start(ctx); err != nil {
		return fail("%v", err)
	}
	return 0
}
