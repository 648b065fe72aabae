package provider

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/terraform"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
)

func wafConfig(mode string) string {
	return fmt.Sprintf(`
resource "strata_waf_policy" "p" {
  name           = "tf-strict"
  mode           = %q
  paranoia_level = 1
  whitelist      = { extensions = ["css", "png"] }
  custom_rules = [
    { id = "block-admin", when = "PathPrefix(\"/admin\")", action = "block", status = 403 },
  ]
}
resource "strata_release" "p" {
  waf_policy_id = strata_waf_policy.p.id
  note          = "terraform"
  lifecycle {
    replace_triggered_by = [strata_waf_policy.p]
  }
}
resource "strata_app" "a" {
  name          = "tf-waf-shop"
  domains       = ["tf-waf-shop.example.com"]
  waf_policy_id = strata_waf_policy.p.id
}
resource "strata_release" "a" {
  app_id     = strata_app.a.id
  note       = "terraform"
  depends_on = [strata_release.p]
  lifecycle {
    replace_triggered_by = [strata_app.a]
  }
}`, mode)
}

// wafReleased checks the released policy's mode and that the released app
// attaches it.
func wafReleased(mode wafv1.WafMode) func(*terraform.State) error {
	return func(s *terraform.State) error {
		p, err := getWafPolicy(bg, api, "tf-strict")
		if err != nil || p == nil {
			return fmt.Errorf("policy not in the API (%v)", err)
		}
		if !samePolicy(p.GetPolicy(), p.GetReleased()) {
			return fmt.Errorf("policy has unreleased changes")
		}
		if err := want("mode", p.GetReleased().GetMode(), mode); err != nil {
			return err
		}
		a, err := getApp(bg, api, "tf-waf-shop")
		if err != nil || a == nil {
			return fmt.Errorf("app not in the API (%v)", err)
		}
		return want("app's waf_policy_id", a.GetReleased().GetWafPolicyId(), p.GetPolicy().GetId())
	}
}

func TestWafPolicyReleaseAndAttach(t *testing.T) {
	acc(t)
	editMode := func() error {
		p, _ := getWafPolicy(bg, api, "tf-strict")
		pol := p.GetPolicy()
		pol.Mode = wafv1.WafMode_WAF_MODE_OFF
		v := p.GetVersion()
		_, err := api.waf.UpdatePolicy(bg, &wafv1.UpdatePolicyRequest{PolicyId: pol.GetId(), ExpectedVersion: &v, Policy: pol})
		return err
	}
	test(t, func(*terraform.State) error {
		if p, _ := getWafPolicy(bg, api, "tf-strict"); p != nil {
			return fmt.Errorf("policy still there after destroy")
		}
		return nil
	},
		step(wafConfig("detect"), wafReleased(wafv1.WafMode_WAF_MODE_DETECT)),
		step(wafConfig("block"), wafReleased(wafv1.WafMode_WAF_MODE_BLOCK)),
		importStep("strata_waf_policy.p", stateID("strata_waf_policy.p")),
		importStep("strata_release.p", func(s *terraform.State) (string, error) {
			return "waf:" + stAttr(s, "strata_release.p", "waf_policy_id"), nil
		}),
		driftStep(wafConfig("block"), "strata_waf_policy.p", editMode, wafReleased(wafv1.WafMode_WAF_MODE_BLOCK)),
	)
}
