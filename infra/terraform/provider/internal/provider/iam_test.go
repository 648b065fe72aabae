package provider

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
)

func getUser(name string) (*iamv1.User, error) {
	res, err := api.iam.GetUser(bg, &iamv1.GetUserRequest{Name: name})
	return res.GetUser(), err
}

func TestUserGroupGrant(t *testing.T) {
	acc(t)
	cfg := func(display string, members, role string) string {
		return fmt.Sprintf(`
resource "strata_user" "ann" {
  name         = "tf-ann"
  display_name = %q
  email        = "ann@example.com"
  password     = "correct horse battery staple 42"
}
resource "strata_user" "bot" {
  name = "tf-bot"
  kind = "service_account"
}
resource "strata_group" "ops" {
  name        = "tf-ops"
  description = "operators"
  members     = [%s]
}
resource "strata_grant" "ops" {
  group      = strata_group.ops.name
  role       = %q
  scope_kind = "all"
}`, display, members, role)
	}
	var grants []string
	is := func(display string, members []string, role string) func(*terraform.State) error {
		return func(s *terraform.State) error {
			u, err := getUser("tf-ann")
			if err != nil {
				return err
			}
			if err := want("display_name", u.GetDisplayName(), display); err != nil {
				return err
			}
			bot, err := getUser("tf-bot")
			if err != nil {
				return err
			}
			if err := want("bot kind", bot.GetKind(), iamv1.UserKind_USER_KIND_SERVICE_ACCOUNT); err != nil {
				return err
			}
			g, err := api.iam.GetGroup(bg, &iamv1.GetGroupRequest{Name: "tf-ops"})
			if err != nil {
				return err
			}
			if err := want("members", g.GetGroup().GetMembers(), members); err != nil {
				return err
			}
			gr, err := api.iam.ListGrants(bg, &iamv1.ListGrantsRequest{Group: "tf-ops"})
			if err != nil {
				return err
			}
			if len(gr.GetGrants()) != 1 || gr.GetGrants()[0].GetRole() != role || gr.GetGrants()[0].GetId() != stAttr(s, "strata_grant.ops", "id") {
				return fmt.Errorf("grants of tf-ops %v, want one of role %s with id %s", gr.GetGrants(), role, stAttr(s, "strata_grant.ops", "id"))
			}
			grants = append(grants, gr.GetGrants()[0].GetId())
			return nil
		}
	}
	// The password works: ann can log in with it.
	login := func(*terraform.State) error {
		_, err := api.iam.Login(bg, &iamv1.LoginRequest{User: "tf-ann", Password: "correct horse battery staple 42", ReturnToken: true})
		return err
	}
	destroyed := func(*terraform.State) error {
		for _, n := range []string{"tf-ann", "tf-bot"} {
			if u, err := getUser(n); err != nil || !u.GetDisabled() {
				return fmt.Errorf("user %s not disabled after destroy (%v)", n, err)
			}
		}
		if _, err := api.iam.GetGroup(bg, &iamv1.GetGroupRequest{Name: "tf-ops"}); connect.CodeOf(err) != connect.CodeNotFound {
			return fmt.Errorf("group tf-ops still there after destroy (%v)", err)
		}
		gr, err := api.iam.ListGrants(bg, &iamv1.ListGrantsRequest{Group: "tf-ops"})
		if err != nil || len(gr.GetGrants()) != 0 {
			return fmt.Errorf("grants of tf-ops left after destroy: %v (%v)", gr.GetGrants(), err)
		}
		return nil
	}
	test(t, destroyed,
		step(cfg("Ann", `strata_user.ann.name`, "viewer"), is("Ann", []string{"tf-ann"}, "viewer"), login),
		step(cfg("Ann A.", `strata_user.ann.name, strata_user.bot.name`, "viewer"), is("Ann A.", []string{"tf-ann", "tf-bot"}, "viewer")),
		replaceStep(cfg("Ann A.", `strata_user.ann.name, strata_user.bot.name`, "admin"), "strata_grant.ops",
			is("Ann A.", []string{"tf-ann", "tf-bot"}, "admin")),
		importStep("strata_user.ann", stateID("strata_user.ann"), "password"),
		importStep("strata_group.ops", stateID("strata_group.ops")),
		importStep("strata_grant.ops", stateID("strata_grant.ops")),
		driftStep(cfg("Ann A.", `strata_user.ann.name, strata_user.bot.name`, "admin"), "strata_user.ann", func() error {
			_, err := api.iam.UpdateUser(bg, &iamv1.UpdateUserRequest{Name: "tf-ann", DisplayName: "console edit", Email: "ann@example.com"})
			return err
		}, is("Ann A.", []string{"tf-ann", "tf-bot"}, "admin")),
		driftStep(cfg("Ann A.", `strata_user.ann.name, strata_user.bot.name`, "admin"), "strata_group.ops", func() error {
			_, err := api.iam.RemoveGroupMembers(bg, &iamv1.RemoveGroupMembersRequest{Group: "tf-ops", Users: []string{"tf-bot"}})
			return err
		}, is("Ann A.", []string{"tf-ann", "tf-bot"}, "admin")),
		goneStep(cfg("Ann A.", `strata_user.ann.name, strata_user.bot.name`, "admin"), "strata_grant.ops", func() error {
			_, err := api.iam.DeleteGrant(bg, &iamv1.DeleteGrantRequest{Id: grants[len(grants)-1]})
			return err
		}, is("Ann A.", []string{"tf-ann", "tf-bot"}, "admin")),
		conflictStep(cfg("Ann B.", `strata_user.ann.name, strata_user.bot.name`, "admin"), func() error {
			_, err := api.iam.UpdateUser(bg, &iamv1.UpdateUserRequest{Name: "tf-ann", DisplayName: "concurrent", Email: "ann@example.com"})
			return err
		}),
	)
}

func TestAPIToken(t *testing.T) {
	acc(t)
	cfg := func(desc string) string {
		return fmt.Sprintf(`
resource "strata_user" "ci" {
  name = "tf-ci"
  kind = "service_account"
}
resource "strata_api_token" "ci" {
  user        = strata_user.ci.name
  description = %q
  ttl_seconds = 86400
}`, desc)
	}
	var ids []string
	works := func(desc string) func(*terraform.State) error {
		return func(s *terraform.State) error {
			id := stAttr(s, "strata_api_token.ci", "id")
			ids = append(ids, id)
			// The token authenticates as the service account.
			c := iamv1connect.NewIAMServiceClient(&http.Client{Timeout: time.Minute}, apiURL,
				connect.WithInterceptors(bearer("Bearer "+stAttr(s, "strata_api_token.ci", "token"))))
			who, err := c.WhoAmI(bg, &iamv1.WhoAmIRequest{})
			if err != nil {
				return fmt.Errorf("the token attribute does not authenticate: %v", err)
			}
			if err := want("token user", who.GetUser().GetName(), "tf-ci"); err != nil {
				return err
			}
			tok, err := findAPIToken(id)
			if err != nil {
				return err
			}
			if tok.GetExpiresAt() == nil || stAttr(s, "strata_api_token.ci", "expires_at") == "" {
				return fmt.Errorf("token %s: no expiry (ttl_seconds 86400)", id)
			}
			return want("description", tok.GetDescription(), desc)
		}
	}
	revoked := func(*terraform.State) error {
		for _, id := range ids {
			if tok, err := findAPIToken(id); err != nil || !tok.GetRevoked() {
				return fmt.Errorf("token %s not revoked after destroy (%v)", id, err)
			}
		}
		return nil
	}
	test(t, revoked,
		step(cfg("deploys"), works("deploys")),
		replaceStep(cfg("deploys v2"), "strata_api_token.ci", works("deploys v2")),
		importStep("strata_api_token.ci", stateID("strata_api_token.ci"), "token", "ttl_seconds"),
		goneStep(cfg("deploys v2"), "strata_api_token.ci", func() error {
			_, err := api.iam.RevokeToken(bg, &iamv1.RevokeTokenRequest{Id: ids[len(ids)-1]})
			return err
		}, works("deploys v2")),
	)
}

func findAPIToken(id string) (*iamv1.Token, error) {
	res, err := api.iam.ListTokens(bg, &iamv1.ListTokensRequest{User: "*", IncludeRevoked: true})
	if err != nil {
		return nil, err
	}
	for _, t := range res.GetTokens() {
		if t.GetId() == id {
			return t, nil
		}
	}
	return nil, fmt.Errorf("token %s not in the API", id)
}
