package iam

import (
	"context"
	"fmt"
	"github.com/strata-edge/strata/pkg/passhash"

	ev "github.com/strata-edge/strata/gen/strata/events/iam/v1"
	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/listfilter"
	"github.com/strata-edge/strata/pkg/validate"
)

// handler implements iamv1connect.IAMServiceHandler.
type handler struct{ *Service }

// fail maps a domain error to a Connect error.
func (s *Service) fail(err error) error {
	return apierr.ToConnectLog(s.log, err)
}

// Sources of users.
const (
	sourceLocal = "local"
	sourceLDAP  = "ldap"
)

func (s *Service) userProto(name string) *iamv1.User {
	var out *iamv1.User
	s.proj.Read(func(st *state) {
		if u := st.users[name]; u != nil {
			out = userProto(u)
		}
	})
	return out
}

func (h *handler) CreateUser(ctx context.Context, req *iamv1.CreateUserRequest) (*iamv1.CreateUserResponse, error) {
	if err := checkCreateUser(req); err != nil {
		return nil, h.fail(err)
	}
	hash := ""
	if req.Password != "" {
		hash = passhash.Hash(req.Password, h.argon)
	}
	err := h.exec(ctx, "", func(st *state) (change, error) { return st.createUser(req, hash) })
	return apierr.Reply(h.log, &iamv1.CreateUserResponse{User: h.userProto(req.Name)}, err)
}

func (h *handler) GetUser(_ context.Context, req *iamv1.GetUserRequest) (*iamv1.GetUserResponse, error) {
	u := h.userProto(req.Name)
	if u == nil {
		return nil, h.fail(apierr.NotFound("user", req.Name))
	}
	return &iamv1.GetUserResponse{User: u}, nil
}

func (h *handler) ListUsers(_ context.Context, req *iamv1.ListUsersRequest) (*iamv1.ListUsersResponse, error) {
	out := &iamv1.ListUsersResponse{}
	h.proj.Read(func(st *state) {
		for _, name := range sortedKeys(st.users) {
			out.Users = append(out.Users, userProto(st.users[name]))
		}
	})
	var err error
	out.Users, out.NextPageToken, err = listfilter.Paged(userSchema, pageOf(req.PageSize, req.PageToken, req.Filter, ""), out.Users, (*iamv1.User).GetName)
	return apierr.Reply(h.log, out, err)
}

func (h *handler) UpdateUser(ctx context.Context, req *iamv1.UpdateUserRequest) (*iamv1.UpdateUserResponse, error) {
	var vs apierr.Fields
	vs.Add("display_name", checkText(req.DisplayName, maxDisplayNameLen))
	vs.Add("email", checkEmail(req.Email))
	if err := vs.Err(); err != nil {
		return nil, h.fail(err)
	}
	err := h.exec(ctx, "", func(st *state) (change, error) { return st.updateUser(req) })
	return apierr.Reply(h.log, &iamv1.UpdateUserResponse{User: h.userProto(req.Name)}, err)
}

func (h *handler) SetUserDisabled(ctx context.Context, req *iamv1.SetUserDisabledRequest) (*iamv1.SetUserDisabledResponse, error) {
	caller, _ := apiauth.PrincipalFrom(ctx)
	err := h.exec(ctx, "", func(st *state) (change, error) {
		return st.setUserDisabled(req.Name, req.Disabled, caller, h.bootstrapHash)
	})
	return apierr.Reply(h.log, &iamv1.SetUserDisabledResponse{User: h.userProto(req.Name)}, err)
}

func (h *handler) SetUserPassword(ctx context.Context, req *iamv1.SetUserPasswordRequest) (*iamv1.SetUserPasswordResponse, error) {
	if r := checkPassword(req.Name, req.Password); r != "" {
		return nil, h.fail(invalid("password", r))
	}
	hash := passhash.Hash(req.Password, h.argon)
	err := h.exec(ctx, "", func(st *state) (change, error) { return st.setPassword(req.Name, hash) })
	return apierr.Reply(h.log, &iamv1.SetUserPasswordResponse{}, err)
}

func passwordSettable(u *user) error {
	switch {
	case u.kind == iamv1.UserKind_USER_KIND_SERVICE_ACCOUNT:
		return apierr.FailedPrecondition(fmt.Sprintf("%q is a service account: it authenticates with API tokens, not a password", u.name))
	case u.source == sourceLDAP:
		return apierr.FailedPrecondition(fmt.Sprintf("the password of %q is managed by the LDAP directory", u.name))
	}
	return nil
}

func (h *handler) ChangePassword(ctx context.Context, req *iamv1.ChangePasswordRequest) (*iamv1.ChangePasswordResponse, error) {
	p, _ := apiauth.PrincipalFrom(ctx)
	if p.Kind != kindUser && p.Kind != kindToken {
		return nil, h.fail(apierr.FailedPrecondition("only users have passwords; the bootstrap token has none"))
	}
	if d := h.limits.users.wait(p.Name); d > 0 {
		return nil, tooManyFailures(p.Name, d)
	}
	var current string
	var u0 *user
	h.proj.Read(func(st *state) {
		if u := st.users[p.Name]; u != nil {
			current, u0 = u.passwordHash, u
		}
	})
	if u0 == nil {
		return nil, h.fail(apierr.NotFound("user", p.Name))
	}
	if err := passwordSettable(u0); err != nil {
		return nil, h.fail(err)
	}
	if current != "" {
		ok, err := passhash.Verify(current, req.CurrentPassword)
		if err != nil {
			return nil, h.fail(fmt.Errorf("stored password of %q: %w", p.Name, err))
		}
		if !ok {
			h.limits.users.take(p.Name)
			return nil, h.fail(invalid("current_password", "is not your current password"))
		}
	}
	if r := checkPassword(p.Name, req.NewPassword); r != "" {
		return nil, h.fail(invalid("new_password", r))
	}
	hash := passhash.Hash(req.NewPassword, h.argon)
	err := h.exec(ctx, "", func(st *state) (change, error) { return st.setPassword(p.Name, hash) })
	return apierr.Reply(h.log, &iamv1.ChangePasswordResponse{}, err)
}

// --- decisions on the state: the change to record or the refusal ---

// checkCreateUser checks CreateUser's fields: a service account has no
// password, a person's must be strong enough.
func checkCreateUser(req *iamv1.CreateUserRequest) error {
	var vs apierr.Fields
	vs.Add("name", validate.Name(req.Name))
	vs.Add("display_name", checkText(req.DisplayName, maxDisplayNameLen))
	vs.Add("email", checkEmail(req.Email))
	switch {
	case req.ServiceAccount && req.Password != "":
		vs.Add("password", "must be empty for a service account (service accounts authenticate with API tokens)")
	case req.Password != "":
		vs.Add("password", checkPassword(req.Name, req.Password))
	}
	return vs.Err()
}

// createUser decides CreateUser (checked, its password hashed to hash).
func (st *state) createUser(req *iamv1.CreateUserRequest, hash string) (change, error) {
	if st.users[req.Name] != nil {
		return change{}, alreadyExists("name", fmt.Sprintf("user %q already exists", req.Name))
	}
	kind := iamv1.UserKind_USER_KIND_HUMAN
	if req.ServiceAccount {
		kind = iamv1.UserKind_USER_KIND_SERVICE_ACCOUNT
	}
	return change{stream: userStream(req.Name), events: msgs(&ev.UserCreated{
		Name: req.Name, DisplayName: req.DisplayName, Email: req.Email, Kind: kind, Source: sourceLocal, PasswordHash: hash,
	})}, nil
}

// updateUser decides UpdateUser; the same values are no change.
func (st *state) updateUser(req *iamv1.UpdateUserRequest) (change, error) {
	u := st.users[req.Name]
	if u == nil {
		return change{}, apierr.NotFound("user", req.Name)
	}
	if u.displayName == req.DisplayName && u.email == req.Email {
		return change{}, nil
	}
	return change{stream: userStream(req.Name), events: msgs(&ev.UserUpdated{Name: req.Name, DisplayName: req.DisplayName, Email: req.Email})}, nil
}

// setUserDisabled decides SetUserDisabled by caller: nobody disables
// themselves or the last IAM administrator (boot: the bootstrap token's hash).
func (st *state) setUserDisabled(name string, disabled bool, caller apiauth.Principal, boot string) (change, error) {
	u := st.users[name]
	if u == nil {
		return change{}, apierr.NotFound("user", name)
	}
	if u.disabled == disabled {
		return change{}, nil
	}
	if disabled {
		if caller.Name == name && caller.Kind != apiauth.BootstrapPrincipal.Kind {
			return change{}, apierr.FailedPrecondition("you cannot disable yourself")
		}
		if err := st.keepsAnAdmin(boot, without{user: name}); err != nil {
			return change{}, err
		}
	}
	return change{stream: userStream(name), events: msgs(&ev.UserDisabledSet{Name: name, Disabled: disabled})}, nil
}

// setPassword decides SetUserPassword and ChangePassword (the new password
// hashed to hash) of a local person.
func (st *state) setPassword(name, hash string) (change, error) {
	u := st.users[name]
	if u == nil {
		return change{}, apierr.NotFound("user", name)
	}
	if err := passwordSettable(u); err != nil {
		return change{}, err
	}
	return change{stream: userStream(name), events: msgs(&ev.UserPasswordSet{Name: name, PasswordHash: hash})}, nil
}

// without describes a change whose effect on IAM administrators keepsAnAdmin
// checks.
type without struct {
	user      string          // disabled
	grant     string          // deleted
	group     string          // deleted
	membersOf string          // group losing members
	members   map[string]bool // the members it loses
	role      string          // custom role changed or deleted
	roleAfter *authz.Role     // its new definition; nil: deleted
}

// iamAdmins counts enabled users who could repair IAM (they hold
// iam.grant.write over everything), ignoring what w takes away.
func (st *state) iamAdmins(w without) int {
	n := 0
	for _, u := range st.users {
		if u.disabled || u.name == w.user {
			continue
		}
		for _, g := range st.grants {
			if g.id == w.grant || g.scope.GetKind() != authz.KindAll {
				continue
			}
			holds := g.user == u.name ||
				(g.group != "" && u.groups[g.group] && g.group != w.group && !(g.group == w.membersOf && w.members[u.name]))
			if !holds {
				continue
			}
			r, ok := st.role(g.role)
			if g.role == w.role {
				ok = w.roleAfter != nil
				if ok {
					r = *w.roleAfter
				}
			}
			if ok && r.Allows(adminPermission) {
				n++
				break
			}
		}
	}
	return n
}

// adminPermission is what makes a user able to repair IAM.
const adminPermission = "iam.grant.write"

// keepsAnAdmin refuses a change that would leave nobody able to manage IAM
// once the bootstrap token (hash boot, "": none) is gone.
func (st *state) keepsAnAdmin(boot string, w without) error {
	if boot != "" && !st.bootstrapRevoked[boot] {
		return nil
	}
	if st.iamAdmins(without{}) > 0 && st.iamAdmins(w) == 0 {
		return apierr.FailedPrecondition("refused: afterwards no enabled user could manage IAM (hold " + adminPermission +
			" over everything) and the bootstrap token is revoked; grant super_admin to someone else first")
	}
	return nil
}
