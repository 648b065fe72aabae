package certcmd

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
	"github.com/strata-edge/strata/pkg/secretfile"
)

// acmeAccountCmd is "strata cert acme-account": the service's account per
// ACME directory and its external account binding.
func acmeAccountCmd(f ClientFactory) *cobra.Command {
	c := &cobra.Command{Use: "acme-account", Short: "ACME accounts per directory: external account binding (ZeroSSL and other CAs that require it)"}
	c.AddCommand(acmeAccountSetCmd(f), acmeAccountListCmd(f))
	return c
}

func acmeAccountSetCmd(f ClientFactory) *cobra.Command {
	var directory, kid, hmacFile string
	var clearEAB bool
	cmd := &cobra.Command{
		Use:   "set --directory URL --eab-kid KID --eab-hmac-file FILE | --clear",
		Short: "Set the external account binding used to register with an ACME directory (the HMAC key is stored encrypted)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &certv1.SetAcmeAccountRequest{Directory: directory}
			switch {
			case clearEAB && (kid != "" || hmacFile != ""):
				return fmt.Errorf("--clear: give it alone, without --eab-kid and --eab-hmac-file")
			case !clearEAB && (kid == "" || hmacFile == ""):
				return fmt.Errorf("--eab-kid and --eab-hmac-file: both required (or --clear)")
			case !clearEAB:
				b, err := secretfile.Read(hmacFile)
				if err != nil {
					return fmt.Errorf("--eab-hmac-file: %w", err)
				}
				req.EabKeyId, req.EabHmacKey = kid, strings.TrimSpace(string(b))
				clear(b)
			}
			res, err := call(cmd, f, clientx.RPC(certv1connect.CertServiceClient.SetAcmeAccount, req))
			if err != nil {
				return err
			}
			return clientx.Emit(f, res.Account, func(w io.Writer) error { return showAccount(w, res.Account) })
		},
	}
	cmd.Flags().StringVar(&directory, "directory", "", "ACME directory URL")
	cmd.Flags().StringVar(&kid, "eab-kid", "", "external account binding key id, as the CA shows it")
	cmd.Flags().StringVar(&hmacFile, "eab-hmac-file", "", "file holding the base64url EAB HMAC key (kept off the command line)")
	cmd.Flags().BoolVar(&clearEAB, "clear", false, "remove the binding of the directory")
	return cmd
}

func acmeAccountListCmd(f ClientFactory) *cobra.Command {
	return clientx.ListCommand(&cobra.Command{
		Use:   "list",
		Short: "List ACME directories with an account or a binding (never the HMAC key)",
	}, func(cmd *cobra.Command, lf *clientx.ListFlags) error {
		return show(cmd, f, clientx.Pages(certv1connect.CertServiceClient.ListAcmeAccounts, &certv1.ListAcmeAccountsRequest{}, lf), func(w io.Writer, res *certv1.ListAcmeAccountsResponse) error {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "DIRECTORY\tEAB KID\tREGISTERED")
			for _, a := range res.Accounts {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Directory, clientx.OrDash(a.EabKeyId), clientx.OrDash(a.AccountUrl))
			}
			return tw.Flush()
		})
	})
}

func showAccount(w io.Writer, a *certv1.AcmeAccount) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "directory:\t%s\n", a.Directory)
	fmt.Fprintf(tw, "eab kid:\t%s\n", clientx.OrDash(a.EabKeyId))
	fmt.Fprintf(tw, "eab hmac key:\t%s\n", map[bool]string{true: "set (stored encrypted)", false: "-"}[a.EabHmacKeySet])
	fmt.Fprintf(tw, "account:\t%s\n", clientx.OrDash(a.AccountUrl))
	if a.UpdatedAt != nil {
		fmt.Fprintf(tw, "updated:\t%s\n", a.UpdatedAt.AsTime().UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}
