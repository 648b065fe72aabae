// Package iamcmd is the command line of identity and access management:
// strata user, group, role, grant, token, login, logout, whoami and audit.
// The root command adds Commands(factory) to itself; the factory supplies the
// API client and the output settings of the global flags.
package iamcmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
	"github.com/strata-edge/strata/pkg/secretfile"
)

// ClientFactory is what the root command provides.
type ClientFactory interface {
	clientx.Env
	// IAMClient returns an IAMService client for --api, authenticated like
	// every other command (--token, STRATA_TOKEN, the saved session...).
	IAMClient() (iamv1connect.IAMServiceClient, error)
	// SessionFile is where `strata login` keeps the session secret (mode
	// 0600) and `strata logout` removes it; the root command should use it
	// as the token when none is given (see ReadSessionFile).
	SessionFile() (string, error)
}

// Commands returns the top-level IAM commands.
func Commands(f ClientFactory) []*cobra.Command {
	return []*cobra.Command{
		userCmd(f), groupCmd(f), roleCmd(f), grantCmd(f), tokenCmd(f),
		loginCmd(f), logoutCmd(f), whoamiCmd(f), auditCmd(f),
	}
}

// DefaultSessionFile is $STRATA_CONFIG_DIR/session.token, or
// <user config dir>/strata/session.token.
func DefaultSessionFile(getenv func(string) string) (string, error) {
	if d := getenv("STRATA_CONFIG_DIR"); d != "" {
		return filepath.Join(d, "session.token"), nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("locate the session file (set STRATA_CONFIG_DIR): %w", err)
	}
	return filepath.Join(d, "strata", "session.token"), nil
}

// ReadSessionFile returns the saved session secret, or "" when there is none.
func ReadSessionFile(path string) (string, error) {
	b, err := secretfile.Read(path)
	if os.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read session file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// call runs fn with the IAM client and a context bounded by the timeout.
func call[T any](cmd *cobra.Command, f ClientFactory, fn func(context.Context, iamv1connect.IAMServiceClient) (T, error)) (T, error) {
	return clientx.Call(cmd.Context(), f, f.IAMClient, fn)
}

// show makes one call and prints its answer (text for people, or -o json).
func show[T proto.Message](cmd *cobra.Command, f ClientFactory, fn func(context.Context, iamv1connect.IAMServiceClient) (T, error), text func(io.Writer, T) error) error {
	return clientx.Show(cmd.Context(), f, f.IAMClient, fn, text)
}

// exactArgs requires exactly the named positional arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, got []string) error {
		if len(got) == len(names) {
			return nil
		}
		if len(got) < len(names) {
			return fmt.Errorf("missing argument %s", strings.Join(names[len(got):], " "))
		}
		return fmt.Errorf("unexpected argument %q (want %s)", got[len(names)], strings.Join(names, " "))
	}
}

// minArgs requires the first names and at least one more of the last.
func minArgs(names ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, got []string) error {
		if len(got) < len(names) {
			return fmt.Errorf("missing argument %s", strings.Join(names[len(got):], " "))
		}
		return nil
	}
}
