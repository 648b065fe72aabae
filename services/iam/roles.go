package iam

import (
	"context"
	"fmt"
	"strings"

	ev "github.com/strata-edge/strata/gen/strata/events/iam/v1"
	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/listfilter"
	"github.com/strata-edge/strata/pkg/validate"
)

// checkRole validates a custom role's fields.
func (s *Service) checkRole(name, description string, perms []string) (authz.Role, error) {
	var vs apierr.Fields
	vs.Add("name", validate.Name(name))
	vs.Add("description", checkText(description, maxDescriptionLen))
	r, err := authz.NewRole(name, description, perms, s.known)
	if err != nil {
		vs = append(vs, apierr.Violations(err)...)
	}
	return r, vs.Err()
}

func (s *Service) roleProto(name string) *iamv1.Role {
	var out *iamv1.Role
	s.proj.Read(func(st *state) {
		for _, r := range s.rolesOf(st) {
			if r.Name == name {
				out = r
			}
		}
	})
	return out
}

func (h *handler) CreateRole(ctx context.Context, req *iamv1.CreateRoleRequest) (*iamv1.CreateRoleResponse, error) {
	if authz.IsBuiltInRoleName(req.Name) {
		return nil, h.fail(alreadyExists("name", fmt.Sprintf("%q is a built-in role", req.Name)))
	}
	if _, err := h.checkRole(req.Name, req.Description, req.Permissions); err != nil {
		return nil, h.fail(err)
	}
	err := h.exec(ctx, "", func(st *state) (change, error) { return st.createRole(req) })
	return apierr.Reply(h.log, &iamv1.CreateRoleResponse{Role: h.roleProto(req.Name)}, err)
}

func (h *handler) ListRoles(_ context.Context, req *iamv1.ListRolesRequest) (*iamv1.ListRolesResponse, error) {
	var all []*iamv1.Role
	h.proj.Read(func(st *state) { all = h.rolesOf(st) })
	// Built-in roles first in their fixed order, then custom ones by name.
	keys := make(map[string]string, len(all))
	for i, r := range all {
		if r.GetBuiltIn() {
			keys[r.GetName()] = listfilter.Key("0", listfilter.Asc(uint64(i)))
		} else {
			keys[r.GetName()] = listfilter.Key("1", r.GetName())
		}
	}
	out := &iamv1.ListRolesResponse{}
	var err error
	out.Roles, out.NextPageToken, err = listfilter.Paged(roleSchema, pageOf(req.PageSize, req.PageToken, req.Filter, ""), all,
		func(r *iamv1.Role) string { return keys[r.GetName()] })
	return apierr.Reply(h.log, out, err)
}

func (h *handler) UpdateRole(ctx context.Context, req *iamv1.UpdateRoleRequest) (*iamv1.UpdateRoleResponse, error) {
	if authz.IsBuiltInRoleName(req.Name) {
		return nil, h.fail(apierr.FailedPrecondition(fmt.Sprintf("%q is a built-in role and cannot be changed", req.Name)))
	}
	r, err := h.checkRole(req.Name, req.Description, req.Permissions)
	if err != nil {
		return nil, h.fail(err)
	}
	err = h.exec(ctx, "", func(st *state) (change, error) { return st.updateRole(req, r, h.bootstrapHash) })
	return apierr.Reply(h.log, &iamv1.UpdateRoleResponse{Role: h.roleProto(req.Name)}, err)
}

func (h *handler) DeleteRole(ctx context.Context, req *iamv1.DeleteRoleRequest) (*iamv1.DeleteRoleResponse, error) {
	if authz.IsBuiltInRoleName(req.Name) {
		return nil, h.fail(apierr.FailedPrecondition(fmt.Sprintf("%q is a built-in role and cannot be deleted", req.Name)))
	}
	err := h.exec(ctx, "", func(st *state) (change, error) { return st.deleteRole(req.Name) })
	return apierr.Reply(h.log, &iamv1.DeleteRoleResponse{}, err)
}

func (h *handler) ListPermissions(_ context.Context, req *iamv1.ListPermissionsRequest) (*iamv1.ListPermissionsResponse, error) {
	var all []*iamv1.Permission
	keys := map[string]string{}
	for i, p := range h.known {
		all = append(all, &iamv1.Permission{Name: p, Procedures: h.rules.Procedures(p)})
		keys[p] = listfilter.Asc(uint64(i))
	}
	out := &iamv1.ListPermissionsResponse{}
	var err error
	out.Permissions, out.NextPageToken, err = listfilter.Paged(permissionSchema, pageOf(req.PageSize, req.PageToken, req.Filter, ""), all,
		func(p *iamv1.Permission) string { return keys[p.GetName()] })
	return apierr.Reply(h.log, out, err)
}

// createRole decides CreateRole (permissions are checked before).
func (st *state) createRole(req *iamv1.CreateRoleRequest) (change, error) {
	if st.roles[req.Name] != nil {
		return change{}, alreadyExists("name", fmt.Sprintf("role %q already exists", req.Name))
	}
	return change{stream: roleStream(req.Name), events: msgs(&ev.RoleCreated{Name: req.Name, Description: req.Description, Permissions: req.Permissions})}, nil
}

// updateRole decides UpdateRole to r, the compiled new definition; boot is
// the bootstrap token's hash.
func (st *state) updateRole(req *iamv1.UpdateRoleRequest, r authz.Role, boot string) (change, error) {
	if st.roles[req.Name] == nil {
		return change{}, apierr.NotFound("role", req.Name)
	}
	if err := st.keepsAnAdmin(boot, without{role: req.Name, roleAfter: &r}); err != nil {
		return change{}, err
	}
	return change{stream: roleStream(req.Name), events: msgs(&ev.RoleUpdated{Name: req.Name, Description: req.Description, Permissions: req.Permissions})}, nil
}

// deleteRole decides DeleteRole: no grant may use the role.
func (st *state) deleteRole(name string) (change, error) {
	if st.roles[name] == nil {
		return change{}, apierr.NotFound("role", name)
	}
	var used []string
	for _, g := range st.grants {
		if g.role == name {
			used = append(used, g.id)
		}
	}
	if len(used) > 0 {
		return change{}, apierr.FailedPrecondition(fmt.Sprintf("role %q is used by grants %s: delete them first", name, strings.Join(used, ", ")))
	}
	return change{stream: roleStream(name), events: msgs(&ev.RoleDeleted{Name: name})}, nil
}
