package iam

import (
	"google.golang.org/protobuf/proto"

	ev "github.com/strata-edge/strata/gen/strata/events/iam/v1"
	"github.com/strata-edge/strata/pkg/eventtype"
)

// Stable type ids of the IAM events. They are data: stored events carry them,
// so they never change when a Go or proto name does (see events.proto).
const (
	TypeUserCreated           = "iam.user.created"
	TypeUserUpdated           = "iam.user.updated"
	TypeUserDisabledSet       = "iam.user.disabled_set"
	TypeUserPasswordSet       = "iam.user.password_set"
	TypeGroupCreated          = "iam.group.created"
	TypeGroupDeleted          = "iam.group.deleted"
	TypeGroupMembersAdded     = "iam.group.members_added"
	TypeGroupMembersRemoved   = "iam.group.members_removed"
	TypeRoleCreated           = "iam.role.created"
	TypeRoleUpdated           = "iam.role.updated"
	TypeRoleDeleted           = "iam.role.deleted"
	TypeGrantCreated          = "iam.grant.created"
	TypeGrantDeleted          = "iam.grant.deleted"
	TypeTokenCreated          = "iam.token.created"
	TypeTokenRevoked          = "iam.token.revoked"
	TypeTokenUsed             = "iam.token.used"
	TypeSessionCreated        = "iam.session.created"
	TypeSessionEnded          = "iam.session.ended"
	TypeBootstrapTokenRevoked = "iam.bootstrap_token.revoked"
)

// registry is the one table of type id <-> payload message.
var registry = eventtype.New("IAM", map[string]proto.Message{
	TypeUserCreated:           (*ev.UserCreated)(nil),
	TypeUserUpdated:           (*ev.UserUpdated)(nil),
	TypeUserDisabledSet:       (*ev.UserDisabledSet)(nil),
	TypeUserPasswordSet:       (*ev.UserPasswordSet)(nil),
	TypeGroupCreated:          (*ev.GroupCreated)(nil),
	TypeGroupDeleted:          (*ev.GroupDeleted)(nil),
	TypeGroupMembersAdded:     (*ev.GroupMembersAdded)(nil),
	TypeGroupMembersRemoved:   (*ev.GroupMembersRemoved)(nil),
	TypeRoleCreated:           (*ev.RoleCreated)(nil),
	TypeRoleUpdated:           (*ev.RoleUpdated)(nil),
	TypeRoleDeleted:           (*ev.RoleDeleted)(nil),
	TypeGrantCreated:          (*ev.GrantCreated)(nil),
	TypeGrantDeleted:          (*ev.GrantDeleted)(nil),
	TypeTokenCreated:          (*ev.TokenCreated)(nil),
	TypeTokenRevoked:          (*ev.TokenRevoked)(nil),
	TypeTokenUsed:             (*ev.TokenUsed)(nil),
	TypeSessionCreated:        (*ev.SessionCreated)(nil),
	TypeSessionEnded:          (*ev.SessionEnded)(nil),
	TypeBootstrapTokenRevoked: (*ev.BootstrapTokenRevoked)(nil),
})

// Stream names. Users, groups and roles are keyed by name, so the event
// store itself keeps names unique (a create expects an empty stream).
const (
	streamPrefix    = "iam."
	bootstrapStream = "iam.bootstrap"
)

func userStream(name string) string  { return "iam.user." + name }
func groupStream(name string) string { return "iam.group." + name }
func roleStream(name string) string  { return "iam.role." + name }
func grantStream(id string) string   { return "iam.grant." + id }
func tokenStream(id string) string   { return "iam.token." + id }
func sessionStream(id string) string { return "iam.session." + id }

// Id prefixes: prefix + 16 lower-case base32 characters (80 random bits).
const (
	prefixGrant   = "grt_"
	prefixToken   = "tok_"
	prefixSession = "ses_"
	prefixEvent   = "evt_"
)
