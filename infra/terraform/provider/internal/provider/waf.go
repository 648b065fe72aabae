package provider

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
)

// A WAF policy is an object of its own, shared by the apps that attach it
// (strata_app.waf_policy_id); its changes are pending until a strata_release
// with waf_policy_id releases them. Writes carry the policy's version.

var wafPolicyKind = &kind{
	name: "waf_policy",
	doc: "A WAF policy: OWASP CRS mode and paranoia level, exclusions, whitelist, body inspection and custom rules (docs/waf.md). " +
		"Changes are pending until a strata_release with waf_policy_id releases them; apps attach it with waf_policy_id. " +
		"Destroying it removes it from every node; refused while an app (or a release an app runs) attaches it. Import by id or name.",
	newMsg: func() proto.Message { return &wafv1.WafPolicy{} },
	opts: fieldOpts{skip: []string{"version"}, required: []string{"name"}, docs: map[string]string{
		"name":           "Unique name ([a-z0-9-_.], at most 64).",
		"mode":           "off (inspects nothing), detect (logs hits) or block (refuses with 403).",
		"paranoia_level": "OWASP CRS paranoia level 1-4 (0: 1).",
		"partition_ids":  "Partitions (ids) whose nodes get the policy; every partition when unset.",
		"custom_rules":   "Rules in the page-rule language, evaluated in order before the Core Rule Set (at most 1000).",
		"inspect_responses": "Inspect upstream responses too (CRS RESPONSE-95x rules, the outbound threshold): a leaking response is replaced by a 403 in block mode. " +
			"Off by default: it buffers and scans each response (docs/waf.md, Response inspection).",
		"response_body_limit_bytes": "Bytes of a text, JSON or XML response body inspected with inspect_responses (0: 131072, at most 10485760); the rest streams unread.",
	}},
	ownerOf: func(o *object) string { return "waf policy " + o.id },
	create: func(ctx context.Context, c *client, o *object) (*remote, error) {
		res, err := c.waf.CreatePolicy(ctx, &wafv1.CreatePolicyRequest{Policy: o.msg.(*wafv1.WafPolicy)})
		if err != nil {
			return nil, err
		}
		return &remote{msg: res.GetPolicy(), version: res.GetVersion()}, nil
	},
	read: func(ctx context.Context, c *client, o *object) (*remote, error) {
		res, err := getWafPolicy(ctx, c, o.id)
		if res == nil || err != nil {
			return nil, err
		}
		return &remote{msg: res.GetPolicy(), version: res.GetVersion()}, nil
	},
	update: func(ctx context.Context, c *client, o *object, cur *remote) (*remote, error) {
		res, err := c.waf.UpdatePolicy(ctx, &wafv1.UpdatePolicyRequest{PolicyId: o.id, ExpectedVersion: &cur.version, Policy: o.msg.(*wafv1.WafPolicy)})
		if err != nil {
			return nil, err
		}
		return &remote{msg: res.GetPolicy(), version: res.GetVersion()}, nil
	},
	delete: func(ctx context.Context, c *client, o *object) error {
		res, err := getWafPolicy(ctx, c, o.id)
		if res == nil || err != nil {
			return err
		}
		v := res.GetVersion()
		_, err = c.waf.DeletePolicy(ctx, &wafv1.DeletePolicyRequest{PolicyId: o.id, ExpectedVersion: &v})
		return err
	},
}

// getWafPolicy is the policy by id or name; nil when there is none.
func getWafPolicy(ctx context.Context, c *client, id string) (*wafv1.GetPolicyResponse, error) {
	res, err := c.waf.GetPolicy(ctx, &wafv1.GetPolicyRequest{PolicyId: id})
	if connect.CodeOf(err) == connect.CodeNotFound {
		return nil, nil
	}
	return res, err
}
