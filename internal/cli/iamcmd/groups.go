package iamcmd

import (
	"io"
	"strings"

	"github.com/spf13/cobra"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

func groupCmd(f ClientFactory) *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Manage groups of users"}
	cmd.AddCommand(groupCreateCmd(f), groupListCmd(f), groupGetCmd(f), groupDeleteCmd(f),
		groupMembersCmd(f, true), groupMembersCmd(f, false))
	return cmd
}

func printGroup(w io.Writer, g *iamv1.Group) error {
	return clientx.Table(w, [][]string{
		{"Name:", g.Name}, {"Description:", clientx.OrDash(g.Description)},
		{"Members:", clientx.OrDash(strings.Join(g.Members, ", "))}, {"Created:", clientx.FmtTime(g.CreatedAt)},
	})
}

func groupCreateCmd(f ClientFactory) *cobra.Command {
	var req iamv1.CreateGroupRequest
	cmd := &cobra.Command{
		Use: "create NAME", Short: "Create a group", Args: exactArgs("NAME"),
		Example: `  strata group create shop-team --description "Shop developers" --member alice --member bob`,
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Name = args[0]
			return show(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.CreateGroup, &req), func(w io.Writer, res *iamv1.CreateGroupResponse) error {
				return clientx.Line(w, "%s", res.Group.GetName())
			})
		},
	}
	cmd.Flags().StringVar(&req.Description, "description", "", "what the group is for")
	cmd.Flags().StringSliceVar(&req.Members, "member", nil, "user to add (repeatable)")
	return cmd
}

func groupListCmd(f ClientFactory) *cobra.Command {
	return clientx.ListCommand(&cobra.Command{
		Use: "list", Short: "List groups", Args: exactArgs(),
	}, func(cmd *cobra.Command, lf *clientx.ListFlags) error {
		return show(cmd, f, clientx.Pages(iamv1connect.IAMServiceClient.ListGroups, &iamv1.ListGroupsRequest{}, lf), func(w io.Writer, res *iamv1.ListGroupsResponse) error {
			rows := [][]string{{"NAME", "MEMBERS", "DESCRIPTION"}}
			for _, g := range res.Groups {
				rows = append(rows, []string{g.Name, clientx.OrDash(strings.Join(g.Members, ",")), clientx.OrDash(g.Description)})
			}
			return clientx.Table(w, rows)
		})
	})
}

func groupGetCmd(f ClientFactory) *cobra.Command {
	return &cobra.Command{
		Use: "get NAME", Short: "Show a group", Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.GetGroup, &iamv1.GetGroupRequest{Name: args[0]}), func(w io.Writer, res *iamv1.GetGroupResponse) error { return printGroup(w, res.Group) })
		},
	}
}

func groupDeleteCmd(f ClientFactory) *cobra.Command {
	return &cobra.Command{
		Use: "delete NAME", Short: "Delete a group and its grants", Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.DeleteGroup, &iamv1.DeleteGroupRequest{Name: args[0]}), func(w io.Writer, res *iamv1.DeleteGroupResponse) error {
				return clientx.Line(w, "Group %s deleted.", args[0])
			})
		},
	}
}

func groupMembersCmd(f ClientFactory, add bool) *cobra.Command {
	use, short := "add GROUP USER...", "Add users to a group"
	if !add {
		use, short = "remove GROUP USER...", "Remove users from a group"
	}
	return &cobra.Command{
		Use: use, Short: short, Args: minArgs("GROUP", "USER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, users := args[0], args[1:]
			var group *iamv1.Group
			var err error
			if add {
				var res *iamv1.AddGroupMembersResponse
				res, err = call(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.AddGroupMembers, &iamv1.AddGroupMembersRequest{Group: g, Users: users}))
				group = res.GetGroup()
			} else {
				var res *iamv1.RemoveGroupMembersResponse
				res, err = call(cmd, f, clientx.RPC(iamv1connect.IAMServiceClient.RemoveGroupMembers, &iamv1.RemoveGroupMembersRequest{Group: g, Users: users}))
				group = res.GetGroup()
			}
			if err != nil {
				return err
			}
			return clientx.Emit(f, group, func(w io.Writer) error { return printGroup(w, group) })
		},
	}
}
