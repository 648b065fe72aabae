package iam

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	ev "github.com/strata-edge/strata/gen/strata/events/iam/v1"
	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/readmodel"
)

type user struct {
	name, displayName, email string
	kind                     iamv1.UserKind
	source                   string
	passwordHash             string
	disabled                 bool
	createdAt                time.Time
	groups                   map[string]bool
}

type group struct {
	name, description string
	members           map[string]bool
	createdAt         time.Time
}

type customRole struct {
	name, description string
	permissions       []string
	role              authz.Role
}

type grant struct {
	id, user, group, role string
	scope                 *iamv1.Scope
	createdAt             time.Time
	createdBy             string
}

type token struct {
	id, description, user string
	createdAt, expiresAt  time.Time // expiresAt zero: never
	lastUsed              time.Time // as recorded in events
	revoked               bool
	createdBy             string
}

type session struct {
	id, user  string
	expiresAt time.Time
	ended     bool
}

// state is the IAM read model, folded from the iam.* events of the log.
// Only apply changes it.
type state struct {
	versions map[string]uint64 // stream -> version, for appends
	users    map[string]*user
	groups   map[string]*group
	roles    map[string]*customRole
	grants   map[string]*grant
	tokens   map[string]*token
	sessions map[string]*session
	// secret hash (hex SHA-256) -> token or session id
	tokenByHash   map[string]string
	sessionByHash map[string]string
	// hashes of revoked bootstrap tokens
	bootstrapRevoked map[string]bool
}

func newState() *state {
	return &state{
		versions: map[string]uint64{}, users: map[string]*user{}, groups: map[string]*group{},
		roles: map[string]*customRole{}, grants: map[string]*grant{}, tokens: map[string]*token{},
		sessions: map[string]*session{}, tokenByHash: map[string]string{}, sessionByHash: map[string]string{},
		bootstrapRevoked: map[string]bool{},
	}
}

// apply folds one event; events of other services are skipped.
func (st *state) apply(e eventstore.Event) error {
	if !strings.HasPrefix(e.Stream, streamPrefix) {
		return nil
	}
	st.versions[e.Stream] = e.Position
	msg, err := registry.Decode(e.Type, e.Data)
	if err != nil {
		return err
	}
	at := e.Metadata.Time
	switch m := msg.(type) {
	case *ev.UserCreated:
		st.users[m.Name] = &user{name: m.Name, displayName: m.DisplayName, email: m.Email, kind: m.Kind,
			source: m.Source, passwordHash: m.PasswordHash, createdAt: at, groups: map[string]bool{}}
	case *ev.UserUpdated:
		if u := st.users[m.Name]; u != nil {
			u.displayName, u.email = m.DisplayName, m.Email
		}
	case *ev.UserDisabledSet:
		if u := st.users[m.Name]; u != nil {
			u.disabled = m.Disabled
		}
	case *ev.UserPasswordSet:
		if u := st.users[m.Name]; u != nil {
			u.passwordHash = m.PasswordHash
		}
	case *ev.GroupCreated:
		st.groups[m.Name] = &group{name: m.Name, description: m.Description, members: map[string]bool{}, createdAt: at}
	case *ev.GroupDeleted:
		if g := st.groups[m.Name]; g != nil {
			for name := range g.members {
				if u := st.users[name]; u != nil {
					delete(u.groups, m.Name)
				}
			}
		}
		delete(st.groups, m.Name)
		// The group's grants go with it, so that a new group of the same
		// name does not inherit them.
		maps.DeleteFunc(st.grants, func(_ string, g *grant) bool { return g.group == m.Name })
	case *ev.GroupMembersAdded:
		if g := st.groups[m.Group]; g != nil {
			for _, name := range m.Users {
				g.members[name] = true
				if u := st.users[name]; u != nil {
					u.groups[m.Group] = true
				}
			}
		}
	case *ev.GroupMembersRemoved:
		if g := st.groups[m.Group]; g != nil {
			for _, name := range m.Users {
				delete(g.members, name)
				if u := st.users[name]; u != nil {
					delete(u.groups, m.Group)
				}
			}
		}
	case *ev.RoleCreated:
		st.roles[m.Name] = compileRole(m.Name, m.Description, m.Permissions)
	case *ev.RoleUpdated:
		st.roles[m.Name] = compileRole(m.Name, m.Description, m.Permissions)
	case *ev.RoleDeleted:
		delete(st.roles, m.Name)
	case *ev.GrantCreated:
		st.grants[m.Id] = &grant{id: m.Id, user: m.User, group: m.Group, role: m.Role, scope: m.Scope,
			createdAt: at, createdBy: e.Metadata.Actor}
	case *ev.GrantDeleted:
		delete(st.grants, m.Id)
	case *ev.TokenCreated:
		t := &token{id: m.Id, description: m.Description, user: m.User, createdAt: at, createdBy: e.Metadata.Actor}
		if m.ExpiresAt != nil {
			t.expiresAt = m.ExpiresAt.AsTime()
		}
		st.tokens[m.Id] = t
		st.tokenByHash[m.SecretHash] = m.Id
	case *ev.TokenRevoked:
		if t := st.tokens[m.Id]; t != nil {
			t.revoked = true
		}
	case *ev.TokenUsed:
		if t := st.tokens[m.Id]; t != nil && m.Time.AsTime().After(t.lastUsed) {
			t.lastUsed = m.Time.AsTime()
		}
	case *ev.SessionCreated:
		st.sessions[m.Id] = &session{id: m.Id, user: m.User, expiresAt: m.ExpiresAt.AsTime()}
		st.sessionByHash[m.SecretHash] = m.Id
	case *ev.SessionEnded:
		if s := st.sessions[m.Id]; s != nil {
			s.ended = true
		}
	case *ev.BootstrapTokenRevoked:
		st.bootstrapRevoked[m.TokenHash] = true
	default:
		return fmt.Errorf("no apply case for %s", e.Type)
	}
	return nil
}

// compileRole turns stored permissions into a role. They were validated when
// recorded; patterns this server no longer knows are simply never matched.
func compileRole(name, description string, perms []string) *customRole {
	r, err := authz.NewRole(name, description, perms, nil)
	if err != nil {
		// Keep the role (listed, grantable) but let it allow nothing.
		r = authz.Role{Name: name, Description: description}
	}
	return &customRole{name: name, description: description, permissions: slices.Clone(perms), role: r}
}

// role returns the built-in or custom role called name.
func (st *state) role(name string) (authz.Role, bool) {
	if r, ok := authz.BuiltInRole(name); ok {
		return r, true
	}
	if r := st.roles[name]; r != nil {
		return r.role, true
	}
	return authz.Role{}, false
}

// grantsOf returns the grants of a user: its own and its groups', in id order.
func (st *state) grantsOf(name string) []*grant {
	u := st.users[name]
	var out []*grant
	for _, g := range st.grants {
		if g.user == name || (g.group != "" && u != nil && u.groups[g.group]) {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b *grant) int { return strings.Compare(a.id, b.id) })
	return out
}

// projection follows the log and keeps the state; readers take its lock.
// A bad event must not stop IAM: it is skipped, loudly.
type projection = readmodel.Model[*state]

func newProjection(log *slog.Logger) *projection {
	return readmodel.New(newState(), nil, func(st *state, e eventstore.Event, _ proto.Message) error { return st.apply(e) }, log)
}
