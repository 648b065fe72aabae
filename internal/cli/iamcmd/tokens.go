package iamcmd

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

func tokenCmd(f ClientFactory) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage API tokens"}
	cmd.AddCommand(tokenCreateCmd(f), tokenListCmd(f), tokenRevokeCmd(f), tokenRevokeBootstrapCmd(f))
	return cmd
}

func tokenCreateCmd(f ClientFactory) *cobra.Command {
	var req iamv1.CreateTokenRequest
	var ttl string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an API token for yourself or a service account; the secret is shown once",
		Example: `  strata token create --description laptop --ttl 90d
  strata token create --user deploy-bot --description "CI pipeline"`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ttl != "" {
				d, err := parseDuration(ttl)
				if err != nil {
					return fmt.Errorf("--ttl: %w", err)
				}
				req.TtlSeconds = uint64(d / time.Second)
			}
			res, err := call(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.CreateToken, &req))
			if err != nil {
				return err
			}
			if !f.JSON() {
				// stdout holds the secret alone, for TOKEN=$(strata token create).
				expires := "never"
				if res.Token.ExpiresAt != nil {
					expires = clientx.FmtTime(res.Token.ExpiresAt)
				}
				fmt.Fprintf(f.Stderr(), "Token %s for %s, expires %s: store it now, it is not shown again.\n", res.Token.Id, res.Token.User, expires)
			}
			return clientx.Emitf(f, res, "%s", res.Secret)
		},
	}
	cmd.Flags().StringVar(&req.Description, "description", "", "what the token is for")
	cmd.Flags().StringVar(&req.User, "user", "", "service account to create the token for (default: yourself)")
	cmd.Flags().StringVar(&ttl, "ttl", "", "lifetime, e.g. 12h, 90d, 1w (default: no expiry)")
	return cmd
}

func tokenListCmd(f ClientFactory) *cobra.Command {
	var req iamv1.ListTokensRequest
	var all bool
	cmd := clientx.ListCommand(&cobra.Command{
		Use: "list", Short: "List your API tokens (or a user's, or --all)", Args: exactArgs(),
	}, func(cmd *cobra.Command, lf *clientx.ListFlags) error {
		if all {
			req.User = "*"
		}
		return show(cmd, f, clientx.Pages(iamv1connect.IAMServiceClient.ListTokens, &req, lf), func(w io.Writer, res *iamv1.ListTokensResponse) error {
			rows := [][]string{{"ID", "USER", "DESCRIPTION", "CREATED", "EXPIRES", "LAST USED", "STATE"}}
			for _, t := range res.Tokens {
				state := "active"
				switch {
				case t.Revoked:
					state = "revoked"
				case t.Expired:
					state = "expired"
				}
				expires := "never"
				if t.ExpiresAt != nil {
					expires = clientx.FmtTime(t.ExpiresAt)
				}
				last := "never"
				if t.LastUsedAt != nil {
					last = clientx.FmtTime(t.LastUsedAt)
				}
				rows = append(rows, []string{t.Id, t.User, clientx.OrDash(t.Description), clientx.FmtTime(t.CreatedAt), expires, last, state})
			}
			return clientx.Table(w, rows)
		})
	})
	cmd.Flags().StringVar(&req.User, "user", "", "whose tokens (default: yours)")
	cmd.Flags().BoolVar(&all, "all", false, "every user's tokens")
	cmd.Flags().BoolVar(&req.IncludeRevoked, "include-revoked", false, "list revoked tokens too")
	return cmd
}

func tokenRevokeCmd(f ClientFactory) *cobra.Command {
	return &cobra.Command{
		Use: "revoke ID", Short: "Revoke an API token: it stops working at once", Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.RevokeToken, &iamv1.RevokeTokenRequest{Id: args[0]}), func(w io.Writer, res *iamv1.RevokeTokenResponse) error {
				return clientx.Line(w, "Token %s revoked.", args[0])
			})
		},
	}
}

func tokenRevokeBootstrapCmd(f ClientFactory) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke-bootstrap",
		Short: "Revoke the bootstrap admin token (<data>/admin.token) once a user holds super_admin",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.RevokeBootstrapToken, &iamv1.RevokeBootstrapTokenRequest{}), func(w io.Writer, res *iamv1.RevokeBootstrapTokenResponse) error {
				return clientx.Line(w, "Bootstrap token revoked. Delete admin.token from the data dir and restart to get a new one in an emergency.")
			})
		},
	}
}
