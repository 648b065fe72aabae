package iam

import (
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	ev "github.com/strata-edge/strata/gen/strata/events/iam/v1"
	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/pkg/aggtest"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/eventstore"
)

// givenState folds events, encoded as the log stores them, into a new state.
func givenState(t *testing.T, events ...proto.Message) *state {
	t.Helper()
	st := newState()
	aggtest.Given(aggtest.Func(func(pos uint64, m proto.Message) {
		typ, err := typeOf(m)
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
