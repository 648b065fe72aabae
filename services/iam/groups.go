package iam

import (
	"context"
	"fmt"
	"slices"

	ev "github.com/strata-edge/strata/gen/strata/events/iam/v1"
	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/listfilter"
	"github.com/strata-edge/strata/pkg/validate"
)

func (s *Service) groupProto(name string) *iamv1.Group {
	var out *iamv1.Group
	s.proj.Read(func(st *state) {
		if g := st.groups[name]; g != nil {
			out = groupProto(g)
		}
	})
	return out
}

// checkUsers returns the distinct user names of field, or violations for
// names of users that do not exist.
func checkUsers(st *state, field string, names []string) ([]string, error) {
	var vs apierr.Fields
	var out []string
	for i, n := range names {
		if st.users[n] == nil {
			vs.Add(fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("user %q does not exist", n))
			continue
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, vs.Err()
}

func (h *handler) CreateGroup(ctx context.Context, req *iamv1.CreateGroupRequest) (*iamv1.CreateGroupResponse, error) {
	var vs apierr.Fields
	vs.Add("name", validate.Name(req.Name))
	vs.Add("description", checkText(req.Description, maxDescriptionLen))
	if err := vs.Err(); err != nil {
		return nil, h.fail(err)
	}
	err := h.exec(ctx, "", func(st *state) (change, error) { return st.createGroup(req) })
	return apierr.Reply(h.log, &iamv1.CreateGroupResponse{Group: h.groupProto(req.Name)}, err)
}

func (h *handler) GetGroup(_ context.Context, req *iamv1.GetGroupRequest) (*iamv1.GetGroupResponse, error) {
	g := h.groupProto(req.Name)
	if g == nil {
		return nil, h.fail(apierr.NotFound("group", req.Name))
	}
	return &iamv1.GetGroupResponse{Group: g}, nil
}

func (h *handler) ListGroups(_ context.Context, req *iamv1.ListGroupsRequest) (*iamv1.ListGroupsResponse, error) {
	out := &iamv1.ListGroupsResponse{}
	h.proj.Read(func(st *state) {
		for _, name := range sortedKeys(st.groups) {
			out.Groups = append(out.Groups, groupProto(st.groups[name]))
		}
	})
	var err error
	out.Groups, out.NextPageToken, err = listfilter.Paged(groupSchema, pageOf(req.PageSize, req.PageToken, req.Filter, ""), out.Groups, (*iamv1.Group).GetName)
	return apierr.Reply(h.log, out, err)
}

func (h *handler) DeleteGroup(ctx context.Context, req *iamv1.DeleteGroupRequest) (*iamv1.DeleteGroupResponse, error) {
	err := h.exec(ctx, "", func(st *state) (change, error) { return st.deleteGroup(req.Name, h.bootstrapHash) })
	return apierr.Reply(h.log, &iamv1.DeleteGroupResponse{}, err)
}

func (h *handler) AddGroupMembers(ctx context.Context, req *iamv1.AddGroupMembersRequest) (*iamv1.AddGroupMembersResponse, error) {
	if len(req.Users) == 0 {
		return nil, h.fail(invalid("users", "name at least one user"))
	}
	err := h.exec(ctx, "", func(st *state) (change, error) { return st.addMembers(req.Group, req.Users) })
	return apierr.Reply(h.log, &iamv1.AddGroupMembersResponse{Group: h.groupProto(req.Group)}, err)
}

func (h *handler) RemoveGroupMembers(ctx context.Context, req *iamv1.RemoveGroupMembersRequest) (*iamv1.RemoveGroupMembersResponse, error) {
	if len(req.Users) == 0 {
		return nil, h.fail(invalid("users", "name at least one user"))
	}
	err := h.exec(ctx, "", func(st *state) (change, error) {
		return st.removeMembers(req.Group, req.Users, h.bootstrapHash)
	})
	return apierr.Reply(h.log, &iamv1.RemoveGroupMembersResponse{Group: h.groupProto(req.Group)}, err)
}

// createGroup decides CreateGroup: a new name, members that exist.
func (st *state) createGroup(req *iamv1.CreateGroupRequest) (change, error) {
	if st.groups[req.Name] != nil {
		return change{}, alreadyExists("name", fmt.Sprintf("group %q already exists", req.Name))
	}
	members, err := checkUsers(st, "members", req.Members)
	if err != nil {
		return change{}, err
	}
	events := msgs(&ev.GroupCreated{Name: req.Name, Description: req.Description})
	if len(members) > 0 {
		events = append(events, &ev.GroupMembersAdded{Group: req.Name, Users: members})
	}
	return change{stream: groupStream(req.Name), events: events}, nil
}

// deleteGroup decides DeleteGroup; boot is the bootstrap token's hash.
func (st *state) deleteGroup(name, boot string) (change, error) {
	if st.groups[name] == nil {
		return change{}, apierr.NotFound("group", name)
	}
	if err := st.keepsAnAdmin(boot, without{group: name}); err != nil {
		return change{}, err
	}
	return change{stream: groupStream(name), events: msgs(&ev.GroupDeleted{Name: name})}, nil
}

// addMembers decides AddGroupMembers: members already in are no change.
func (st *state) addMembers(group string, names []string) (change, error) {
	g := st.groups[group]
	if g == nil {
		return change{}, apierr.NotFound("group", group)
	}
	users, err := checkUsers(st, "users", names)
	if err != nil {
		return change{}, err
	}
	users = slices.DeleteFunc(users, func(n string) bool { return g.members[n] })
	if len(users) == 0 {
		return change{}, nil
	}
	return change{stream: groupStream(group), events: msgs(&ev.GroupMembersAdded{Group: group, Users: users})}, nil
}

// removeMembers decides RemoveGroupMembers: only members, never the last
// IAM administrator (boot is the bootstrap token's hash).
func (st *state) removeMembers(group string, names []string, boot string) (change, error) {
	g := st.groups[group]
	if g == nil {
		return change{}, apierr.NotFound("group", group)
	}
	var vs apierr.Fields
	removed := map[string]bool{}
	for i, n := range names {
		if !g.members[n] {
			vs.Add(fmt.Sprintf("users[%d]", i), fmt.Sprintf("%q is not a member of group %q", n, group))
		}
		removed[n] = true
	}
	if err := vs.Err(); err != nil {
		return change{}, err
	}
	if err := st.keepsAnAdmin(boot, without{membersOf: group, members: removed}); err != nil {
		return change{}, err
	}
	return change{stream: groupStream(group), events: msgs(&ev.GroupMembersRemoved{Group: group, Users: sortedKeys(removed)})}, nil
}
