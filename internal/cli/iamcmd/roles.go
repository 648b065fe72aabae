package iamcmd

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

func roleCmd(f ClientFactory) *cobra.Command {
	cmd := &cobra.Command{Use: "role", Short: "Manage roles (sets of permissions)"}
	cmd.AddCommand(roleCreateCmd(f, false), roleCreateCmd(f, true), roleListCmd(f), roleDeleteCmd(f), rolePermissionsCmd(f))
	return cmd
}

func printRole(w io.Writer, r *iamv1.Role) error {
	return clientx.Table(w, [][]string{
		{"Name:", r.Name}, {"Built in:", clientx.YesNo(r.BuiltIn)}, {"Description:", clientx.OrDash(r.Description)},
		{"Permissions:", strings.Join(r.Permissions, ", ")},
	})
}

func roleCreateCmd(f ClientFactory, update bool) *cobra.Command {
	var desc string
	var perms []string
	use, short := "create NAME", "Create a custom role"
	if update {
		use, short = "update NAME", "Replace a custom role's description and permissions"
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Args: exactArgs("NAME"),
		Example: `  strata role create deployer --permission config.app.release --permission 'config.*.read'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var role *iamv1.Role
			var err error
			if update {
				var res *iamv1.UpdateRoleResponse
				res, err = call(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.UpdateRole, &iamv1.UpdateRoleRequest{Name: args[0], Description: desc, Permissions: perms}))
				role = res.GetRole()
			} else {
				var res *iamv1.CreateRoleResponse
				res, err = call(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.CreateRole, &iamv1.CreateRoleRequest{Name: args[0], Description: desc, Permissions: perms}))
				role = res.GetRole()
			}
			if err != nil {
				return err
			}
			if !update { // a create prints the handle alone
				return clientx.Emitf(f, role, "%s", role.GetName())
			}
			return clientx.Emit(f, role, func(w io.Writer) error { return printRole(w, role) })
		},
	}
	cmd.Flags().StringVar(&desc, "description", "", "what the role is for")
	cmd.Flags().StringSliceVar(&perms, "permission", nil, `permission or pattern, e.g. config.app.write or "config.*.read" (repeatable; see "strata role permissions")`)
	return cmd
}

func roleListCmd(f ClientFactory) *cobra.Command {
	return clientx.ListCommand(&cobra.Command{
		Use: "list", Short: "List built-in and custom roles", Args: exactArgs(),
	}, func(cmd *cobra.Command, lf *clientx.ListFlags) error {
		return show(cmd, f, clientx.Pages(iamv1connect.IAMServiceClient.ListRoles, &iamv1.ListRolesRequest{}, lf), func(w io.Writer, res *iamv1.ListRolesResponse) error {
			rows := [][]string{{"NAME", "BUILT-IN", "PERMISSIONS", "DESCRIPTION"}}
			for _, r := range res.Roles {
				perms := strings.Join(r.Permissions, ",")
				if r.BuiltIn {
					perms = fmt.Sprintf("%d permissions", len(r.Permissions))
				}
				rows = append(rows, []string{r.Name, clientx.YesNo(r.BuiltIn), perms, clientx.OrDash(r.Description)})
			}
			return clientx.Table(w, rows)
		})
	})
}

func roleDeleteCmd(f ClientFactory) *cobra.Command {
	return &cobra.Command{
		Use: "delete NAME", Short: "Delete a custom role no grant uses", Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.DeleteRole, &iamv1.DeleteRoleRequest{Name: args[0]}), func(w io.Writer, res *iamv1.DeleteRoleResponse) error {
				return clientx.Line(w, "Role %s deleted.", args[0])
			})
		},
	}
}

func rolePermissionsCmd(f ClientFactory) *cobra.Command {
	return clientx.ListCommand(&cobra.Command{
		Use: "permissions", Short: "List every permission a role may hold and the RPCs it allows", Args: exactArgs(),
	}, func(cmd *cobra.Command, lf *clientx.ListFlags) error {
		return show(cmd, f, clientx.Pages(iamv1connect.IAMServiceClient.ListPermissions, &iamv1.ListPermissionsRequest{}, lf), func(w io.Writer, res *iamv1.ListPermissionsResponse) error {
			rows := [][]string{{"PERMISSION", "RPCS"}}
			for _, p := range res.Permissions {
				var short []string
				for _, proc := range p.Procedures {
					short = append(short, proc[strings.LastIndex(proc, "/")+1:])
				}
				rows = append(rows, []string{p.Name, clientx.OrDash(strings.Join(short, ","))})
			}
			return clientx.Table(w, rows)
		})
	})
}
