package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// Join tokens cannot be changed: every attribute replaces the token (the old
// one is revoked, nodes that joined with it stay). The secret is known only
// from the create call, so an imported token has none.

var joinTokenSkip = []string{"expires_at", "revoked"}

var joinTokenKind = &kind{
	name: "join_token",
	doc: "A join token that lets nodes join a cluster (`strata node --join-token`). Any change replaces it; destroying it revokes it " +
		"(nodes that joined stay). `token` is known only to the run that created it. Import by id (without the secret).",
	newMsg: func() proto.Message { return &configv1.JoinToken{} },
	opts: fieldOpts{skip: joinTokenSkip, required: []string{"cluster_id"},
		replace: []string{"cluster_id", "auto_approve", "staging", "description"}, docs: map[string]string{
			"cluster_id":   "Id of the cluster the nodes join.",
			"auto_approve": "Nodes joining with it are approved at once (else `strata node approve`).",
			"staging":      "Nodes joining with it follow the staging track.",
		}},
	extra: map[string]schema.Attribute{
		"ttl_seconds": ttlAttr("Lifetime in seconds (default 24 hours, at most 30 days)."),
		"token":       secretAttr("The secret `ID.SECRET` nodes pass as --join-token; only known to the run that created the token."),
		"expires_at":  timeAttr("When the token stops admitting nodes (RFC 3339)."),
	},
	secrets: []string{"token"},
	create: func(ctx context.Context, c *client, o *object) (*remote, error) {
		t := o.msg.(*configv1.JoinToken)
		res, err := c.node.CreateJoinToken(ctx, &configv1.CreateJoinTokenRequest{Cluster: t.GetClusterId(),
			TtlSeconds: uint32(intOf(o.extra["ttl_seconds"])), AutoApprove: t.GetAutoApprove(), Staging: t.GetStaging(),
			Description: t.GetDescription()})
		if err != nil {
			return nil, err
		}
		rem := joinTokenRemote(res.GetJoinToken())
		rem.extra["token"] = res.GetToken()
		return rem, nil
	},
	read: func(ctx context.Context, c *client, o *object) (*remote, error) {
		res, err := c.node.ListJoinTokens(ctx, &configv1.ListJoinTokensRequest{})
		if err != nil {
			return nil, err
		}
		for _, t := range res.GetJoinTokens() {
			if t.GetId() == o.id && !t.GetRevoked() {
				return joinTokenRemote(t), nil
			}
		}
		return nil, nil // revoked counts as gone: the plan creates a new one
	},
	delete: func(ctx context.Context, c *client, o *object) error {
		_, err := c.node.RevokeJoinToken(ctx, &configv1.RevokeJoinTokenRequest{TokenId: o.id})
		return err
	},
}

func joinTokenRemote(t *configv1.JoinToken) *remote {
	return &remote{msg: only(t, joinTokenSkip), extra: map[string]string{"expires_at": rfc3339(t.GetExpiresAt())}}
}
