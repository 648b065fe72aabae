package iam

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	ev "github.com/strata-edge/strata/gen/strata/events/iam/v1"
	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/ids"
	"github.com/strata-edge/strata/pkg/listfilter"
)

// resolveScope checks a grant's scope: "all", or an existing object of a
// kind some service resolves.
func (s *Service) resolveScope(ctx context.Context, kind, ref string) (*iamv1.Scope, error) {
	switch {
	case kind == "":
		return nil, invalid("scope_kind", `required: "all" or the kind of an object (`+kindList(s.resolvers)+`)`)
	case kind == authz.KindAll:
		if ref != "" {
			return nil, invalid("scope_object", `must be empty when scope_kind is "all"`)
		}
		return &iamv1.Scope{Kind: authz.KindAll}, nil
	case ref == "":
		return nil, invalid("scope_object", fmt.Sprintf("required: the id or name of the %s", kind))
	}
	obj, err := s.resolvers.Resolve(ctx, kind, ref)
	switch {
	case errors.Is(err, authz.ErrNoResolver):
		return nil, invalid("scope_kind", fmt.Sprintf("no service here resolves %q objects (known: all, %s)", kind, kindList(s.resolvers)))
	case errors.Is(err, authz.ErrUnknownObject):
		return nil, invalid("scope_object", fmt.Sprintf("%s %q does not exist", kind, ref))
	case err != nil:
		return nil, fmt.Errorf("resolve %s %q: %w", kind, ref, err)
	}
	return &iamv1.Scope{Kind: kind, Id: obj.ID, Name: obj.Name}, nil
}

func kindList(rs *authz.Resolvers) string {
	ks := rs.Kinds()
	if len(ks) == 0 {
		return "none registered"
	}
	return strings.Join(ks, ", ")
}

func (h *handler) CreateGrant(ctx context.Context, req *iamv1.CreateGrantRequest) (*iamv1.CreateGrantResponse, error) {
	if (req.User == "") == (req.Group == "") {
		return nil, h.fail(invalid("user", "set exactly one of user and group"))
	}
	scope, err := h.resolveScope(ctx, req.ScopeKind, req.ScopeObject)
	if err != nil {
		return nil, h.fail(err)
	}
	id := ids.New(prefixGrant)
	err = h.exec(ctx, "", func(st *state) (change, error) { return st.createGrant(id, req, scope) })
	if err != nil {
		return nil, h.fail(err)
	}
	var out *iamv1.Grant
	h.proj.Read(func(st *state) { out = grantProto(st.grants[id]) })
	return &iamv1.CreateGrantResponse{Grant: out}, nil
}

func (h *handler) ListGrants(_ context.Context, req *iamv1.ListGrantsRequest) (*iamv1.ListGrantsResponse, error) {
	out := &iamv1.ListGrantsResponse{}
	h.proj.Read(func(st *state) {
		for _, g := range st.grants {
			if (req.User == "" || g.user == req.User) && (req.Group == "" || g.group == req.Group) && (req.Role == "" || g.role == req.Role) {
				out.Grants = append(out.Grants, grantProto(g))
			}
		}
	})
	sortGrants(out.Grants)
	var err error
	out.Grants, out.NextPageToken, err = listfilter.Paged(grantSchema, pageOf(req.PageSize, req.PageToken, req.Filter, listfilter.Key(req.User, req.Group, req.Role)),
		out.Grants, func(g *iamv1.Grant) string { return timeKey(g.GetCreatedAt(), g.GetId()) })
	return apierr.Reply(h.log, out, err)
}

func sortGrants(gs []*iamv1.Grant) {
	slices.SortFunc(gs, func(a, b *iamv1.Grant) int {
		if c := a.CreatedAt.AsTime().Compare(b.CreatedAt.AsTime()); c != 0 {
			return c
		}
		return strings.Compare(a.Id, b.Id)
	})
}

func (h *handler) DeleteGrant(ctx context.Context, req *iamv1.DeleteGrantRequest) (*iamv1.DeleteGrantResponse, error) {
	err := h.exec(ctx, "", func(st *state) (change, error) { return st.deleteGrant(req.Id, h.bootstrapHash) })
	return apierr.Reply(h.log, &iamv1.DeleteGrantResponse{}, err)
}

// createGrant decides CreateGrant of grant id over scope (resolved before):
// its user or group and role exist, and no equal grant does.
func (st *state) createGrant(id string, req *iamv1.CreateGrantRequest, scope *iamv1.Scope) (change, error) {
	var vs apierr.Fields
	if req.User != "" && st.users[req.User] == nil {
		vs.Add("user", fmt.Sprintf("user %q does not exist", req.User))
	}
	if req.Group != "" && st.groups[req.Group] == nil {
		vs.Add("group", fmt.Sprintf("group %q does not exist", req.Group))
	}
	if _, ok := st.role(req.Role); !ok {
		vs.Add("role", fmt.Sprintf("role %q does not exist", req.Role))
	}
	if err := vs.Err(); err != nil {
		return change{}, err
	}
	for _, g := range st.grants {
		if g.user == req.User && g.group == req.Group && g.role == req.Role &&
			g.scope.GetKind() == scope.Kind && g.scope.GetId() == scope.Id {
			return change{}, alreadyExists("role", fmt.Sprintf("this grant exists already (%s)", g.id))
		}
	}
	return change{stream: grantStream(id), events: msgs(&ev.GrantCreated{
		Id: id, User: req.User, Group: req.Group, Role: req.Role, Scope: scope,
	})}, nil
}

// deleteGrant decides DeleteGrant; boot is the bootstrap token's hash.
func (st *state) deleteGrant(id, boot string) (change, error) {
	if st.grants[id] == nil {
		return change{}, apierr.NotFound("grant", id)
	}
	if err := st.keepsAnAdmin(boot, without{grant: id}); err != nil {
		return change{}, err
	}
	return change{stream: grantStream(id), events: msgs(&ev.GrantDeleted{Id: id})}, nil
}
