package provider

import (
	"context"
	"slices"

	"connectrpc.com/connect"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"google.golang.org/protobuf/proto"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
)

// Users and groups are named by their ids. The API has no user deletion
// (users stay for the audit trail): destroying a strata_user disables it.
// Grants and API tokens cannot be changed: a change replaces them.

var userSkip = []string{"source", "groups", "created_at", "has_password"}

var userKind = &kind{
	name: "user",
	doc: "A person or a service account. Destroying it disables the user (the API keeps users for the audit trail; " +
		"a disabled user cannot log in and its tokens stop working). Import by name.",
	newMsg: func() proto.Message { return &iamv1.User{} },
	opts: fieldOpts{skip: userSkip, required: []string{"name"}, computed: []string{"kind"}, replace: []string{"name", "kind"},
		docs: map[string]string{
			"name": "Login name and id: lower case letters, digits, '.', '_' and '-'; a change replaces the user.",
			"kind": "human (default) or service_account (API tokens only, no password); a change replaces the user.",
		}},
	extra: map[string]schema.Attribute{
		"id": nameID,
		"password": schema.StringAttribute{Optional: true, Sensitive: true,
			Description: "Password of a human user (never read back: a change outside Terraform is not seen). Unset: cannot log in with one."},
	},
	create: func(ctx context.Context, c *client, o *object) (*remote, error) {
		u := o.msg.(*iamv1.User)
		res, err := c.iam.CreateUser(ctx, &iamv1.CreateUserRequest{Name: u.GetName(), DisplayName: u.GetDisplayName(),
			Email: u.GetEmail(), Password: str(o.extra["password"]), ServiceAccount: u.GetKind() == iamv1.UserKind_USER_KIND_SERVICE_ACCOUNT})
		if err != nil {
			return nil, err
		}
		if u.GetDisabled() {
			dis, err := c.iam.SetUserDisabled(ctx, &iamv1.SetUserDisabledRequest{Name: u.GetName(), Disabled: true})
			if err != nil {
				return nil, err
			}
			return userRemote(dis.GetUser()), nil
		}
		return userRemote(res.GetUser()), nil
	},
	read: func(ctx context.Context, c *client, o *object) (*remote, error) {
		res, err := c.iam.GetUser(ctx, &iamv1.GetUserRequest{Name: o.id})
		if connect.CodeOf(err) == connect.CodeNotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return userRemote(res.GetUser()), nil
	},
	update: func(ctx context.Context, c *client, o *object, cur *remote) (*remote, error) {
		u := o.msg.(*iamv1.User)
		res, err := c.iam.UpdateUser(ctx, &iamv1.UpdateUserRequest{Name: o.id, DisplayName: u.GetDisplayName(), Email: u.GetEmail()})
		if err != nil {
			return nil, err
		}
		got := res.GetUser()
		if u.GetDisabled() != cur.msg.(*iamv1.User).GetDisabled() {
			dis, err := c.iam.SetUserDisabled(ctx, &iamv1.SetUserDisabledRequest{Name: o.id, Disabled: u.GetDisabled()})
			if err != nil {
				return nil, err
			}
			got = dis.GetUser()
		}
		// The password is never read back: set it whenever the user is
		// written (a plan change of it is what triggered this, or no harm).
		if pw := str(o.extra["password"]); pw != "" {
			if _, err := c.iam.SetUserPassword(ctx, &iamv1.SetUserPasswordRequest{Name: o.id, Password: pw}); err != nil {
				return nil, err
			}
		}
		return userRemote(got), nil
	},
	delete: func(ctx context.Context, c *client, o *object) error {
		_, err := c.iam.SetUserDisabled(ctx, &iamv1.SetUserDisabledRequest{Name: o.id, Disabled: true})
		return err
	},
}

func userRemote(u *iamv1.User) *remote {
	return &remote{msg: only(u, userSkip), extra: map[string]string{"id": u.GetName()}}
}

var groupSkip = []string{"created_at"}

var groupKind = &kind{
	name:   "group",
	doc:    "A group of users; grants to it apply to every member. Import by name.",
	newMsg: func() proto.Message { return &iamv1.Group{} },
	opts: fieldOpts{skip: groupSkip, required: []string{"name"}, replace: []string{"name", "description"}, docs: map[string]string{
		"name":        "Group name and id; a change replaces the group.",
		"description": "What the group is for; a change replaces the group (the API cannot change it).",
		"members":     "User names; changes add and remove members.",
	}},
	extra: map[string]schema.Attribute{"id": nameID},
	create: func(ctx context.Context, c *client, o *object) (*remote, error) {
		g := o.msg.(*iamv1.Group)
		res, err := c.iam.CreateGroup(ctx, &iamv1.CreateGroupRequest{Name: g.GetName(), Description: g.GetDescription(), Members: g.GetMembers()})
		if err != nil {
			return nil, err
		}
		return groupRemote(res.GetGroup()), nil
	},
	read: func(ctx context.Context, c *client, o *object) (*remote, error) {
		res, err := c.iam.GetGroup(ctx, &iamv1.GetGroupRequest{Name: o.id})
		if connect.CodeOf(err) == connect.CodeNotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return groupRemote(res.GetGroup()), nil
	},
	update: func(ctx context.Context, c *client, o *object, cur *remote) (*remote, error) {
		want, have := o.msg.(*iamv1.Group).GetMembers(), cur.msg.(*iamv1.Group).GetMembers()
		var add, remove []string
		for _, m := range want {
			if !slices.Contains(have, m) {
				add = append(add, m)
			}
		}
		for _, m := range have {
			if !slices.Contains(want, m) {
				remove = append(remove, m)
			}
		}
		if len(add) > 0 {
			if _, err := c.iam.AddGroupMembers(ctx, &iamv1.AddGroupMembersRequest{Group: o.id, Users: add}); err != nil {
				return nil, err
			}
		}
		if len(remove) > 0 {
			if _, err := c.iam.RemoveGroupMembers(ctx, &iamv1.RemoveGroupMembersRequest{Group: o.id, Users: remove}); err != nil {
				return nil, err
			}
		}
		res, err := c.iam.GetGroup(ctx, &iamv1.GetGroupRequest{Name: o.id})
		if err != nil {
			return nil, err
		}
		return groupRemote(res.GetGroup()), nil
	},
	delete: func(ctx context.Context, c *client, o *object) error {
		_, err := c.iam.DeleteGroup(ctx, &iamv1.DeleteGroupRequest{Name: o.id})
		return err
	},
}

func groupRemote(g *iamv1.Group) *remote {
	return &remote{msg: only(g, groupSkip), extra: map[string]string{"id": g.GetName()}}
}

var grantSkip = []string{"scope", "created_at", "created_by"}

var grantKind = &kind{
	name: "grant",
	doc: "A role given to a user or a group over a scope (everything, or one partition, app, DNS zone...). Any change replaces it. " +
		"Import by id.",
	newMsg: func() proto.Message { return &iamv1.Grant{} },
	opts: fieldOpts{skip: grantSkip, required: []string{"role"}, replace: []string{"user", "group", "role"}, docs: map[string]string{
		"user":  "User name; exactly one of user and group.",
		"group": "Group name; exactly one of user and group.",
		"role":  "Built-in (super_admin, admin, viewer, ...) or custom role.",
	}},
	extra: map[string]schema.Attribute{
		"scope_kind": schema.StringAttribute{Required: true, Description: `"all", or the kind of object: "partition", "app", "dns_zone", ...`,
			PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
		"scope_id": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(""),
			Description:   `Id (or name) of the object; "" for scope_kind "all".`,
			PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
	},
	create: func(ctx context.Context, c *client, o *object) (*remote, error) {
		g := o.msg.(*iamv1.Grant)
		res, err := c.iam.CreateGrant(ctx, &iamv1.CreateGrantRequest{User: g.GetUser(), Group: g.GetGroup(), Role: g.GetRole(),
			ScopeKind: str(o.extra["scope_kind"]), ScopeObject: str(o.extra["scope_id"])})
		if err != nil {
			return nil, err
		}
		return grantRemote(res.GetGrant()), nil
	},
	read: func(ctx context.Context, c *client, o *object) (*remote, error) {
		res, err := c.iam.ListGrants(ctx, &iamv1.ListGrantsRequest{})
		if err != nil {
			return nil, err
		}
		for _, g := range res.GetGrants() {
			if g.GetId() == o.id {
				return grantRemote(g), nil
			}
		}
		return nil, nil
	},
	delete: func(ctx context.Context, c *client, o *object) error {
		_, err := c.iam.DeleteGrant(ctx, &iamv1.DeleteGrantRequest{Id: o.id})
		return err
	},
}

func grantRemote(g *iamv1.Grant) *remote {
	return &remote{msg: only(g, grantSkip), extra: map[string]string{"scope_kind": g.GetScope().GetKind(), "scope_id": g.GetScope().GetId()}}
}

var apiTokenSkip = []string{"created_at", "expires_at", "last_used_at", "revoked", "created_by", "expired"}

var apiTokenKind = &kind{
	name: "api_token",
	doc: "An API token acting as a user (a service account, or the provider's own user). Any change replaces it; destroying it " +
		"revokes it. `token` is known only to the run that created it. Import by id (without the secret).",
	newMsg: func() proto.Message { return &iamv1.Token{} },
	opts: fieldOpts{skip: apiTokenSkip, computed: []string{"user"}, replace: []string{"user", "description"}, docs: map[string]string{
		"user":        "Service account the token acts as; unset: the user the provider authenticates as.",
		"description": "What the token is for.",
	}},
	extra: map[string]schema.Attribute{
		"ttl_seconds": ttlAttr("Lifetime in seconds; unset or 0: never expires."),
		"token":       secretAttr("The secret, sent as `Authorization: Bearer TOKEN`; only known to the run that created it."),
		"expires_at":  timeAttr(`When it expires (RFC 3339; "" for never).`),
	},
	secrets: []string{"token"},
	create: func(ctx context.Context, c *client, o *object) (*remote, error) {
		t := o.msg.(*iamv1.Token)
		res, err := c.iam.CreateToken(ctx, &iamv1.CreateTokenRequest{Description: t.GetDescription(), User: t.GetUser(),
			TtlSeconds: uint64(intOf(o.extra["ttl_seconds"]))})
		if err != nil {
			return nil, err
		}
		rem := apiTokenRemote(res.GetToken())
		rem.extra["token"] = res.GetSecret()
		return rem, nil
	},
	read: func(ctx context.Context, c *client, o *object) (*remote, error) {
		res, err := c.iam.ListTokens(ctx, &iamv1.ListTokensRequest{User: "*"})
		if err != nil {
			return nil, err
		}
		for _, t := range res.GetTokens() {
			if t.GetId() == o.id && !t.GetRevoked() {
				return apiTokenRemote(t), nil
			}
		}
		return nil, nil // revoked counts as gone: the plan creates a new one
	},
	delete: func(ctx context.Context, c *client, o *object) error {
		_, err := c.iam.RevokeToken(ctx, &iamv1.RevokeTokenRequest{Id: o.id})
		return err
	},
}

func apiTokenRemote(t *iamv1.Token) *remote {
	return &remote{msg: only(t, apiTokenSkip), extra: map[string]string{"expires_at": rfc3339(t.GetExpiresAt())}}
}
