package authz

import (
	"fmt"
	"slices"
	"strings"

	"github.com/strata-edge/strata/pkg/apierr"
)

// Built-in role names.
const (
	// RoleSuperAdmin may do everything.
	RoleSuperAdmin = "super_admin"
	// RoleAdmin may do everything except manage IAM (users, groups, roles,
	// grants, other users' tokens, the IAM part of the audit trail).
	RoleAdmin = "admin"
	// RoleViewer may read everything except IAM.
	RoleViewer = "viewer"
)

// ServiceIAM is the service segment of IAM permissions, which only super_admin
// (and custom roles naming them) hold.
const ServiceIAM = "iam"

// VerbRead is the verb of permissions that change nothing.
const VerbRead = "read"

// Role is a named set of permissions.
type Role struct {
	Name        string
	Description string
	BuiltIn     bool
	// builtin decides for built-in roles; patterns for custom ones.
	builtin  func(Permission) bool
	patterns []Pattern
}

// BuiltInRoles returns super_admin, admin and viewer.
func BuiltInRoles() []Role {
	return []Role{
		{Name: RoleSuperAdmin, BuiltIn: true, Description: "Everything, including users, groups, roles, grants and tokens.",
			builtin: func(Permission) bool { return true }},
		{Name: RoleAdmin, BuiltIn: true, Description: "Everything except identity and access management.",
			builtin: func(p Permission) bool { return p.Service != ServiceIAM }},
		{Name: RoleViewer, BuiltIn: true, Description: "Read everything except identity and access management.",
			builtin: func(p Permission) bool { return p.Service != ServiceIAM && p.Verb == VerbRead }},
	}
}

// BuiltInRole returns the built-in role called name.
func BuiltInRole(name string) (Role, bool) {
	for _, r := range BuiltInRoles() {
		if r.Name == name {
			return r, true
		}
	}
	return Role{}, false
}

// NewRole returns a custom role. Each pattern must parse and, when known is
// not nil, match at least one of the known permissions (a typo would otherwise
// grant nothing, silently). Errors name the pattern's index.
func NewRole(name, description string, patterns []string, known []string) (Role, error) {
	r := Role{Name: name, Description: description}
	if len(patterns) == 0 {
		return Role{}, apierr.Invalid(apierr.FieldViolation{Field: "permissions", Reason: "a role needs at least one permission"})
	}
	seen := map[string]bool{}
	for i, s := range patterns {
		field := fmt.Sprintf("permissions[%d]", i)
		p, err := ParsePattern(s)
		if err != nil {
			return Role{}, apierr.Invalid(apierr.FieldViolation{Field: field, Reason: err.Error()})
		}
		if seen[p.String()] {
			return Role{}, apierr.Invalid(apierr.FieldViolation{Field: field, Reason: fmt.Sprintf("%q is listed twice", s)})
		}
		seen[p.String()] = true
		if known != nil && !slices.ContainsFunc(known, p.Matches) {
			return Role{}, apierr.Invalid(apierr.FieldViolation{Field: field, Reason: fmt.Sprintf("%q matches no permission of this server (see `strata role permissions`)", s)})
		}
		r.patterns = append(r.patterns, p)
	}
	return r, nil
}

// Allows reports whether the role holds the permission named perm.
func (r Role) Allows(perm string) bool {
	if r.builtin != nil {
		p, err := ParsePermission(perm)
		return err == nil && r.builtin(p)
	}
	for _, p := range r.patterns {
		if p.Matches(perm) {
			return true
		}
	}
	return false
}

// Expand returns the known permissions the role holds, sorted.
func (r Role) Expand(known []string) []string {
	var out []string
	for _, k := range known {
		if r.Allows(k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// IsBuiltInRoleName reports whether name is reserved for a built-in role.
func IsBuiltInRoleName(name string) bool {
	_, ok := BuiltInRole(strings.ToLower(name))
	return ok
}
