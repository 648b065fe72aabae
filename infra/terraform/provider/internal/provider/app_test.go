package provider

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/terraform"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

func appByName(name string) *configv1.GetAppResponse {
	res, _ := getApp(bg, api, name)
	return res
}

// appConfig is an app with two upstreams, two ordered rules and a release
// that follows them.
func appConfig(domain, server string, apiFirst bool) string {
	order := `after = strata_rule.api.id`
	first := `after = ""`
	if !apiFirst {
		order, first = first, `after = strata_rule.static.id`
	}
	return fmt.Sprintf(`
resource "strata_app" "shop" {
  name    = "tf-shop"
  domains = [%q]
  labels  = { team = "web" }
}
resource "strata_upstream" "origin" {
  app_id  = strata_app.shop.id
  name    = "origin"
  servers = [{ address = %q, weight = 1, backup = false }]
}
resource "strata_rule" "api" {
  app_id  = strata_app.shop.id
  name    = "api"
  when    = "PathPrefix(\"/api\")"
  actions = [{ proxy = { upstreams = [{ upstream = strata_upstream.origin.name, weight = 1 }] } }]
  %s
}
resource "strata_rule" "static" {
  app_id  = strata_app.shop.id
  name    = "static"
  actions = [{ respond = { status = 200, body = "hi" } }]
  %s
}
resource "strata_release" "shop" {
  app_id     = strata_app.shop.id
  note       = "terraform"
  depends_on = [strata_upstream.origin, strata_rule.api, strata_rule.static]
  lifecycle {
    replace_triggered_by = [strata_app.shop, strata_upstream.origin, strata_rule.api, strata_rule.static]
  }
}`, domain, server, first, order)
}

// released checks the app's released content: domain, server and rule order.
func released(domain, server string, rules ...string) func(*terraform.State) error {
	return func(s *terraform.State) error {
		a := appByName("tf-shop")
		if a == nil {
			return fmt.Errorf("app tf-shop not in the API")
		}
		if !sameContent(a.GetApp(), a.GetReleased()) {
			return fmt.Errorf("app tf-shop has unreleased changes")
		}
		r := a.GetReleased()
		if err := want("released domains", r.GetDomains(), []string{domain}); err != nil {
			return err
		}
		if err := want("released servers", r.GetUpstreams()[0].GetServers()[0].GetAddress(), server); err != nil {
			return err
		}
		var names []string
		for _, x := range r.GetRules() {
			names = append(names, x.GetName())
		}
		if err := want("released rule order", names, rules); err != nil {
			return err
		}
		return want("release number in state", stAttr(s, "strata_release.shop", "number"), a.GetLatestRelease())
	}
}

func TestAppUpstreamRuleRelease(t *testing.T) {
	acc(t)
	version := func() *uint64 { v := appByName("tf-shop").GetVersion(); return &v }
	test(t, func(*terraform.State) error {
		list, err := api.config.ListApps(bg, &configv1.ListAppsRequest{})
		if err != nil {
			return err
		}
		for _, a := range list.GetApps() {
			if a.GetName() != "tf-shop" {
				continue
			}
			rels, err := api.config.ListReleases(bg, &configv1.ListReleasesRequest{AppId: a.GetId()})
			if err != nil {
				return err
			}
			if !a.GetDeleted() || rels.GetReleases()[0].GetNote() != "terraform destroy: app tf-shop deleted" {
				return fmt.Errorf("app tf-shop after destroy: deleted %v, newest release %v (want deleted and the deletion released)", a.GetDeleted(), rels.GetReleases()[0])
			}
			return nil
		}
		return fmt.Errorf("app tf-shop not listed after destroy")
	},
		step(appConfig("tf-a.example.test", "127.0.0.1:9001", true), released("tf-a.example.test", "127.0.0.1:9001", "api", "static")),
		// Update app, upstream and the rule order: released in the same apply.
		step(appConfig("tf-b.example.test", "127.0.0.1:9002", false), released("tf-b.example.test", "127.0.0.1:9002", "static", "api")),
		importStep("strata_app.shop", stateID("strata_app.shop")),
		importStep("strata_upstream.origin", childID("strata_upstream.origin", "app_id")),
		importStep("strata_release.shop", func(s *terraform.State) (string, error) {
			return stAttr(s, "strata_release.shop", "app_id") + "/" + stAttr(s, "strata_release.shop", "number"), nil
		}),
		// Drift: app, upstream and rule order changed through the API; the
		// plan updates them and releases again.
		driftStep(appConfig("tf-b.example.test", "127.0.0.1:9002", false), "strata_upstream.origin", func() error {
			a := appByName("tf-shop").GetApp()
			u := a.GetUpstreams()[0]
			u.Servers[0].Address = "127.0.0.1:9999"
			if _, err := api.config.UpdateUpstream(bg, &configv1.UpdateUpstreamRequest{AppId: a.GetId(), ExpectedVersion: version(), Upstream: u}); err != nil {
				return err
			}
			_, err := api.config.MoveRule(bg, &configv1.MoveRuleRequest{AppId: a.GetId(), ExpectedVersion: version(), Rule: "api", Index: 0})
			return err
		}, released("tf-b.example.test", "127.0.0.1:9002", "static", "api")),
		conflictStep(appConfig("tf-b.example.test", "127.0.0.1:9003", false), func() error {
			a := appByName("tf-shop").GetApp()
			u := a.GetUpstreams()[0]
			u.Retries = 2
			_, err := api.config.UpdateUpstream(bg, &configv1.UpdateUpstreamRequest{AppId: a.GetId(), ExpectedVersion: version(), Upstream: u})
			return err
		}),
	)
}

func TestRuleImport(t *testing.T) {
	acc(t)
	cfg := `
resource "strata_app" "a" {
  name    = "tf-rule-import"
  domains = ["rules.example.com"]
}
resource "strata_rule" "r" {
  app_id  = strata_app.a.id
  name    = "hello"
  last    = true
  actions = [{ respond = { status = 200, body = "hi", content_type = "text/plain" } }, { response_headers = { set = { "x-a" = "1" } } }]
}`
	test(t, nil, step(cfg), importStep("strata_rule.r", childID("strata_rule.r", "app_id")))
}

// An upstream whose servers are a dynamic server set: no servers in the
// config, the set named, and switching back to listed servers works.
func TestUpstreamEndpoints(t *testing.T) {
	acc(t)
	cfg := func(upstream string) string {
		return fmt.Sprintf(`
resource "strata_app" "dyn" {
  name    = "tf-dyn"
  domains = ["tf-dyn.example.test"]
}
resource "strata_upstream" "pods" {
  app_id = strata_app.dyn.id
  name   = "pods"
  %s
}`, upstream)
	}
	upstream := func(endpoints, server string) func(*terraform.State) error {
		return func(*terraform.State) error {
			a := appByName("tf-dyn")
			if a == nil || len(a.GetApp().GetUpstreams()) != 1 {
				return fmt.Errorf("app tf-dyn: %v, want one upstream", a)
			}
			u := a.GetApp().GetUpstreams()[0]
			if err := want("endpoints", u.GetEndpoints(), endpoints); err != nil {
				return err
			}
			var servers []string
			for _, s := range u.GetServers() {
				servers = append(servers, s.GetAddress())
			}
			if server == "" {
				return want("servers", len(servers), 0)
			}
			return want("servers", servers, []string{server})
		}
	}
	test(t, nil,
		step(cfg(`endpoints = "k8s.east.shop.web.8080"`), upstream("k8s.east.shop.web.8080", "")),
		step(cfg(`servers = [{ address = "127.0.0.1:9101", weight = 1 }]`), upstream("", "127.0.0.1:9101")),
	)
}
