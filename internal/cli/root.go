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

	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/pkg/apiauth"
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

	stdout, stderr io.Writer
	getenv         func(string) string
	client         configv1connect.ConfigServiceClient
}

// Execute runs the command line with args (without the program name) and
// returns the process exit code.
func Execute(ctx context.Context, info BuildInfo, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	g := &globals{stdout: stdout, stderr: stderr, getenv: getenv}
	root := newRoot(g, info)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		printError(stderr, err, cmd)
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
--token (STRATA_TOKEN) or --token-file; without either they use the token that
"strata dev" writes to ./.data/admin.token when it is readable.`,
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
		newPartitionCmd(g),
		newClusterCmd(g),
		newNodeCmd(g),
		newAppCmd(g),
		newUpstreamCmd(g),
		newRuleCmd(g),
		newReleaseCmd(g),
		newSnapshotCmd(g),
	)
	return root
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// resolveToken picks the token: --token, --token-file, STRATA_TOKEN,
// STRATA_TOKEN_FILE, then ./.data/admin.token of the default dev data dir when
// readable. "" means none (the server will answer Unauthenticated).
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
	if t, err := readToken(filepath.Join(DefaultDataDir, apiauth.BootstrapTokenFile), ""); err == nil {
		return t, nil
	}
	return "", nil
}

func readToken(path, source string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: read token: %w", source, err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("%s: token file %s is empty", source, path)
	}
	return t, nil
}

// configClient returns the ConfigService client, built on first use.
func (g *globals) configClient() (configv1connect.ConfigServiceClient, error) {
	if g.client != nil {
		return g.client, nil
	}
	if !strings.HasPrefix(g.api, "http://") && !strings.HasPrefix(g.api, "https://") {
		return nil, fmt.Errorf("--api: %q is not a URL; want http://host:port or https://host:port", g.api)
	}
	token, err := g.resolveToken()
	if err != nil {
		return nil, err
	}
	var opts []connect.ClientOption
	if token != "" {
		opts = append(opts, connect.WithInterceptors(apiauth.BearerToken(token)))
	}
	httpClient := &http.Client{Timeout: g.timeout + 5*time.Second}
	g.client = configv1connect.NewConfigServiceClient(httpClient, strings.TrimRight(g.api, "/"), opts...)
	return g.client, nil
}

// call runs fn with the config client and a context bounded by --timeout.
func call[T any](cmd *cobra.Command, g *globals, fn func(context.Context, configv1connect.ConfigServiceClient) (T, error)) (T, error) {
	var zero T
	c, err := g.configClient()
	if err != nil {
		return zero, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
	defer cancel()
	return fn(ctx, c)
}

// usageError marks errors in how the command was called (shown with a hint to
// --help).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error {
	return usageError{fmt.Errorf(format, a...)}
}

// args requires exactly the named positional arguments, e.g. args("APP_ID").
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
