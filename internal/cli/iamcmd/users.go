package iamcmd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

func userCmd(f ClientFactory) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users and service accounts"}
	cmd.AddCommand(userCreateCmd(f), userListCmd(f), userGetCmd(f), userUpdateCmd(f),
		userDisableCmd(f, true), userDisableCmd(f, false), userSetPasswordCmd(f))
	return cmd
}

func printUser(w io.Writer, u *iamv1.User) error {
	kind := "person"
	if u.Kind == iamv1.UserKind_USER_KIND_SERVICE_ACCOUNT {
		kind = "service account"
	}
	return clientx.Table(w, [][]string{
		{"Name:", u.Name}, {"Display name:", clientx.OrDash(u.DisplayName)}, {"Email:", clientx.OrDash(u.Email)},
		{"Kind:", kind}, {"Source:", u.Source}, {"Disabled:", clientx.YesNo(u.Disabled)},
		{"Password:", clientx.YesNo(u.HasPassword)}, {"Groups:", clientx.OrDash(strings.Join(u.Groups, ", "))},
		{"Created:", clientx.FmtTime(u.CreatedAt)},
	})
}

func userCreateCmd(f ClientFactory) *cobra.Command {
	var req iamv1.CreateUserRequest
	var passwordStdin, noPassword bool
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a user (asks for a password) or, with --service-account, a service account",
		Example: `  strata user create alice --email alice@example.com
  echo "$PASSWORD" | strata user create bob --password-stdin
  strata user create deploy-bot --service-account`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Name = args[0]
			if !req.ServiceAccount && !noPassword {
				pw, err := readPassword(f, passwordStdin, "Password for "+req.Name+": ", true)
				if err != nil {
					return err
				}
				req.Password = pw
			}
			return show(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.CreateUser, &req), func(w io.Writer, res *iamv1.CreateUserResponse) error {
				return clientx.Line(w, "%s", res.User.GetName())
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Email, "email", "", "e-mail address")
	fl.StringVar(&req.DisplayName, "display-name", "", "full name")
	fl.BoolVar(&req.ServiceAccount, "service-account", false, "a machine identity that authenticates with API tokens only")
	fl.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	fl.BoolVar(&noPassword, "no-password", false, "create the user without a password (API tokens only until one is set)")
	return cmd
}

func userListCmd(f ClientFactory) *cobra.Command {
	return clientx.ListCommand(&cobra.Command{
		Use: "list", Short: "List users", Args: exactArgs(),
	}, func(cmd *cobra.Command, lf *clientx.ListFlags) error {
		return show(cmd, f, clientx.Pages(iamv1connect.IAMServiceClient.ListUsers, &iamv1.ListUsersRequest{}, lf), func(w io.Writer, res *iamv1.ListUsersResponse) error {
			rows := [][]string{{"NAME", "KIND", "SOURCE", "DISABLED", "GROUPS", "EMAIL"}}
			for _, u := range res.Users {
				kind := "person"
				if u.Kind == iamv1.UserKind_USER_KIND_SERVICE_ACCOUNT {
					kind = "service"
				}
				rows = append(rows, []string{u.Name, kind, u.Source, clientx.YesNo(u.Disabled), clientx.OrDash(strings.Join(u.Groups, ",")), clientx.OrDash(u.Email)})
			}
			return clientx.Table(w, rows)
		})
	})
}

func userGetCmd(f ClientFactory) *cobra.Command {
	return &cobra.Command{
		Use: "get NAME", Short: "Show a user", Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.GetUser, &iamv1.GetUserRequest{Name: args[0]}), func(w io.Writer, res *iamv1.GetUserResponse) error { return printUser(w, res.User) })
		},
	}
}

func userUpdateCmd(f ClientFactory) *cobra.Command {
	var displayName, email string
	cmd := &cobra.Command{
		Use: "update NAME [--display-name D] [--email E]", Short: "Change a user's display name or e-mail address (flags not given keep their value)",
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			if !fl.Changed("display-name") && !fl.Changed("email") {
				return errors.New("nothing to change: give --display-name or --email")
			}
			cur, err := call(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.GetUser, &iamv1.GetUserRequest{Name: args[0]}))
			if err != nil {
				return err
			}
			req := &iamv1.UpdateUserRequest{Name: args[0], DisplayName: cur.User.GetDisplayName(), Email: cur.User.GetEmail()}
			if fl.Changed("display-name") {
				req.DisplayName = displayName
			}
			if fl.Changed("email") {
				req.Email = email
			}
			return show(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.UpdateUser, req), func(w io.Writer, res *iamv1.UpdateUserResponse) error { return printUser(w, res.User) })
		},
	}
	cmd.Flags().StringVar(&displayName, "display-name", "", "full name (\"\" clears it)")
	cmd.Flags().StringVar(&email, "email", "", "e-mail address (\"\" clears it)")
	return cmd
}

func userDisableCmd(f ClientFactory, disable bool) *cobra.Command {
	use, short := "disable NAME", "Disable a user: its sessions and tokens stop working at once"
	if !disable {
		use, short = "enable NAME", "Enable a disabled user again"
	}
	return &cobra.Command{
		Use: use, Short: short, Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.SetUserDisabled, &iamv1.SetUserDisabledRequest{Name: args[0], Disabled: disable}), func(w io.Writer, res *iamv1.SetUserDisabledResponse) error {
				state := "enabled"
				if res.User.Disabled {
					state = "disabled"
				}
				return clientx.Line(w, "User %s is %s.", res.User.Name, state)
			})
		},
	}
}

func userSetPasswordCmd(f ClientFactory) *cobra.Command {
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "set-password [NAME]",
		Short: "Change your own password, or (administrators) set another user's",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				pw, err := readPassword(f, passwordStdin, "New password for "+args[0]+": ", true)
				if err != nil {
					return err
				}
				return show(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.SetUserPassword, &iamv1.SetUserPasswordRequest{Name: args[0], Password: pw}), func(w io.Writer, res *iamv1.SetUserPasswordResponse) error {
					return clientx.Line(w, "Password of %s set.", args[0])
				})
			}
			if passwordStdin {
				return errors.New("--password-stdin: changing your own password needs the current one; run it in a terminal")
			}
			cur, err := readPassword(f, false, "Current password: ", false)
			if err != nil {
				return err
			}
			pw, err := readPassword(f, false, "New password: ", true)
			if err != nil {
				return err
			}
			return show(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.ChangePassword, &iamv1.ChangePasswordRequest{CurrentPassword: cur, NewPassword: pw}), func(w io.Writer, res *iamv1.ChangePasswordResponse) error {
				return clientx.Line(w, "Password changed.")
			})
		},
	}
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
}

// readPassword reads a password from the first line of stdin (fromStdin) or
// asks for it on the terminal without echo (twice when confirm is set).
func readPassword(f ClientFactory, fromStdin bool, prompt string, confirm bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(f.Stdin()).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("--password-stdin: stdin is empty")
		}
		return pw, nil
	}
	file, ok := f.Stdin().(*os.File)
	if !ok || !term.IsTerminal(int(file.Fd())) {
		return "", errors.New("no terminal to ask for the password: pass it on stdin with --password-stdin")
	}
	ask := func(p string) (string, error) {
		fmt.Fprint(f.Stderr(), p)
		b, err := term.ReadPassword(int(file.Fd()))
		fmt.Fprintln(f.Stderr())
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	pw, err := ask(prompt)
	if err != nil || !confirm {
		return pw, err
	}
	again, err := ask("Repeat: ")
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", errors.New("the passwords do not match")
	}
	return pw, nil
}
