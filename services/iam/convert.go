package iam

import (
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/pkg/authz"
)

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func userProto(u *user) *iamv1.User {
	return &iamv1.User{
		Name: u.name, DisplayName: u.displayName, Email: u.email, Disabled: u.disabled, Kind: u.kind,
		Source: u.source, Groups: sortedKeys(u.groups), CreatedAt: ts(u.createdAt), HasPassword: u.passwordHash != "",
	}
}

func groupProto(g *group) *iamv1.Group {
	return &iamv1.Group{Name: g.name, Description: g.description, Members: sortedKeys(g.members), CreatedAt: ts(g.createdAt)}
}

func grantProto(g *grant) *iamv1.Grant {
	return &iamv1.Grant{Id: g.id, User: g.user, Group: g.group, Role: g.role,
		Scope: proto.Clone(g.scope).(*iamv1.Scope), CreatedAt: ts(g.createdAt), CreatedBy: g.createdBy}
}

func (s *Service) tokenProto(t *token) *iamv1.Token {
	last := t.lastUsed
	if mem := s.tokenUses.get(t.id); mem.After(last) {
		last = mem
	}
	return &iamv1.Token{Id: t.id, Description: t.description, User: t.user, CreatedAt: ts(t.createdAt),
		ExpiresAt: ts(t.expiresAt), LastUsedAt: ts(last), Revoked: t.revoked, CreatedBy: t.createdBy,
		Expired: !t.expiresAt.IsZero() && !s.now().Before(t.expiresAt)}
}

// roles returns the built-in roles (with what they expand to) and the custom
// ones, built-ins first, then by name.
func (s *Service) rolesOf(st *state) []*iamv1.Role {
	var out []*iamv1.Role
	for _, r := range authz.BuiltInRoles() {
		out = append(out, &iamv1.Role{Name: r.Name, Description: r.Description, Permissions: r.Expand(s.known), BuiltIn: true})
	}
	var custom []*iamv1.Role
	for _, r := range st.roles {
		custom = append(custom, &iamv1.Role{Name: r.name, Description: r.description, Permissions: slices.Clone(r.permissions)})
	}
	slices.SortFunc(custom, func(a, b *iamv1.Role) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	return append(out, custom...)
}

// msgs is a shorthand for a list of event payloads.
func msgs(m ...proto.Message) []proto.Message { return m }
