package iamcmd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

func loginCmd(f ClientFactory) *cobra.Command {
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login [USER]",
		Short: "Log in with your password (or LDAP) and keep the session for the next commands",
		Example: `  strata login alice
  echo "$PASSWORD" | strata login alice --password-stdin`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var user string
			if len(args) == 1 {
				user = args[0]
			} else if passwordStdin {
				return errors.New("name the USER when the password comes from stdin")
			} else {
				fmt.Fprint(f.Stderr(), "User: ")
				line, err := bufio.NewReader(f.Stdin()).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("read user: %w", err)
				}
				user = strings.TrimSpace(line)
			}
			pw, err := readPassword(f, passwordStdin, "Password: ", false)
			if err != nil {
				return err
			}
			path, err := f.SessionFile()
			if err != nil {
				return err
			}
			res, err := call(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.Login, &iamv1.LoginRequest{User: user, Password: pw, ReturnToken: true}))
			if err != nil {
				return err
			}
			if err := writeSecret(path, res.Token); err != nil {
				return err
			}
			res.Token = "" // never printed
			return clientx.Emitf(f, res, "Logged in as %s until %s. Session saved in %s.", res.GetUser().GetName(), clientx.FmtTime(res.GetExpiresAt()), path)
		},
	}
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
}

// writeSecret writes a secret to a file only its owner can read.
func writeSecret(path, secret string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}

func logoutCmd(f ClientFactory) *cobra.Command {
	return &cobra.Command{
		Use: "logout", Short: "End the saved session on the server and forget it", Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := f.SessionFile()
			if err != nil {
				return err
			}
			secret, err := ReadSessionFile(path)
			if err != nil {
				return err
			}
			if secret == "" {
				fmt.Fprintln(f.Stdout(), "Not logged in.")
				return nil
			}
			_, err = call(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.Logout, &iamv1.LogoutRequest{}))
			if err != nil {
				return err
			}
			if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("remove session file: %w", err)
			}
			fmt.Fprintln(f.Stdout(), "Logged out.")
			return nil
		},
	}
}

func whoamiCmd(f ClientFactory) *cobra.Command {
	return &cobra.Command{
		Use: "whoami", Short: "Show who the API sees and the grants in effect", Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.WhoAmI, &iamv1.WhoAmIRequest{}), func(w io.Writer, res *iamv1.WhoAmIResponse) error {
				fmt.Fprintf(w, "%s (%s", res.Name, res.Kind)
				if res.CredentialId != "" {
					fmt.Fprintf(w, " %s", res.CredentialId)
				}
				fmt.Fprintln(w, ")")
				if len(res.GetUser().GetGroups()) > 0 {
					fmt.Fprintf(w, "Groups: %s\n", strings.Join(res.User.Groups, ", "))
				}
				rows := [][]string{{"ROLE", "SCOPE", "VIA"}}
				for _, g := range res.Grants {
					via := "user"
					if g.Group != "" {
						via = "group " + g.Group
					}
					rows = append(rows, []string{g.Role, scopeText(g.Scope), via})
				}
				return clientx.Table(w, rows)
			})
		},
	}
}
