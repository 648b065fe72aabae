package iam

import (
	"errors"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ev "github.com/strata-edge/strata/gen/strata/events/iam/v1"
	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/pkg/aggtest"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/eventstore"
)

// givenState folds events, encoded as the log stores them, into a new state.
func givenState(t *testing.T, events ...proto.Message) *state {
	t.Helper()
	st := newState()
	aggtest.Given(aggtest.Func(func(pos uint64, m proto.Message) {
		typ, err := registry.TypeOf(m)
		if err != nil {
			t.Fatal(err)
		}
		data, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.apply(eventstore.Event{Position: pos, Stream: streamPrefix + "test", Type: typ, Data: data}); err != nil {
			t.Fatal(err)
		}
	}), events...)
	return st
}

// thenExists fails t unless the command was refused, without events, as a
// duplicate named by field.
func thenExists(t *testing.T, c change, err error, field string) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeAlreadyExists || !strings.HasPrefix(ce.Message(), field+":") || len(c.events) != 0 {
		t.Fatalf("got %v, events %v; want already_exists on %s", err, c.events, field)
	}
}

var (
	ann       = &ev.UserCreated{Name: "ann", Kind: iamv1.UserKind_USER_KIND_HUMAN}
	bob       = &ev.UserCreated{Name: "bob", Kind: iamv1.UserKind_USER_KIND_HUMAN}
	ops       = &ev.GroupCreated{Name: "ops"}
	opsAnn    = &ev.GroupMembersAdded{Group: "ops", Users: []string{"ann"}}
	all       = &iamv1.Scope{Kind: authz.KindAll}
	opsSuper  = &ev.GrantCreated{Id: "grt_ops", Group: "ops", Role: "super_admin", Scope: all}
	bootGone  = &ev.BootstrapTokenRevoked{TokenHash: "boot"}
	auditors  = &ev.RoleCreated{Name: "auditor", Permissions: []string{"iam.user.read"}}
	annAudits = &ev.GrantCreated{Id: "grt_aud", User: "ann", Role: "auditor", Scope: all}
)

func TestGroupDecisions(t *testing.T) {
	st := givenState(t, ann, bob)
	c, err := st.createGroup(&iamv1.CreateGroupRequest{Name: "ops", Members: []string{"ann", "ann", "bob"}})
	aggtest.Then(t, c.events, err, ops, &ev.GroupMembersAdded{Group: "ops", Users: []string{"ann", "bob"}})
	if c.stream != groupStream("ops") {
		t.Fatalf("stream %q", c.stream)
	}
	c, err = st.createGroup(&iamv1.CreateGroupRequest{Name: "ops", Members: []string{"carl"}})
	aggtest.Rejected(t, c.events, err, apierr.KindInvalid, "members[0]")

	st = givenState(t, ann, bob, ops, opsAnn)
	c, err = st.createGroup(&iamv1.CreateGroupRequest{Name: "ops"})
	thenExists(t, c, err, "name")
	c, err = st.addMembers("ops", []string{"ann", "bob"})
	aggtest.Then(t, c.events, err, &ev.GroupMembersAdded{Group: "ops", Users: []string{"bob"}})
	c, err = st.addMembers("ops", []string{"ann"})
	aggtest.Then(t, c.events, err) // a member already: no change
	c, err = st.addMembers("devs", []string{"ann"})
	aggtest.Rejected(t, c.events, err, apierr.KindNotFound, "")
	c, err = st.removeMembers("ops", []string{"bob"}, "")
	aggtest.Rejected(t, c.events, err, apierr.KindInvalid, "users[0]")
	c, err = st.removeMembers("ops", []string{"ann"}, "")
	aggtest.Then(t, c.events, err, &ev.GroupMembersRemoved{Group: "ops", Users: []string{"ann"}})
	c, err = st.deleteGroup("ops", "")
	aggtest.Then(t, c.events, err, &ev.GroupDeleted{Name: "ops"})
	c, err = st.deleteGroup("devs", "")
	aggtest.Rejected(t, c.events, err, apierr.KindNotFound, "")
}

// The last IAM administrator cannot be taken away once the bootstrap token
// is revoked; while it is live, it can repair IAM, so nothing is refused.
func TestKeepsAnAdmin(t *testing.T) {
	st := givenState(t, ann, ops, opsAnn, opsSuper, bootGone)
	c, err := st.deleteGroup("ops", "boot")
	aggtest.Rejected(t, c.events, err, apierr.KindFailedPrecondition, "")
	c, err = st.removeMembers("ops", []string{"ann"}, "boot")
	aggtest.Rejected(t, c.events, err, apierr.KindFailedPrecondition, "")
	c, err = st.deleteGrant("grt_ops", "boot")
	aggtest.Rejected(t, c.events, err, apierr.KindFailedPrecondition, "")

	st = givenState(t, ann, ops, opsAnn, opsSuper)
	c, err = st.deleteGrant("grt_ops", "boot")
	aggtest.Then(t, c.events, err, &ev.GrantDeleted{Id: "grt_ops"})
	c, err = st.deleteGrant("grt_none", "boot")
	aggtest.Rejected(t, c.events, err, apierr.KindNotFound, "")

	// A second administrator makes the change safe.
	st = givenState(t, ann, bob, ops, opsAnn, opsSuper, &ev.GrantCreated{Id: "grt_bob", User: "bob", Role: "super_admin", Scope: all}, bootGone)
	c, err = st.deleteGroup("ops", "boot")
	aggtest.Then(t, c.events, err, &ev.GroupDeleted{Name: "ops"})
}

func TestRoleDecisions(t *testing.T) {
	st := givenState(t, ann)
	c, err := st.createRole(&iamv1.CreateRoleRequest{Name: "auditor", Permissions: []string{"iam.user.read"}})
	aggtest.Then(t, c.events, err, auditors)
	c, err = st.deleteRole("auditor")
	aggtest.Rejected(t, c.events, err, apierr.KindNotFound, "")
	c, err = st.updateRole(&iamv1.UpdateRoleRequest{Name: "auditor"}, authz.Role{Name: "auditor"}, "")
	aggtest.Rejected(t, c.events, err, apierr.KindNotFound, "")

	st = givenState(t, ann, auditors, annAudits)
	c, err = st.createRole(&iamv1.CreateRoleRequest{Name: "auditor"})
	thenExists(t, c, err, "name")
	c, err = st.deleteRole("auditor")
	aggtest.Rejected(t, c.events, err, apierr.KindFailedPrecondition, "") // used by grt_aud
	c, err = st.updateRole(&iamv1.UpdateRoleRequest{Name: "auditor", Description: "reads"}, authz.Role{Name: "auditor"}, "")
	aggtest.Then(t, c.events, err, &ev.RoleUpdated{Name: "auditor", Description: "reads"})

	// A custom role that makes its holder the last administrator keeps the
	// permission that does.
	admins := &ev.RoleCreated{Name: "admins", Permissions: []string{adminPermission}}
	st = givenState(t, ann, admins, &ev.GrantCreated{Id: "grt_a", User: "ann", Role: "admins", Scope: all}, bootGone)
	c, err = st.updateRole(&iamv1.UpdateRoleRequest{Name: "admins"}, authz.Role{Name: "admins"}, "boot")
	aggtest.Rejected(t, c.events, err, apierr.KindFailedPrecondition, "")
}

func TestGrantDecisions(t *testing.T) {
	st := givenState(t, ann, ops)
	c, err := st.createGrant("grt_1", &iamv1.CreateGrantRequest{User: "ann", Role: "viewer"}, all)
	aggtest.Then(t, c.events, err, &ev.GrantCreated{Id: "grt_1", User: "ann", Role: "viewer", Scope: all})
	c, err = st.createGrant("grt_2", &iamv1.CreateGrantRequest{User: "carl", Role: "viewer"}, all)
	aggtest.Rejected(t, c.events, err, apierr.KindInvalid, "user")
	c, err = st.createGrant("grt_2", &iamv1.CreateGrantRequest{Group: "devs", Role: "viewer"}, all)
	aggtest.Rejected(t, c.events, err, apierr.KindInvalid, "group")
	c, err = st.createGrant("grt_2", &iamv1.CreateGrantRequest{User: "ann", Role: "nobody"}, all)
	aggtest.Rejected(t, c.events, err, apierr.KindInvalid, "role")

	st = givenState(t, ann, ops, &ev.GrantCreated{Id: "grt_1", User: "ann", Role: "viewer", Scope: all})
	c, err = st.createGrant("grt_2", &iamv1.CreateGrantRequest{User: "ann", Role: "viewer"}, all)
	thenExists(t, c, err, "role")
	app := &iamv1.Scope{Kind: authz.KindApp, Id: "app_1"}
	c, err = st.createGrant("grt_2", &iamv1.CreateGrantRequest{User: "ann", Role: "viewer"}, app)
	aggtest.Then(t, c.events, err, &ev.GrantCreated{Id: "grt_2", User: "ann", Role: "viewer", Scope: app})
}

var (
	robot     = &ev.UserCreated{Name: "robot", Kind: iamv1.UserKind_USER_KIND_SERVICE_ACCOUNT}
	annSuper  = &ev.GrantCreated{Id: "grt_ann", User: "ann", Role: "super_admin", Scope: all}
	annAsUser = apiauth.Principal{Name: "ann", Kind: kindUser, CredentialID: "ses_1"}
)

func TestUserDecisions(t *testing.T) {
	st := givenState(t, ann)
	c, err := st.createUser(&iamv1.CreateUserRequest{Name: "robot", DisplayName: "CI", ServiceAccount: true}, "")
	aggtest.Then(t, c.events, err, &ev.UserCreated{Name: "robot", DisplayName: "CI", Kind: iamv1.UserKind_USER_KIND_SERVICE_ACCOUNT, Source: sourceLocal})
	if c.stream != userStream("robot") {
		t.Fatalf("stream %q", c.stream)
	}
	c, err = st.createUser(&iamv1.CreateUserRequest{Name: "ann"}, "")
	thenExists(t, c, err, "name")
	err = checkCreateUser(&iamv1.CreateUserRequest{Name: "robot", ServiceAccount: true, Password: "a long passphrase here"})
	aggtest.Rejected(t, nil, err, apierr.KindInvalid, "password")
	err = checkCreateUser(&iamv1.CreateUserRequest{Name: "carl", Password: "carl"})
	aggtest.Rejected(t, nil, err, apierr.KindInvalid, "password")
	err = checkCreateUser(&iamv1.CreateUserRequest{Name: "no spaces"})
	aggtest.Rejected(t, nil, err, apierr.KindInvalid, "name")

	c, err = st.updateUser(&iamv1.UpdateUserRequest{Name: "ann", DisplayName: "Ann"})
	aggtest.Then(t, c.events, err, &ev.UserUpdated{Name: "ann", DisplayName: "Ann"})
	c, err = st.updateUser(&iamv1.UpdateUserRequest{Name: "ann"})
	aggtest.Then(t, c.events, err) // the same values
	c, err = st.updateUser(&iamv1.UpdateUserRequest{Name: "carl"})
	aggtest.Rejected(t, c.events, err, apierr.KindNotFound, "")

	c, err = st.setPassword("ann", "hash")
	aggtest.Then(t, c.events, err, &ev.UserPasswordSet{Name: "ann", PasswordHash: "hash"})
	c, err = st.setPassword("carl", "hash")
	aggtest.Rejected(t, c.events, err, apierr.KindNotFound, "")
	st = givenState(t, ann, robot, &ev.UserCreated{Name: "lee", Kind: iamv1.UserKind_USER_KIND_HUMAN, Source: sourceLDAP})
	c, err = st.setPassword("robot", "hash")
	aggtest.Rejected(t, c.events, err, apierr.KindFailedPrecondition, "")
	c, err = st.setPassword("lee", "hash")
	aggtest.Rejected(t, c.events, err, apierr.KindFailedPrecondition, "")
}

func TestSetUserDisabledDecision(t *testing.T) {
	st := givenState(t, ann, bob)
	c, err := st.setUserDisabled("bob", true, annAsUser, "boot")
	aggtest.Then(t, c.events, err, &ev.UserDisabledSet{Name: "bob", Disabled: true})
	c, err = st.setUserDisabled("bob", false, annAsUser, "boot")
	aggtest.Then(t, c.events, err) // enabled already
	c, err = st.setUserDisabled("ann", true, annAsUser, "boot")
	aggtest.Rejected(t, c.events, err, apierr.KindFailedPrecondition, "") // yourself
	c, err = st.setUserDisabled("ann", true, apiauth.BootstrapPrincipal, "boot")
	aggtest.Then(t, c.events, err, &ev.UserDisabledSet{Name: "ann", Disabled: true})
	c, err = st.setUserDisabled("carl", true, annAsUser, "boot")
	aggtest.Rejected(t, c.events, err, apierr.KindNotFound, "")
	// Not the last administrator once the bootstrap token is revoked.
	st = givenState(t, ann, bob, annSuper, bootGone)
	c, err = st.setUserDisabled("ann", true, apiauth.Principal{Name: "bob", Kind: kindUser}, "boot")
	aggtest.Rejected(t, c.events, err, apierr.KindFailedPrecondition, "")
	st = givenState(t, ann, bob, annSuper, bootGone, &ev.UserDisabledSet{Name: "ann", Disabled: true})
	c, err = st.setUserDisabled("ann", false, apiauth.Principal{Name: "bob", Kind: kindUser}, "boot")
	aggtest.Then(t, c.events, err, &ev.UserDisabledSet{Name: "ann", Disabled: false})
}

func TestTokenDecisions(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	in := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(d)) }
	st := givenState(t, ann, robot, &ev.UserCreated{Name: "gone", Kind: iamv1.UserKind_USER_KIND_SERVICE_ACCOUNT},
		&ev.UserDisabledSet{Name: "gone", Disabled: true},
		&ev.TokenCreated{Id: "tok_short", User: "ann", ExpiresAt: in(time.Hour)})
	own := newToken{id: "tok_1", owner: "ann", secretHash: "h", caller: annAsUser, now: now}
	c, err := st.createToken(own)
	aggtest.Then(t, c.events, err, &ev.TokenCreated{Id: "tok_1", User: "ann", SecretHash: "h"})
	forRobot := newToken{id: "tok_2", owner: "robot", caller: annAsUser, forOther: true, mayWrite: true, expires: in(time.Minute), now: now}
	c, err = st.createToken(forRobot)
	aggtest.Then(t, c.events, err, &ev.TokenCreated{Id: "tok_2", User: "robot", ExpiresAt: in(time.Minute)})

	for name, cmd := range map[string]newToken{
		"unknown owner":     {id: "tok_3", owner: "carl", caller: annAsUser, forOther: true, mayWrite: true},
		"disabled owner":    {id: "tok_3", owner: "gone", caller: annAsUser, forOther: true, mayWrite: true},
		"for another human": {id: "tok_3", owner: "ann", caller: apiauth.BootstrapPrincipal, forOther: true, mayWrite: true},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := st.createToken(cmd)
			aggtest.Rejected(t, c.events, err, apierr.KindInvalid, "user")
		})
	}
	// A service account without token.write may not mint its own tokens.
	c, err = st.createToken(newToken{id: "tok_3", owner: "robot", caller: apiauth.Principal{Name: "robot", Kind: kindToken}})
	if connect.CodeOf(err) != connect.CodePermissionDenied || len(c.events) != 0 {
		t.Fatalf("service account's own token: %v %v, want permission_denied", c.events, err)
	}
	// A token never outlives the token that created it.
	byShort := newToken{id: "tok_3", owner: "ann", caller: apiauth.Principal{Name: "ann", Kind: kindToken, CredentialID: "tok_short"}, now: now}
	c, err = st.createToken(byShort)
	aggtest.Rejected(t, c.events, err, apierr.KindInvalid, "ttl_seconds")
	byShort.expires = in(30 * time.Minute)
	c, err = st.createToken(byShort)
	aggtest.Then(t, c.events, err, &ev.TokenCreated{Id: "tok_3", User: "ann", ExpiresAt: in(30 * time.Minute)})

	c, err = st.revokeToken("tok_short", annAsUser, false)
	aggtest.Then(t, c.events, err, &ev.TokenRevoked{Id: "tok_short"})
	c, err = st.revokeToken("tok_short", apiauth.Principal{Name: "bob", Kind: kindUser}, false)
	aggtest.Rejected(t, c.events, err, apierr.KindNotFound, "") // others' tokens look missing
	c, err = st.revokeToken("tok_short", apiauth.BootstrapPrincipal, false)
	aggtest.Rejected(t, c.events, err, apierr.KindNotFound, "")
	c, err = st.revokeToken("tok_short", apiauth.Principal{Name: "bob", Kind: kindUser}, true)
	aggtest.Then(t, c.events, err, &ev.TokenRevoked{Id: "tok_short"})
	st = givenState(t, ann, &ev.TokenCreated{Id: "tok_short", User: "ann"}, &ev.TokenRevoked{Id: "tok_short"})
	c, err = st.revokeToken("tok_short", annAsUser, false)
	aggtest.Then(t, c.events, err) // revoked already
}

func TestRevokeBootstrapDecision(t *testing.T) {
	st := givenState(t, ann)
	c, err := st.revokeBootstrap("boot")
	aggtest.Rejected(t, c.events, err, apierr.KindFailedPrecondition, "") // nobody could manage IAM
	st = givenState(t, ann, annSuper)
	c, err = st.revokeBootstrap("boot")
	aggtest.Then(t, c.events, err, bootGone)
	if c.stream != bootstrapStream {
		t.Fatalf("stream %q", c.stream)
	}
	st = givenState(t, ann, annSuper, bootGone)
	c, err = st.revokeBootstrap("boot")
	aggtest.Then(t, c.events, err) // revoked already
}
