package iam

import (
	"slices"
	"testing"

	"connectrpc.com/connect"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/authz"
)

func TestCreateGrantRejectsBadInputAndStoresNothing(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice")
	if _, err := e.admin.CreateGroup(e.ctx, &iamv1.CreateGroupRequest{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	e.grant(&iamv1.CreateGrantRequest{Group: "shop", Role: "admin", ScopeKind: "app", ScopeObject: "shop"})
	before := e.head()
	tests := []struct {
		name   string
		req    *iamv1.CreateGrantRequest
		code   connect.Code
		field  string
		reason string
	}{
		{"no subject", &iamv1.CreateGrantRequest{Role: "admin", ScopeKind: "all"}, connect.CodeInvalidArgument, "user", "exactly one of user and group"},
		{"both subjects", &iamv1.CreateGrantRequest{User: "alice", Group: "shop", Role: "admin", ScopeKind: "all"}, connect.CodeInvalidArgument, "user", "exactly one"},
		{"unknown user", &iamv1.CreateGrantRequest{User: "mallory", Role: "admin", ScopeKind: "all"}, connect.CodeInvalidArgument, "user", `user "mallory" does not exist`},
		{"unknown group", &iamv1.CreateGrantRequest{Group: "blog", Role: "admin", ScopeKind: "all"}, connect.CodeInvalidArgument, "group", `group "blog" does not exist`},
		{"unknown role", &iamv1.CreateGrantRequest{User: "alice", Role: "owner", ScopeKind: "all"}, connect.CodeInvalidArgument, "role", `role "owner" does not exist`},
		{"unknown app", &iamv1.CreateGrantRequest{User: "alice", Role: "admin", ScopeKind: "app", ScopeObject: "wiki"}, connect.CodeInvalidArgument, "scope_object", `app "wiki" does not exist`},
		{"kind nobody resolves", &iamv1.CreateGrantRequest{User: "alice", Role: "admin", ScopeKind: "dns_zone", ScopeObject: "example.com"}, connect.CodeInvalidArgument, "scope_kind", `no service here resolves "dns_zone"`},
		{"no scope", &iamv1.CreateGrantRequest{User: "alice", Role: "admin"}, connect.CodeInvalidArgument, "scope_kind", "required"},
		{"object for all", &iamv1.CreateGrantRequest{User: "alice", Role: "admin", ScopeKind: "all", ScopeObject: "shop"}, connect.CodeInvalidArgument, "scope_object", "must be empty"},
		{"no object", &iamv1.CreateGrantRequest{User: "alice", Role: "admin", ScopeKind: "app"}, connect.CodeInvalidArgument, "scope_object", "required"},
		{"duplicate (by id instead of name)", &iamv1.CreateGrantRequest{Group: "shop", Role: "admin", ScopeKind: "app", ScopeObject: "app_shop"}, connect.CodeAlreadyExists, "role", "exists already"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.admin.CreateGrant(e.ctx, tt.req)
			wantField(t, err, tt.code, tt.field, tt.reason)
		})
	}
	if h := e.head(); h != before {
		t.Fatalf("rejected grants stored events: head %d -> %d", before, h)
	}
}

// TestScopedGrantsThroughGroups: a group owns a partition; its members may
// act on the partition's apps and nothing else.
func TestScopedGrantsThroughGroups(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice")
	if _, err := e.admin.CreateGroup(e.ctx, &iamv1.CreateGroupRequest{Name: "shop-team", Members: []string{"alice"}}); err != nil {
		t.Fatal(err)
	}
	g := e.grant(&iamv1.CreateGrantRequest{Group: "shop-team", Role: "admin", ScopeKind: "partition", ScopeObject: "default"})
	if g.Scope.Id != "par_1" || g.Scope.Name != "default" || g.CreatedBy != "admin" {
		t.Fatalf("grant = %v", g)
	}
	grants, err := e.svc.Grants(e.ctx, apiauth.Principal{Name: "alice", Kind: "user"})
	if err != nil {
		t.Fatal(err)
	}
	c := authz.NewChecker(apiauth.Principal{Name: "alice"}, grants, e.resolvers)
	checks := []struct {
		perm string
		obj  authz.Object
		want bool
	}{
		{"config.app.write", authz.Object{Kind: "app", ID: "app_shop"}, true},
		{"config.app.release", authz.Object{Kind: "app", ID: "app_shop"}, true},
		{"config.app.write", authz.Object{Kind: "app", ID: "app_blog"}, false},
		{"iam.user.read", authz.Object{Kind: "app", ID: "app_shop"}, false},
	}
	for _, ch := range checks {
		if got := c.Can(e.ctx, ch.perm, ch.obj); got != ch.want {
			t.Errorf("Can(%s, %s) = %v, want %v", ch.perm, ch.obj, got, ch.want)
		}
	}
	// Leaving the group takes the access away.
	if _, err := e.admin.RemoveGroupMembers(e.ctx, &iamv1.RemoveGroupMembersRequest{Group: "shop-team", Users: []string{"alice"}}); err != nil {
		t.Fatal(err)
	}
	grants, _ = e.svc.Grants(e.ctx, apiauth.Principal{Name: "alice", Kind: "user"})
	if len(grants) != 0 {
		t.Fatalf("grants after leaving the group: %v", grants)
	}
}

func TestCustomRoles(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice")
	before := e.head()
	_, err := e.admin.CreateRole(e.ctx, &iamv1.CreateRoleRequest{Name: "deployer", Permissions: []string{"config.app.release", "config.app.raed"}})
	wantField(t, err, connect.CodeInvalidArgument, "permissions[1]", `"config.app.raed" matches no permission`)
	_, err = e.admin.CreateRole(e.ctx, &iamv1.CreateRoleRequest{Name: "admin", Permissions: []string{"config.app.read"}})
	wantField(t, err, connect.CodeAlreadyExists, "name", "built-in")
	if e.head() != before {
		t.Fatal("rejected role stored")
	}
	if _, err := e.admin.CreateRole(e.ctx, &iamv1.CreateRoleRequest{Name: "deployer", Permissions: []string{"config.app.release", "config.*.read"}}); err != nil {
		t.Fatal(err)
	}
	_, err = e.admin.CreateRole(e.ctx, &iamv1.CreateRoleRequest{Name: "deployer", Permissions: []string{"config.app.read"}})
	wantField(t, err, connect.CodeAlreadyExists, "name", `role "deployer" already exists`)
	g := e.grant(&iamv1.CreateGrantRequest{User: "alice", Role: "deployer", ScopeKind: "app", ScopeObject: "shop"})

	can := func(perm string) bool {
		grants, _ := e.svc.Grants(e.ctx, apiauth.Principal{Name: "alice", Kind: "token"})
		return authz.NewChecker(apiauth.Principal{}, grants, e.resolvers).Can(e.ctx, perm, authz.Object{Kind: "app", ID: "app_shop"})
	}
	if !can("config.app.release") || !can("config.app.read") || can("config.app.write") {
		t.Fatal("deployer role allows the wrong things")
	}
	if _, err := e.admin.UpdateRole(e.ctx, &iamv1.UpdateRoleRequest{Name: "deployer", Permissions: []string{"config.app.read"}}); err != nil {
		t.Fatal(err)
	}
	if can("config.app.release") {
		t.Fatal("update did not take effect")
	}
	_, err = e.admin.UpdateRole(e.ctx, &iamv1.UpdateRoleRequest{Name: "viewer", Permissions: []string{"config.app.read"}})
	wantCode(t, err, connect.CodeFailedPrecondition)
	_, err = e.admin.DeleteRole(e.ctx, &iamv1.DeleteRoleRequest{Name: "deployer"})
	wantCode(t, err, connect.CodeFailedPrecondition)
	if _, err := e.admin.DeleteGrant(e.ctx, &iamv1.DeleteGrantRequest{Id: g.Id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.DeleteRole(e.ctx, &iamv1.DeleteRoleRequest{Name: "deployer"}); err != nil {
		t.Fatal(err)
	}
	roles, _ := e.admin.ListRoles(e.ctx, &iamv1.ListRolesRequest{})
	var names []string
	for _, r := range roles.Roles {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"super_admin", "admin", "viewer"}) {
		t.Fatalf("roles = %v", names)
	}
	if v := roles.Roles[2]; !slices.Contains(v.Permissions, "config.app.read") || slices.Contains(v.Permissions, "config.app.write") {
		t.Fatalf("viewer expands to %v", v.Permissions)
	}
	perms, err := e.login("alice").ListPermissions(e.ctx, &iamv1.ListPermissionsRequest{})
	if err != nil || len(perms.Permissions) < 10 {
		t.Fatalf("ListPermissions = %v, %v", perms, err)
	}
}

// TestIAMRequiresIAMPermissions goes through the real interceptors: an admin
// (everything but IAM) is refused IAM changes, a viewer even reading them.
func TestIAMRequiresIAMPermissions(t *testing.T) {
	e := newEnv(t)
	e.createUser("ann")
	e.createUser("vic")
	e.grant(&iamv1.CreateGrantRequest{User: "ann", Role: "admin", ScopeKind: "all"})
	e.grant(&iamv1.CreateGrantRequest{User: "vic", Role: "viewer", ScopeKind: "all"})
	ann, vic := e.login("ann"), e.login("vic")
	_, err := ann.CreateUser(e.ctx, &iamv1.CreateUserRequest{Name: "x"})
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = ann.CreateGrant(e.ctx, &iamv1.CreateGrantRequest{User: "ann", Role: "super_admin", ScopeKind: "all"})
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = vic.ListUsers(e.ctx, &iamv1.ListUsersRequest{})
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = e.client("").ListUsers(e.ctx, &iamv1.ListUsersRequest{})
	wantCode(t, err, connect.CodeUnauthenticated)
	// Everyone manages their own tokens.
	if _, err := vic.CreateToken(e.ctx, &iamv1.CreateTokenRequest{Description: "mine"}); err != nil {
		t.Fatal(err)
	}
}
