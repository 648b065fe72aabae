// Package cli is the strata command line: the API client verbs (app, upstream,
// rule, release, ...) and the commands that run Strata (dev, control).
// cmd/strata only calls Execute.
package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/gen/strata/ddos/v1/ddosv1connect"
	"github.com/strata-edge/strata/gen/strata/dns/v1/dnsv1connect"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	"github.com/strata-edge/strata/gen/strata/metrics/v1/metricsv1connect"
	"github.com/strata-edge/strata/gen/strata/purge/v1/purgev1connect"
	"github.com/strata-edge/strata/gen/strata/waf/v1/wafv1connect"
	"github.com/strata-edge/strata/internal/cli/certcmd"
	"github.com/strata-edge/strata/internal/cli/clientx"
	"github.com/strata-edge/strata/internal/cli/ddoscmd"
	"github.com/strata-edge/strata/internal/cli/dnscmd"
	"github.com/strata-edge/strata/internal/cli/iamcmd"
	"github.com/strata-edge/strata/internal/cli/metricscmd"
	"github.com/strata-edge/strata/internal/cli/purgecmd"
	"github.com/strata-edge/strata/internal/cli/wafcmd"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/secretfile"
)

// Defaults of the global flags.
const (
	DefaultAPI     = "http://127.0.0.1:7400"
	DefaultDataDir = ".data"
)

// BuildInfo describes the binary, for `strata version`.
type BuildInfo struct {
	Version string
	Commit  string
}

// globals are the flags every command has.
type globals struct {
	api       string
	token     string
	tokenFile string
	output    string
	timeout   time.Duration

	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// API clients, built on first use (cached).
	client configv1connect.ConfigServiceClient
	nodes  configv1connect.NodeServiceClient
	iam    iamv1connect.IAMServiceClient
	dns    dnsv1connect.DnsServiceClient
	purge  purgev1connect.PurgeServiceClient
	ddos   ddosv1connect.DdosServiceClient
	cert   certv1connect.CertServiceClient

	metrics, metricsStream metricsv1connect.MetricsServiceClient
	waf, wafStream         wafv1connect.WafServiceClient
}

// Execute runs the command line with args (without the program name) and
// returns the process exit code.
func Execute(ctx context.Context, info BuildInfo, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	g := &globals{stdin: os.Stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := newRoot(g, info)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		printError(stderr, err, cmd, g.api)
		return 1
	}
	return 0
}

func newRoot(g *globals, info BuildInfo) *cobra.Command {
	root := &cobra.Command{
		Use:   "strata",
		Short: "Strata: self-hosted edge platform (control plane, edge nodes and this CLI)",
		Long: `Strata manages edge nodes that proxy, cache and protect HTTP traffic.

Run everything on one machine with "strata dev", then manage it with the other
commands. They talk to the API named by --api (STRATA_API) and authenticate with
--token (STRATA_TOKEN) or --token-file; without either they use the session of
"strata login", else the token that "strata dev" writes to ./.data/admin.token
when it is readable.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.output != "text" && g.output != "json" {
				return fmt.Errorf("--output: %q is not a format; use text or json", g.output)
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.api, "api", envOr(g.getenv, "STRATA_API", DefaultAPI), "API base URL (env STRATA_API)")
	pf.StringVar(&g.token, "token", "", "API token (env STRATA_TOKEN)")
	pf.StringVar(&g.tokenFile, "token-file", "", "file holding the API token (env STRATA_TOKEN_FILE)")
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	pf.DurationVar(&g.timeout, "timeout", 30*time.Second, "deadline of each API call")

	root.AddCommand(
		newVersionCmd(g, info),
		newDevCmd(g),
		newControlCmd(g),
		newNATSConfigCmd(g),
		newK8sControllerCmd(g),
		newHealthcheckCmd(g),
		newPartitionCmd(g),
		newClusterCmd(g),
		newNodeCmd(g),
		newAppCmd(g),
		newUpstreamCmd(g),
		newRuleCmd(g),
		newReleaseCmd(g),
		newSnapshotCmd(g),
	)
	root.AddCommand(iamcmd.Commands(g)...)
	root.AddCommand(dnscmd.Commands(g)...)
	root.AddCommand(purgecmd.Commands(g)...)
	root.AddCommand(ddoscmd.Commands(g)...)
	root.AddCommand(certcmd.Commands(g)...)
	root.AddCommand(metricscmd.Commands(g)...)
	root.AddCommand(wafcmd.Commands(g)...)
	return root
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// resolveToken picks the token: --token, --token-file, STRATA_TOKEN,
// STRATA_TOKEN_FILE, the session saved by `strata login`, then
// ./.data/admin.token of the default dev data dir when readable. "" means
// none (the server will answer Unauthenticated).
func (g *globals) resolveToken() (string, error) {
	if g.token != "" {
		return g.token, nil
	}
	if g.tokenFile != "" {
		return readToken(g.tokenFile, "--token-file")
	}
	if t := g.getenv("STRATA_TOKEN"); t != "" {
		return strings.TrimSpace(t), nil
	}
	if f := g.getenv("STRATA_TOKEN_FILE"); f != "" {
		return readToken(f, "STRATA_TOKEN_FILE")
	}
	if path, err := iamcmd.DefaultSessionFile(g.getenv); err == nil {
		if t, err := iamcmd.ReadSessionFile(path); err == nil && t != "" {
			return t, nil
		}
	}
	if t, err := readToken(filepath.Join(DefaultDataDir, apiauth.BootstrapTokenFile), ""); err == nil {
		return t, nil
	}
	return "", nil
}

func readToken(path, source string) (string, error) {
	b, err := secretfile.Read(path)
	if err != nil {
		return "", fmt.Errorf("%s: read token: %w", source, err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("%s: token file %s is empty", source, path)
	}
	return t, nil
}

// clientParts are what every API client is built from: the HTTP client,
// the base URL and the token interceptor.
func (g *globals) clientParts() (*http.Client, string, []connect.ClientOption, error) {
	if !strings.HasPrefix(g.api, "http://") && !strings.HasPrefix(g.api, "https://") {
		return nil, "", nil, fmt.Errorf("--api: %q is not a URL; want http://host:port or https://host:port", g.api)
	}
	token, err := g.resolveToken()
	if err != nil {
		return nil, "", nil, err
	}
	var opts []connect.ClientOption
	if token != "" {
		opts = append(opts, connect.WithInterceptors(apiauth.BearerToken(token)))
	}
	return &http.Client{Timeout: g.timeout + 5*time.Second}, strings.TrimRight(g.api, "/"), opts, nil
}

// cached returns *slot, building it from clientParts on first use.
func cached[C comparable](g *globals, slot *C, newClient func(connect.HTTPClient, string, ...connect.ClientOption) C) (C, error) {
	var zero C
	if *slot == zero {
		hc, url, opts, err := g.clientParts()
		if err != nil {
			return zero, err
		}
		*slot = newClient(hc, url, opts...)
	}
	return *slot, nil
}

func (g *globals) configClient() (configv1connect.ConfigServiceClient, error) {
	return cached(g, &g.client, configv1connect.NewConfigServiceClient)
}

func (g *globals) nodesClient() (configv1connect.NodeServiceClient, error) {
	return cached(g, &g.nodes, configv1connect.NewNodeServiceClient)
}

// The methods below give the command packages (iamcmd, dnscmd, purgecmd,
// certcmd) their clients and the settings of the global flags.

func (g *globals) IAMClient() (iamv1connect.IAMServiceClient, error) {
	return cached(g, &g.iam, iamv1connect.NewIAMServiceClient)
}

func (g *globals) DNSClient() (dnsv1connect.DnsServiceClient, error) {
	return cached(g, &g.dns, dnsv1connect.NewDnsServiceClient)
}

func (g *globals) PurgeClient() (purgev1connect.PurgeServiceClient, error) {
	return cached(g, &g.purge, purgev1connect.NewPurgeServiceClient)
}

func (g *globals) DdosClient() (ddosv1connect.DdosServiceClient, error) {
	return cached(g, &g.ddos, ddosv1connect.NewDdosServiceClient)
}

func (g *globals) CertClient() (certv1connect.CertServiceClient, error) {
	return cached(g, &g.cert, certv1connect.NewCertServiceClient)
}

func (g *globals) MetricsClient() (metricsv1connect.MetricsServiceClient, error) {
	return cached(g, &g.metrics, metricsv1connect.NewMetricsServiceClient)
}

// MetricsStreamClient's HTTP client has no overall timeout, which would cut
// a stream that runs until Ctrl-C (metrics tail).
func (g *globals) MetricsStreamClient() (metricsv1connect.MetricsServiceClient, error) {
	if g.metricsStream == nil {
		_, url, opts, err := g.clientParts()
		if err != nil {
			return nil, err
		}
		g.metricsStream = metricsv1connect.NewMetricsServiceClient(&http.Client{}, url, opts...)
	}
	return g.metricsStream, nil
}

func (g *globals) WafClient() (wafv1connect.WafServiceClient, error) {
	return cached(g, &g.waf, wafv1connect.NewWafServiceClient)
}

// WafStreamClient has no overall timeout, like MetricsStreamClient (waf hits --follow).
func (g *globals) WafStreamClient() (wafv1connect.WafServiceClient, error) {
	if g.wafStream == nil {
		_, url, opts, err := g.clientParts()
		if err != nil {
			return nil, err
		}
		g.wafStream = wafv1connect.NewWafServiceClient(&http.Client{}, url, opts...)
	}
	return g.wafStream, nil
}

// AppClient is the config client, for the waf commands that update apps.
func (g *globals) AppClient() (configv1connect.ConfigServiceClient, error) { return g.configClient() }

func (g *globals) SessionFile() (string, error) { return iamcmd.DefaultSessionFile(g.getenv) }
func (g *globals) Timeout() time.Duration       { return g.timeout }
func (g *globals) JSON() bool                   { return g.output == "json" }
func (g *globals) Stdin() io.Reader             { return g.stdin }
func (g *globals) Stdout() io.Writer            { return g.stdout }
func (g *globals) Stderr() io.Writer            { return g.stderr }

var (
	_ iamcmd.ClientFactory     = (*globals)(nil)
	_ dnscmd.ClientFactory     = (*globals)(nil)
	_ purgecmd.ClientFactory   = (*globals)(nil)
	_ ddoscmd.ClientFactory    = (*globals)(nil)
	_ certcmd.ClientFactory    = (*globals)(nil)
	_ metricscmd.ClientFactory = (*globals)(nil)
	_ wafcmd.ClientFactory     = (*globals)(nil)
)

// call runs fn with the config client and a context bounded by --timeout.
func call[T any](cmd *cobra.Command, g *globals, fn func(context.Context, configv1connect.ConfigServiceClient) (T, error)) (T, error) {
	return clientx.Call(cmd.Context(), g, g.configClient, fn)
}

// show and showNodes make one call and print its answer (text for people,
// or -o json).
func show[T proto.Message](cmd *cobra.Command, g *globals, fn func(context.Context, configv1connect.ConfigServiceClient) (T, error), text func(io.Writer, T) error) error {
	return clientx.Show(cmd.Context(), g, g.configClient, fn, text)
}

func showNodes[T proto.Message](cmd *cobra.Command, g *globals, fn func(context.Context, configv1connect.NodeServiceClient) (T, error), text func(io.Writer, T) error) error {
	return clientx.Show(cmd.Context(), g, g.nodesClient, fn, text)
}

// usageError marks errors in how the command was called (shown with a hint to
// --help).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error {
	return usageError{fmt.Errorf(format, a...)}
}

// args requires exactly the named positional arguments, e.g. args("APP").
func args(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, got []string) error {
		if len(got) == len(names) {
			return nil
		}
		if len(got) < len(names) {
			return usagef("missing argument %s", strings.Join(names[len(got):], " "))
		}
		return usagef("unexpected argument %q (want %s)", got[len(names)], strings.Join(names, " "))
	}
}
