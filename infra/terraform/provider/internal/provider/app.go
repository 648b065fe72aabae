package provider

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// Apps, upstreams and rules are edits of an app's working copy: pending
// until a strata_release releases them. Every write carries the app's
// version as read just before it (expected_version), so an edit made in
// between is refused by the API (Aborted), not overwritten.

var appKind = &kind{
	name: "app",
	doc: "An HTTP app: its domains, ports, partitions, labels, HTTPS redirect and HSTS. Changes are pending until a strata_release " +
		"releases them; destroying it deletes the app and, when it had been released, releases the deletion. Import by id or name.",
	newMsg: func() proto.Message { return &configv1.App{} },
	opts: fieldOpts{skip: []string{"upstreams", "rules", "release"}, required: []string{"name", "domains"},
		computed: []string{"http_ports", "partition_ids"}, docs: map[string]string{
			"domains":       "Exact (www.example.com) or wildcard (*.example.com) domains, in lower case.",
			"http_ports":    "Plain-HTTP ports; [80] when both port lists are unset.",
			"partition_ids": "Partitions (ids) whose nodes serve the app; the partition named default when unset.",
			"waf_policy_id": "Id of the strata_waf_policy inspecting the app's requests (released with the app, after the policy's own release).",
		}},
	ownerOf: func(o *object) string { return "app " + o.id },
	create: func(ctx context.Context, c *client, o *object) (*remote, error) {
		a := o.msg.(*configv1.App)
		res, err := c.config.CreateApp(ctx, &configv1.CreateAppRequest{Name: a.Name, Domains: a.Domains,
			HttpPorts: a.HttpPorts, HttpsPorts: a.HttpsPorts, Partitions: a.PartitionIds, Labels: a.Labels,
			HttpsRedirect: a.HttpsRedirect, Hsts: a.Hsts, WafPolicyId: a.WafPolicyId, Limits: a.Limits})
		if err != nil {
			return nil, err
		}
		return &remote{msg: appSettings(res.GetApp()), version: res.GetVersion()}, nil
	},
	read: func(ctx context.Context, c *client, o *object) (*remote, error) {
		res, err := getApp(ctx, c, o.id)
		if res == nil || err != nil {
			return nil, err
		}
		return &remote{msg: appSettings(res.GetApp()), version: res.GetVersion()}, nil
	},
	update: func(ctx context.Context, c *client, o *object, cur *remote) (*remote, error) {
		a := o.msg.(*configv1.App)
		res, err := c.config.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: o.id, ExpectedVersion: &cur.version,
			Name: a.Name, Domains: a.Domains, HttpPorts: a.HttpPorts, HttpsPorts: a.HttpsPorts, Partitions: a.PartitionIds,
			Labels: a.Labels, HttpsRedirect: a.HttpsRedirect, Hsts: a.Hsts, WafPolicyId: a.WafPolicyId, Limits: a.Limits})
		if err != nil {
			return nil, err
		}
		return &remote{msg: appSettings(res.GetApp()), version: res.GetVersion()}, nil
	},
	delete: func(ctx context.Context, c *client, o *object) error {
		res, err := getApp(ctx, c, o.id)
		if res == nil || err != nil {
			return err
		}
		v := res.GetVersion()
		del, err := c.config.DeleteApp(ctx, &configv1.DeleteAppRequest{AppId: o.id, ExpectedVersion: &v})
		if err != nil || res.GetLatestRelease() == 0 {
			return err // never released: no node serves it
		}
		v = del.GetVersion()
		_, err = c.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: o.id, ExpectedVersion: &v,
			Note: "terraform destroy: app " + res.GetApp().GetName() + " deleted"})
		return err
	},
}

// getApp is the app by id or name; nil when there is none or it is deleted.
func getApp(ctx context.Context, c *client, id string) (*configv1.GetAppResponse, error) {
	res, err := c.config.GetApp(ctx, &configv1.GetAppRequest{AppId: id})
	if connect.CodeOf(err) == connect.CodeNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// One app by id (ListApps pages; docs/api.md, "Filtering").
	list, err := c.config.ListApps(ctx, &configv1.ListAppsRequest{Filter: fmt.Sprintf("id = %q", res.GetApp().GetId())})
	if err != nil {
		return nil, err
	}
	for _, s := range list.GetApps() {
		if s.GetId() == res.GetApp().GetId() && !s.GetDeleted() {
			return res, nil
		}
	}
	return nil, nil // deleted
}

// appSettings is the part of an app the strata_app resource manages.
func appSettings(a *configv1.App) *configv1.App {
	s := proto.Clone(a).(*configv1.App)
	s.Upstreams, s.Rules, s.Release = nil, nil, 0
	return s
}

var upstreamKind = &kind{
	name: "upstream",
	doc: "An upstream of an app: origin servers, balancing, timeouts, retries, TLS and health checks. Pending until released. " +
		"Import as APP_ID/UPSTREAM_ID.",
	newMsg: func() proto.Message { return &configv1.Upstream{} },
	parent: "app_id",
	opts: fieldOpts{required: []string{"name"}, computed: []string{"policy"}, docs: map[string]string{
		"name":      "Unique in the app; rules' proxy actions name it.",
		"servers":   "The origin servers; empty when endpoints names a server set.",
		"endpoints": "Id of a dynamic server set (strata upstream endpoints set; the Kubernetes controller writes them) whose ready endpoints are the servers, kept current without a release; servers must then be empty.",
	}},
	ownerOf: func(o *object) string { return "app " + o.parent },
	create: func(ctx context.Context, c *client, o *object) (*remote, error) {
		res, err := c.config.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: o.parent, Upstream: o.msg.(*configv1.Upstream)})
		if err != nil {
			return nil, err
		}
		return &remote{msg: res.GetUpstream(), version: res.GetVersion()}, nil
	},
	read: func(ctx context.Context, c *client, o *object) (*remote, error) {
		res, err := getApp(ctx, c, o.parent)
		if res == nil || err != nil {
			return nil, err
		}
		for _, u := range res.GetApp().GetUpstreams() {
			if u.GetId() == o.id || u.GetName() == o.id {
				return &remote{msg: u, version: res.GetVersion()}, nil
			}
		}
		return nil, nil
	},
	update: func(ctx context.Context, c *client, o *object, cur *remote) (*remote, error) {
		u := o.msg.(*configv1.Upstream)
		u.Id = o.id
		res, err := c.config.UpdateUpstream(ctx, &configv1.UpdateUpstreamRequest{AppId: o.parent, ExpectedVersion: &cur.version, Upstream: u})
		if err != nil {
			return nil, err
		}
		return &remote{msg: res.GetUpstream(), version: res.GetVersion()}, nil
	},
	delete: func(ctx context.Context, c *client, o *object) error {
		_, err := c.config.DeleteUpstream(ctx, &configv1.DeleteUpstreamRequest{AppId: o.parent, Upstream: o.id})
		return err
	},
}

// A rule's place in the app's ordered rule list is its "after" attribute:
// the id of the rule right before it ("" for the first). Referencing the
// previous strata_rule also orders their creation.
var ruleKind = &kind{
	name: "rule",
	doc: "A page rule of an app (condition and actions). Rules are evaluated in order; `after` keeps this one right after another. " +
		"Pending until released. Import as APP_ID/RULE_ID.",
	newMsg:  func() proto.Message { return &configv1.Rule{} },
	parent:  "app_id",
	opts:    fieldOpts{required: []string{"name", "actions"}, docs: map[string]string{"when": "Condition in the rule language, e.g. PathPrefix(\"/api\"); unset matches every request."}},
	ownerOf: func(o *object) string { return "app " + o.parent },
	extra: map[string]schema.Attribute{"after": schema.StringAttribute{Optional: true,
		Description: "Id of the rule this one comes right after (\"\" puts it first). Unset: appended when created, position not managed."}},
	create: func(ctx context.Context, c *client, o *object) (*remote, error) {
		err := retryAborted(func() error {
			req := &configv1.CreateRuleRequest{AppId: o.parent, Rule: o.msg.(*configv1.Rule)}
			if after, managed := ruleAfter(o); managed {
				// The index is of this version of the list: pin it.
				res, err := getApp(ctx, c, o.parent)
				if err != nil {
					return err
				}
				i, err := indexAfter(res.GetApp().GetRules(), "", after)
				if err != nil {
					return err
				}
				req.Index = &i
				req.ExpectedVersion = proto.Uint64(res.GetVersion())
			}
			res, err := c.config.CreateRule(ctx, req)
			if err == nil {
				o.id = res.GetRule().GetId()
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		return readRule(ctx, c, o)
	},
	read: readRule,
	update: func(ctx context.Context, c *client, o *object, cur *remote) (*remote, error) {
		r := o.msg.(*configv1.Rule)
		r.Id = o.id
		v := cur.version
		if !proto.Equal(r, cur.msg) {
			res, err := c.config.UpdateRule(ctx, &configv1.UpdateRuleRequest{AppId: o.parent, ExpectedVersion: &v, Rule: r})
			if err != nil {
				return nil, err
			}
			v = res.GetVersion()
		}
		if after, managed := ruleAfter(o); managed && after != cur.extra["after"] {
			err := retryAborted(func() error {
				res, err := getApp(ctx, c, o.parent)
				if err != nil {
					return err
				}
				i, err := indexAfter(res.GetApp().GetRules(), o.id, after)
				if err != nil {
					return err
				}
				v := res.GetVersion()
				_, err = c.config.MoveRule(ctx, &configv1.MoveRuleRequest{AppId: o.parent, ExpectedVersion: &v, Rule: o.id, Index: i})
				return err
			})
			if err != nil {
				return nil, err
			}
		}
		return readRule(ctx, c, o)
	},
	delete: func(ctx context.Context, c *client, o *object) error {
		_, err := c.config.DeleteRule(ctx, &configv1.DeleteRuleRequest{AppId: o.parent, Rule: o.id})
		return err
	},
}

func ruleAfter(o *object) (string, bool) {
	v := o.extra["after"]
	if v.IsNull() || !v.IsKnown() {
		return "", false
	}
	return str(v), true
}

func readRule(ctx context.Context, c *client, o *object) (*remote, error) {
	res, err := getApp(ctx, c, o.parent)
	if res == nil || err != nil {
		return nil, err
	}
	rules := res.GetApp().GetRules()
	for i, r := range rules {
		if r.GetId() != o.id && r.GetName() != o.id {
			continue
		}
		rem := &remote{msg: r, version: res.GetVersion()}
		if _, managed := ruleAfter(o); managed {
			prev := ""
			if i > 0 {
				prev = rules[i-1].GetId()
			}
			rem.extra = map[string]string{"after": prev}
		}
		return rem, nil
	}
	return nil, nil
}

// indexAfter is the index that puts rule id right after rule after ("":
// first) in rules, counted without id itself (MoveRule's index).
func indexAfter(rules []*configv1.Rule, id, after string) (uint32, error) {
	if after == "" {
		return 0, nil
	}
	i := uint32(0)
	for _, r := range rules {
		if r.GetId() == id {
			continue
		}
		i++
		if r.GetId() == after {
			return i, nil
		}
	}
	return 0, fmt.Errorf("after: no rule %q in app (want the id of one of its rules, or \"\" for first)", after)
}
