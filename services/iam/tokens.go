package iam

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	ev "github.com/strata-edge/strata/gen/strata/events/iam/v1"
	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/ids"
	"github.com/strata-edge/strata/pkg/listfilter"
)

const (
	maxTokenTTL            = 5 * 365 * 24 * time.Hour
	maxTokenDescriptionLen = 200
	// allUsers in ListTokensRequest.user lists every user's tokens.
	allUsers = "*"
)

func isBootstrap(p apiauth.Principal) bool { return p.Kind == apiauth.BootstrapPrincipal.Kind }

func (h *handler) CreateToken(ctx context.Context, req *iamv1.CreateTokenRequest) (*iamv1.CreateTokenResponse, error) {
	p, _ := apiauth.PrincipalFrom(ctx)
	owner := req.User
	if owner == "" {
		if isBootstrap(p) {
			return nil, h.fail(invalid("user", "the bootstrap token is not a user and cannot own tokens: name a service account"))
		}
		owner = p.Name
	}
	forOther := owner != p.Name || isBootstrap(p)
	mayWrite := authz.CanEverywhere(ctx, authz.PermTokenWrite)
	if forOther && !mayWrite {
		return nil, permissionDenied("permission denied: %q may create tokens only for itself (creating them for service accounts needs %s)", p.Name, authz.PermTokenWrite)
	}
	// A token never gives more than its creator holds: for another user, the
	// caller must hold every permission of the owner over the same scopes.
	// (Checked outside exec: the checker may ask resolvers, which read
	// projections.)
	if forOther && !isBootstrap(p) {
		var target []authz.Grant
		h.proj.Read(func(st *state) { target = st.authzGrants(owner) })
		if c, ok := authz.CheckerFrom(ctx); !ok {
			return nil, permissionDenied("permission denied: no authorization context")
		} else if perm, scope, missing := c.Missing(ctx, target, h.known); missing {
			return nil, permissionDenied("permission denied: %q holds %s over %s and %q does not: a token for it would give %q more than it holds",
				owner, perm, scope, p.Name, p.Name)
		}
	}
	var vs apierr.Fields
	vs.Add("description", checkText(req.Description, maxTokenDescriptionLen))
	if req.TtlSeconds > uint64(maxTokenTTL/time.Second) {
		vs.Add("ttl_seconds", fmt.Sprintf("must be at most %d (5 years); 0 means no expiry", uint64(maxTokenTTL/time.Second)))
	}
	if err := vs.Err(); err != nil {
		return nil, h.fail(err)
	}
	var expires *timestamppb.Timestamp
	if req.TtlSeconds > 0 {
		expires = timestamppb.New(h.now().Add(time.Duration(req.TtlSeconds) * time.Second))
	}
	id, secret := ids.New(prefixToken), apiauth.NewToken()
	cmd := newToken{id: id, owner: owner, description: req.Description, expires: expires, secretHash: hashSecret(secret),
		caller: p, forOther: forOther, mayWrite: mayWrite, now: h.now()}
	err := h.exec(ctx, "", func(st *state) (change, error) { return st.createToken(cmd) })
	if err != nil {
		return nil, h.fail(err)
	}
	var out *iamv1.Token
	h.proj.Read(func(st *state) { out = h.tokenProto(st.tokens[id]) })
	return &iamv1.CreateTokenResponse{Token: out, Secret: secret}, nil
}

func (h *handler) ListTokens(ctx context.Context, req *iamv1.ListTokensRequest) (*iamv1.ListTokensResponse, error) {
	p, _ := apiauth.PrincipalFrom(ctx)
	user := req.User
	if user == "" && !isBootstrap(p) {
		user = p.Name
	}
	if (user != p.Name || isBootstrap(p)) && !authz.CanEverywhere(ctx, authz.PermTokenRead) {
		return nil, permissionDenied("permission denied: %q may list only its own tokens (others' need %s)", p.Name, authz.PermTokenRead)
	}
	out := &iamv1.ListTokensResponse{}
	h.proj.Read(func(st *state) {
		for _, t := range st.tokens {
			if (user == "" || user == allUsers || t.user == user) && (req.IncludeRevoked || !t.revoked) {
				out.Tokens = append(out.Tokens, h.tokenProto(t))
			}
		}
	})
	slices.SortFunc(out.Tokens, func(a, b *iamv1.Token) int {
		if c := a.CreatedAt.AsTime().Compare(b.CreatedAt.AsTime()); c != 0 {
			return c
		}
		return strings.Compare(a.Id, b.Id)
	})
	var err error
	scope := listfilter.Key(user, fmt.Sprint(req.IncludeRevoked))
	out.Tokens, out.NextPageToken, err = listfilter.Paged(tokenSchema, pageOf(req.PageSize, req.PageToken, req.Filter, scope),
		out.Tokens, func(t *iamv1.Token) string { return timeKey(t.GetCreatedAt(), t.GetId()) })
	return apierr.Reply(h.log, out, err)
}

func (h *handler) RevokeToken(ctx context.Context, req *iamv1.RevokeTokenRequest) (*iamv1.RevokeTokenResponse, error) {
	p, _ := apiauth.PrincipalFrom(ctx)
	mayRevokeOthers := authz.CanEverywhere(ctx, authz.PermTokenWrite)
	err := h.exec(ctx, "", func(st *state) (change, error) { return st.revokeToken(req.Id, p, mayRevokeOthers) })
	return apierr.Reply(h.log, &iamv1.RevokeTokenResponse{}, err)
}

func (h *handler) RevokeBootstrapToken(ctx context.Context, _ *iamv1.RevokeBootstrapTokenRequest) (*iamv1.RevokeBootstrapTokenResponse, error) {
	if h.bootstrapHash == "" {
		return nil, h.fail(apierr.FailedPrecondition("this server was started without a bootstrap token"))
	}
	err := h.exec(ctx, "", func(st *state) (change, error) { return st.revokeBootstrap(h.bootstrapHash) })
	return apierr.Reply(h.log, &iamv1.RevokeBootstrapTokenResponse{}, err)
}

// --- decisions on the state: the change to record or the refusal ---

// newToken is CreateToken as checked by the handler: the caller, whether the
// token is for another user (or the caller is the bootstrap token) and
// whether the caller holds token.write over everything.
type newToken struct {
	id, owner, description, secretHash string
	expires                            *timestamppb.Timestamp
	caller                             apiauth.Principal
	forOther, mayWrite                 bool
	now                                time.Time
}

// createToken decides CreateToken: the owner is an enabled user; others
// get tokens only for service accounts, a service account for itself only
// with token.write; a token never outlives the token that created it. (A
// session is a person's password login: people create long-lived tokens
// from it, as documented.)
func (st *state) createToken(c newToken) (change, error) {
	u := st.users[c.owner]
	switch {
	case u == nil:
		return change{}, invalid("user", fmt.Sprintf("user %q does not exist", c.owner))
	case u.disabled:
		return change{}, invalid("user", fmt.Sprintf("user %q is disabled", c.owner))
	case c.forOther && u.kind != iamv1.UserKind_USER_KIND_SERVICE_ACCOUNT:
		return change{}, invalid("user", fmt.Sprintf("%q is a person: people create their own tokens; name a service account", c.owner))
	case !c.forOther && u.kind == iamv1.UserKind_USER_KIND_SERVICE_ACCOUNT && !c.mayWrite:
		return change{}, permissionDenied("permission denied: service account %q may not create tokens (that needs %s over everything: an IAM admin runs strata token create --user %s)",
			c.owner, authz.PermTokenWrite, c.owner)
	}
	if c.caller.Kind == kindToken {
		if ct := st.tokens[c.caller.CredentialID]; ct != nil && !ct.expiresAt.IsZero() &&
			(c.expires == nil || c.expires.AsTime().After(ct.expiresAt)) {
			left := max(ct.expiresAt.Sub(c.now)/time.Second, 0)
			return change{}, invalid("ttl_seconds", fmt.Sprintf("the calling token %s expires at %s and a token it creates may not outlive it: at most %d (0, no expiry, is refused)",
				ct.id, ct.expiresAt.UTC().Format(time.RFC3339), left))
		}
	}
	return change{stream: tokenStream(c.id), events: msgs(&ev.TokenCreated{
		Id: c.id, Description: c.description, User: c.owner, ExpiresAt: c.expires, SecretHash: c.secretHash,
	})}, nil
}

// revokeToken decides RevokeToken of id by caller; revoking twice is no
// change. Others' tokens look missing to callers who may not revoke them
// (mayRevokeOthers: token.write over everything).
func (st *state) revokeToken(id string, caller apiauth.Principal, mayRevokeOthers bool) (change, error) {
	t := st.tokens[id]
	if t == nil || (t.user != caller.Name && !mayRevokeOthers) || (isBootstrap(caller) && !mayRevokeOthers) {
		return change{}, apierr.NotFound("token", id)
	}
	if t.revoked {
		return change{}, nil
	}
	return change{stream: tokenStream(id), events: msgs(&ev.TokenRevoked{Id: id})}, nil
}

// revokeBootstrap decides RevokeBootstrapToken of the token hashed boot:
// refused while no enabled user could manage IAM without it.
func (st *state) revokeBootstrap(boot string) (change, error) {
	if st.bootstrapRevoked[boot] {
		return change{}, nil
	}
	if st.iamAdmins(without{}) == 0 {
		return change{}, apierr.FailedPrecondition("refused: no enabled user holds super_admin (" + adminPermission +
			" over everything); create one and grant it first, or nobody could manage IAM afterwards")
	}
	return change{stream: bootstrapStream, events: msgs(&ev.BootstrapTokenRevoked{TokenHash: boot})}, nil
}
