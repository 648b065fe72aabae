package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/strata-edge/strata/pkg/natsauth"
)

// Commands for running Strata under an orchestrator (docker compose,
// docs/compose.md): configuring an external NATS hub, and a health probe
// for images without a shell or curl.

func newNATSConfigCmd(g *globals) *cobra.Command {
	var dataDir, authDir, out, creds string
	cmd := &cobra.Command{
		Use:   "nats-config [--data DIR] [--out FILE] [--creds FILE]",
		Short: "Write the nats-server config that makes an external NATS hub trust Strata's operator",
		Long: `Load (or create) the NATS operator and account keys in --nats-auth (default
DIR/nats-auth, the directory "strata control" issues node credentials from),
then write:

  --out    an include file for nats-server (default DIR/hub-auth.conf): the
           operator JWT, the system account and a memory resolver preloaded
           with the account JWTs. Public JWTs only, no seeds. Every server of
           the hub cluster includes the same file.
  --creds  credentials of a control user (default DIR/control.creds, mode
           0600), for "strata control --nats-creds".

A node revoked afterwards is refused by the hub once this runs again and the
servers reload (nats-server --signal reload).`,
		Example: `  strata nats-config --data /var/lib/strata --out /etc/nats/strata/hub-auth.conf
  # nats.conf: include strata/hub-auth.conf`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if authDir == "" {
				authDir = filepath.Join(dataDir, "nats-auth")
			}
			if out == "" {
				out = filepath.Join(dataDir, "hub-auth.conf")
			}
			if creds == "" {
				creds = filepath.Join(dataDir, "control.creds")
			}
			a, err := natsauth.LoadOrCreate(authDir)
			if err != nil {
				return fmt.Errorf("--nats-auth: %w", err)
			}
			// Written whole then renamed: a server reloading never reads half.
			tmp := out + ".tmp"
			if err := os.WriteFile(tmp, []byte(a.ServerConfig()), 0o644); err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			if err := os.Rename(tmp, out); err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			userJWT, seed, err := a.ControlUser()
			if err != nil {
				return err
			}
			if err := natsauth.WriteCredentials(creds, userJWT, seed); err != nil {
				return fmt.Errorf("--creds: %w", err)
			}
			_, err = fmt.Fprintf(g.stdout, "nats-config: %s\ncontrol-creds: %s\n", out, creds)
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&dataDir, "data", DefaultDataDir, "data directory of the control services")
	fs.StringVar(&authDir, "nats-auth", "", "directory of the NATS operator and account keys (default DIR/nats-auth)")
	fs.StringVar(&out, "out", "", "nats-server include file to write (default DIR/hub-auth.conf)")
	fs.StringVar(&creds, "creds", "", "control-user credentials file to write (default DIR/control.creds)")
	return cmd
}

func newHealthcheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "healthcheck URL",
		Short: "Exit 0 when GET URL answers 2xx within --timeout (a container health probe)",
		Example: `  strata healthcheck http://127.0.0.1:7400/metrics   # a control service
  strata healthcheck http://127.0.0.1:9100/healthz   # a node's --metrics-addr`,
		Args: args("URL"),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, a[0], nil)
			if err != nil {
				return usagef("URL: %v", err)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer res.Body.Close()
			_, _ = io.Copy(io.Discard, res.Body)
			if res.StatusCode/100 != 2 {
				return fmt.Errorf("%s: status %s", a[0], res.Status)
			}
			return nil
		},
	}
}

// ParseCommand parses args (without the program name) the way the strata
// command line does, without running anything: it returns the command found,
// its flags set, or the error of an unknown command or flag, a bad flag
// value, a missing required flag or wrong positional arguments. Tests of
// deployment files (infra/) check their commands with it.
func ParseCommand(args []string) (*cobra.Command, error) {
	g := &globals{stdin: os.Stdin, stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	root := newRoot(g, BuildInfo{})
	cmd, rest, err := root.Find(args)
	if err != nil {
		return nil, err
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return nil, err
	}
	if err := cmd.ValidateRequiredFlags(); err != nil {
		return nil, err
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return nil, err
	}
	return cmd, nil
}
