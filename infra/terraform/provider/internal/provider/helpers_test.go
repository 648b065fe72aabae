package provider

import (
	"context"
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
)

// attr is an attribute of a resource in the state after a step.
func stAttr(s *terraform.State, name, key string) string {
	if r, ok := s.RootModule().Resources[name]; ok {
		return r.Primary.Attributes[key]
	}
	return ""
}

// check runs f (a look at the API) after a step.
func check(f func(s *terraform.State) error) resource.TestCheckFunc { return f }

// driftStep changes the object through the API (edit), then requires the
// plan to show an update of name and the apply to restore what the config says.
func driftStep(config, name string, edit func() error, verify resource.TestCheckFunc) resource.TestStep {
	return resource.TestStep{
		PreConfig: func() {
			if err := edit(); err != nil {
				panic(err)
			}
		},
		Config:           config,
		ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(name, plancheck.ResourceActionUpdate)}},
		Check:            verify,
	}
}

// concurrentEdit is a plan check that edits the object through the API
// after the plan was made, before the apply: the apply must refuse.
type concurrentEdit func() error

func (c concurrentEdit) CheckPlan(_ context.Context, _ plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	resp.Error = c()
}

// conflictStep applies config while someone edits the object between plan
// and apply; the apply fails naming the concurrent edit.
func conflictStep(config string, edit func() error) resource.TestStep {
	return resource.TestStep{
		Config:           config,
		ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{concurrentEdit(edit)}},
		ExpectError:      regexp.MustCompile(`changed\s+outside\s+Terraform\s+since\s+the\s+plan\s+was\s+made|concurrent\s+edit`),
	}
}

func importStep(name string, id func(s *terraform.State) (string, error), ignore ...string) resource.TestStep {
	return resource.TestStep{ResourceName: name, ImportState: true, ImportStateVerify: true, ImportStateIdFunc: id,
		ImportStateVerifyIgnore: ignore}
}

func stateID(name string) func(s *terraform.State) (string, error) {
	return func(s *terraform.State) (string, error) { return stAttr(s, name, "id"), nil }
}

func childID(name, parent string) func(s *terraform.State) (string, error) {
	return func(s *terraform.State) (string, error) {
		return stAttr(s, name, parent) + "/" + stAttr(s, name, "id"), nil
	}
}

func test(t *testing.T, destroyed func(s *terraform.State) error, steps ...resource.TestStep) {
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: factories, Steps: steps, CheckDestroy: destroyed})
}

func want(what string, got, exp any) error {
	if fmt.Sprint(got) != fmt.Sprint(exp) {
		return fmt.Errorf("%s: API has %v, want %v", what, got, exp)
	}
	return nil
}

var bg = context.Background()

func step(config string, checks ...resource.TestCheckFunc) resource.TestStep {
	return resource.TestStep{Config: config, Check: resource.ComposeAggregateTestCheckFunc(checks...)}
}

// goneStep removes the object through the API (edit); the plan must create
// it again and the apply does.
func goneStep(config, name string, edit func() error, verify resource.TestCheckFunc) resource.TestStep {
	s := driftStep(config, name, edit, verify)
	s.ConfigPlanChecks.PreApply = []plancheck.PlanCheck{plancheck.ExpectResourceAction(name, plancheck.ResourceActionCreate)}
	return s
}

// replaceStep applies config, which must replace name.
func replaceStep(config, name string, verify ...resource.TestCheckFunc) resource.TestStep {
	s := step(config, verify...)
	s.ConfigPlanChecks.PreApply = []plancheck.PlanCheck{plancheck.ExpectResourceAction(name, plancheck.ResourceActionDestroyBeforeCreate)}
	return s
}
