package iam

import (
	"context"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	"github.com/strata-edge/strata/pkg/apiauth"
)

func TestCreateUserRejectsBadInputAndStoresNothing(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice")
	before := e.head()
	tests := []struct {
		name   string
		req    *iamv1.CreateUserRequest
		code   connect.Code
		field  string
		reason string
	}{
		{"short password", &iamv1.CreateUserRequest{Name: "bob", Password: "hunter2"}, connect.CodeInvalidArgument, "password", "at least 12 characters long (has 7)"},
		{"password with the name", &iamv1.CreateUserRequest{Name: "bobby", Password: "my-name-is-bobby!"}, connect.CodeInvalidArgument, "password", "must not contain the user name"},
		{"common password", &iamv1.CreateUserRequest{Name: "bob", Password: "password1234"}, connect.CodeInvalidArgument, "password", "commonly used"},
		{"repetitive password", &iamv1.CreateUserRequest{Name: "bob", Password: "abababababababab"}, connect.CodeInvalidArgument, "password", "at least 5 different characters"},
		{"duplicate name", &iamv1.CreateUserRequest{Name: "alice", Password: goodPassword}, connect.CodeAlreadyExists, "name", `user "alice" already exists`},
		{"upper-case name", &iamv1.CreateUserRequest{Name: "Bob", Password: goodPassword}, connect.CodeInvalidArgument, "name", "lower case"},
		{"empty name", &iamv1.CreateUserRequest{Password: goodPassword}, connect.CodeInvalidArgument, "name", "required"},
		{"name with slash", &iamv1.CreateUserRequest{Name: "a/b"}, connect.CodeInvalidArgument, "name", "not allowed"},
		{"bad email", &iamv1.CreateUserRequest{Name: "bob", Email: "Bob <bob@example.com>"}, connect.CodeInvalidArgument, "email", "not an e-mail address"},
		{"service account with password", &iamv1.CreateUserRequest{Name: "ci", ServiceAccount: true, Password: goodPassword}, connect.CodeInvalidArgument, "password", "must be empty for a service account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.admin.CreateUser(e.ctx, tt.req)
			wantField(t, err, tt.code, tt.field, tt.reason)
		})
	}
	if h := e.head(); h != before {
		t.Fatalf("rejected requests stored events: head %d -> %d", before, h)
	}
	res, err := e.admin.ListUsers(e.ctx, &iamv1.ListUsersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Users) != 1 || res.Users[0].Name != "alice" {
		t.Fatalf("users = %v, want only alice", res.Users)
	}
}

func TestUserLifecycle(t *testing.T) {
	e := newEnv(t)
	res, err := e.admin.CreateUser(e.ctx, &iamv1.CreateUserRequest{Name: "alice", DisplayName: "Alice A.", Email: "alice@example.com", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	u := res.User
	if u.Kind != iamv1.UserKind_USER_KIND_HUMAN || u.Source != "local" || !u.HasPassword || u.CreatedAt.AsTime() != e.clock.Now() {
		t.Fatalf("created user = %v", u)
	}
	up, err := e.admin.UpdateUser(e.ctx, &iamv1.UpdateUserRequest{Name: "alice", DisplayName: "Alice", Email: "a@example.com"})
	if err != nil || up.User.Email != "a@example.com" || up.User.DisplayName != "Alice" {
		t.Fatalf("UpdateUser = %v, %v", up, err)
	}
	_, err = e.admin.UpdateUser(e.ctx, &iamv1.UpdateUserRequest{Name: "nobody"})
	wantCode(t, err, connect.CodeNotFound)

	alice := e.login("alice")
	if _, err := alice.WhoAmI(e.ctx, &iamv1.WhoAmIRequest{}); err != nil {
		t.Fatal(err)
	}
	// Disabling stops her session at once; re-enabling restores it.
	if _, err := e.admin.SetUserDisabled(e.ctx, &iamv1.SetUserDisabledRequest{Name: "alice", Disabled: true}); err != nil {
		t.Fatal(err)
	}
	_, err = alice.WhoAmI(e.ctx, &iamv1.WhoAmIRequest{})
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = e.client("").Login(e.ctx, &iamv1.LoginRequest{User: "alice", Password: goodPassword, ReturnToken: true})
	if !isCode(err, connect.CodePermissionDenied) || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("login of disabled user: %v", err)
	}
	if _, err := e.admin.SetUserDisabled(e.ctx, &iamv1.SetUserDisabledRequest{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.WhoAmI(e.ctx, &iamv1.WhoAmIRequest{}); err != nil {
		t.Fatalf("after re-enabling: %v", err)
	}

	// Password change by the user needs the current password.
	_, err = alice.ChangePassword(e.ctx, &iamv1.ChangePasswordRequest{CurrentPassword: "wrong wrong wrong", NewPassword: "another good passphrase"})
	wantField(t, err, connect.CodeInvalidArgument, "current_password", "not your current password")
	_, err = alice.ChangePassword(e.ctx, &iamv1.ChangePasswordRequest{CurrentPassword: goodPassword, NewPassword: "short"})
	wantField(t, err, connect.CodeInvalidArgument, "new_password", "at least 12")
	if _, err := alice.ChangePassword(e.ctx, &iamv1.ChangePasswordRequest{CurrentPassword: goodPassword, NewPassword: "another good passphrase"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client("").Login(e.ctx, &iamv1.LoginRequest{User: "alice", Password: goodPassword, ReturnToken: true})
	wantCode(t, err, connect.CodeUnauthenticated)
	if _, err := e.client("").Login(e.ctx, &iamv1.LoginRequest{User: "Alice", Password: "another good passphrase", ReturnToken: true}); err != nil {
		t.Fatalf("login with new password (name in another case): %v", err)
	}

	// Service accounts have no password.
	if _, err := e.admin.CreateUser(e.ctx, &iamv1.CreateUserRequest{Name: "ci", ServiceAccount: true}); err != nil {
		t.Fatal(err)
	}
	_, err = e.admin.SetUserPassword(e.ctx, &iamv1.SetUserPasswordRequest{Name: "ci", Password: goodPassword})
	wantCode(t, err, connect.CodeFailedPrecondition)
}

func TestGroups(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice")
	e.createUser("bob")
	before := e.head()
	_, err := e.admin.CreateGroup(e.ctx, &iamv1.CreateGroupRequest{Name: "shop", Members: []string{"alice", "carol"}})
	wantField(t, err, connect.CodeInvalidArgument, "members[1]", `user "carol" does not exist`)
	if e.head() != before {
		t.Fatal("rejected group was stored")
	}
	g, err := e.admin.CreateGroup(e.ctx, &iamv1.CreateGroupRequest{Name: "shop", Description: "Shop team", Members: []string{"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g.Group.Members, []string{"alice"}) {
		t.Fatalf("members = %v", g.Group.Members)
	}
	_, err = e.admin.CreateGroup(e.ctx, &iamv1.CreateGroupRequest{Name: "shop"})
	wantField(t, err, connect.CodeAlreadyExists, "name", `group "shop" already exists`)

	add, err := e.admin.AddGroupMembers(e.ctx, &iamv1.AddGroupMembersRequest{Group: "shop", Users: []string{"bob", "alice"}})
	if err != nil || !slices.Equal(add.Group.Members, []string{"alice", "bob"}) {
		t.Fatalf("AddGroupMembers = %v, %v", add, err)
	}
	_, err = e.admin.RemoveGroupMembers(e.ctx, &iamv1.RemoveGroupMembersRequest{Group: "shop", Users: []string{"dave"}})
	wantField(t, err, connect.CodeInvalidArgument, "users[0]", "not a member")
	rm, err := e.admin.RemoveGroupMembers(e.ctx, &iamv1.RemoveGroupMembersRequest{Group: "shop", Users: []string{"alice"}})
	if err != nil || !slices.Equal(rm.Group.Members, []string{"bob"}) {
		t.Fatalf("RemoveGroupMembers = %v, %v", rm, err)
	}
	u, _ := e.admin.GetUser(e.ctx, &iamv1.GetUserRequest{Name: "bob"})
	if !slices.Equal(u.User.Groups, []string{"shop"}) {
		t.Fatalf("bob's groups = %v", u.User.Groups)
	}

	// A deleted group takes its grants along: a new group of the same name
	// starts without them.
	e.grant(&iamv1.CreateGrantRequest{Group: "shop", Role: "admin", ScopeKind: "app", ScopeObject: "shop"})
	if _, err := e.admin.DeleteGroup(e.ctx, &iamv1.DeleteGroupRequest{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.CreateGroup(e.ctx, &iamv1.CreateGroupRequest{Name: "shop", Members: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	gs, _ := e.admin.ListGrants(e.ctx, &iamv1.ListGrantsRequest{Group: "shop"})
	if len(gs.Grants) != 0 {
		t.Fatalf("grants of re-created group = %v", gs.Grants)
	}
}

// TestRestartRebuildsState: a new service on the same log knows everything.
func TestRestartRebuildsState(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice")
	if _, err := e.admin.CreateGroup(e.ctx, &iamv1.CreateGroupRequest{Name: "ops", Members: []string{"alice"}}); err != nil {
		t.Fatal(err)
	}
	e.grant(&iamv1.CreateGrantRequest{Group: "ops", Role: "viewer", ScopeKind: "all"})
	tok, err := e.login("alice").CreateToken(e.ctx, &iamv1.CreateTokenRequest{Description: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	_ = e.svc.Stop(e.ctx)
	svc2, srv2 := e.serve()
	e.svc, e.srv = svc2, srv2
	who, err := e.client(tok.Secret).WhoAmI(e.ctx, &iamv1.WhoAmIRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if who.Name != "alice" || who.Kind != "token" || len(who.Grants) != 1 || who.Grants[0].Role != "viewer" || !slices.Equal(who.User.Groups, []string{"ops"}) {
		t.Fatalf("after restart WhoAmI = %v", who)
	}
}

// TestTwoReplicas: writes on one replica are seen by the other at once, and
// a race for one name has exactly one winner.
func TestTwoReplicas(t *testing.T) {
	e := newEnv(t)
	_, srvB := e.serve()
	b := iamv1connect.NewIAMServiceClient(srvB.Client(), srvB.URL, connect.WithInterceptors(apiauth.BearerToken(bootstrapToken)))
	e.createUser("alice")
	// A login session created on replica A works on replica B immediately.
	res, err := e.client("").Login(e.ctx, &iamv1.LoginRequest{User: "alice", Password: goodPassword, ReturnToken: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iamv1connect.NewIAMServiceClient(srvB.Client(), srvB.URL, connect.WithInterceptors(apiauth.BearerToken(res.Token))).WhoAmI(e.ctx, &iamv1.WhoAmIRequest{}); err != nil {
		t.Fatalf("session from A on B: %v", err)
	}
	errs := make(chan error, 2)
	for _, c := range []interface {
		CreateUser(ctx context.Context, r *iamv1.CreateUserRequest) (*iamv1.CreateUserResponse, error)
	}{e.admin, b} {
		go func() {
			_, err := c.CreateUser(e.ctx, &iamv1.CreateUserRequest{Name: "racer"})
			errs <- err
		}()
	}
	e1, e2 := <-errs, <-errs
	if (e1 == nil) == (e2 == nil) {
		t.Fatalf("racing creates: %v and %v, want exactly one success", e1, e2)
	}
	if e1 == nil {
		e1 = e2
	}
	wantCode(t, e1, connect.CodeAlreadyExists)
}
