package iamcmd

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

func grantCmd(f ClientFactory) *cobra.Command {
	cmd := &cobra.Command{Use: "grant", Short: "Give roles to users or groups over everything or over one object"}
	cmd.AddCommand(grantCreateCmd(f), grantListCmd(f), grantDeleteCmd(f))
	return cmd
}

func scopeText(s *iamv1.Scope) string {
	if s.GetKind() == "all" {
		return "all"
	}
	if s.GetName() != "" && s.GetName() != s.GetId() {
		return fmt.Sprintf("%s %s (%s)", s.GetKind(), s.GetName(), s.GetId())
	}
	return s.GetKind() + " " + s.GetId()
}

func subjectText(g *iamv1.Grant) string {
	if g.User != "" {
		return "user " + g.User
	}
	return "group " + g.Group
}

func grantCreateCmd(f ClientFactory) *cobra.Command {
	var req iamv1.CreateGrantRequest
	var all bool
	var partition, app, zone string
	cmd := &cobra.Command{
		Use:   "create (--user USER | --group GROUP) --role ROLE (--all | --partition P | --app A | --dns-zone Z)",
		Short: "Grant a role over everything or over one partition, app or DNS zone",
		Example: `  strata grant create --group shop-team --role admin --partition shop
  strata grant create --user alice --role viewer --app www
  strata grant create --user root --role super_admin --all`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			n := 0
			for kind, v := range map[string]string{"partition": partition, "app": app, "dns_zone": zone} {
				if v != "" {
					req.ScopeKind, req.ScopeObject = kind, v
					n++
				}
			}
			if all {
				req.ScopeKind, req.ScopeObject = "all", ""
				n++
			}
			if n != 1 {
				return errors.New("name exactly one scope: --all, --partition, --app or --dns-zone")
			}
			return show(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.CreateGrant, &req), func(w io.Writer, res *iamv1.CreateGrantResponse) error {
				return clientx.Line(w, "%s", res.Grant.GetId())
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.User, "user", "", "user (or service account) to grant to")
	fl.StringVar(&req.Group, "group", "", "group to grant to")
	fl.StringVar(&req.Role, "role", "", "role: super_admin, admin, viewer or a custom role")
	fl.BoolVar(&all, "all", false, "over everything")
	fl.StringVar(&partition, "partition", "", "over one partition (id or name) and everything in it")
	fl.StringVar(&app, "app", "", "over one app (id or name)")
	fl.StringVar(&zone, "dns-zone", "", "over one DNS zone (id or name)")
	return cmd
}

func grantListCmd(f ClientFactory) *cobra.Command {
	var req iamv1.ListGrantsRequest
	cmd := clientx.ListCommand(&cobra.Command{
		Use: "list", Short: "List grants", Args: exactArgs(),
	}, func(cmd *cobra.Command, lf *clientx.ListFlags) error {
		return show(cmd, f, clientx.Pages(iamv1connect.IAMServiceClient.ListGrants, &req, lf), func(w io.Writer, res *iamv1.ListGrantsResponse) error {
			rows := [][]string{{"ID", "SUBJECT", "ROLE", "SCOPE", "CREATED", "BY"}}
			for _, g := range res.Grants {
				rows = append(rows, []string{g.Id, subjectText(g), g.Role, scopeText(g.Scope), clientx.FmtTime(g.CreatedAt), clientx.OrDash(g.CreatedBy)})
			}
			return clientx.Table(w, rows)
		})
	})
	cmd.Flags().StringVar(&req.User, "user", "", "only grants to this user")
	cmd.Flags().StringVar(&req.Group, "group", "", "only grants to this group")
	cmd.Flags().StringVar(&req.Role, "role", "", "only grants of this role")
	return cmd
}

func grantDeleteCmd(f ClientFactory) *cobra.Command {
	return &cobra.Command{
		Use: "delete ID", Short: "Delete a grant", Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.DeleteGrant, &iamv1.DeleteGrantRequest{Id: args[0]}), func(w io.Writer, res *iamv1.DeleteGrantResponse) error {
				return clientx.Line(w, "Grant %s deleted.", args[0])
			})
		},
	}
}
