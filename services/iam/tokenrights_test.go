package iam

import (
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
)

// TestTokenCreationRights is the role x caller table of CreateToken (issue
// 11 defect 8): a token is never created without iam.token.write unless a
// person makes one for itself, never outlives the token that created it,
// and never holds more than its creator.
func TestTokenCreationRights(t *testing.T) {
	e := newEnv(t)
	day := uint64(24 * 3600)
	if _, err := e.admin.CreateRole(e.ctx, &iamv1.CreateRoleRequest{Name: "token-admin", Permissions: []string{"iam.token.write"}}); err != nil {
		t.Fatal(err)
	}
	// Callers: a service account and a person per role, each with a token
	// that expires in a day (and the person also with a session).
	type caller struct {
		name  string
		sa    bool
		roles []string // over everything
	}
	callers := []caller{
		{"sa-viewer", true, []string{"viewer"}}, {"sa-admin", true, []string{"admin"}}, {"sa-super", true, []string{"super_admin"}},
		{"sa-tokens", true, []string{"token-admin", "viewer"}},
		{"p-viewer", false, []string{"viewer"}}, {"p-super", false, []string{"super_admin"}}, {"p-tokens", false, []string{"token-admin", "viewer"}},
	}
	// Targets of "for another user": service accounts with these grants.
	for _, sa := range []struct{ name, role, scope, object string }{
		{"bot-viewer", "viewer", "all", ""}, {"bot-admin", "admin", "all", ""}, {"bot-super", "super_admin", "all", ""},
		{"bot-shop", "admin", "app", "shop"},
	} {
		if _, err := e.admin.CreateUser(e.ctx, &iamv1.CreateUserRequest{Name: sa.name, ServiceAccount: true}); err != nil {
			t.Fatal(err)
		}
		e.grant(&iamv1.CreateGrantRequest{User: sa.name, Role: sa.role, ScopeKind: sa.scope, ScopeObject: sa.object})
	}
	tokenOf := map[string]iamv1connect.IAMServiceClient{}
	for _, c := range callers {
		req := &iamv1.CreateUserRequest{Name: c.name, ServiceAccount: c.sa}
		if !c.sa {
			req.Password = goodPassword
		}
		if _, err := e.admin.CreateUser(e.ctx, req); err != nil {
			t.Fatal(err)
		}
		for _, r := range c.roles {
			e.grant(&iamv1.CreateGrantRequest{User: c.name, Role: r, ScopeKind: "all"})
		}
		owner := c.name
		if !c.sa {
			owner = "" // a person's token comes from its session
		}
		client := e.admin
		if !c.sa {
			client = e.login(c.name)
		}
		res, err := client.CreateToken(e.ctx, &iamv1.CreateTokenRequest{User: owner, TtlSeconds: day})
		if err != nil {
			t.Fatalf("token for %s: %v", c.name, err)
		}
		tokenOf[c.name] = e.client(res.Secret)
	}

	const ok = connect.Code(0)
	tests := []struct {
		caller, user string // user "": the caller itself
		ttl          uint64
		want         connect.Code
	}{
		// The reproduction: a viewer service account mints itself a
		// permanent token.
		{"sa-viewer", "", 0, connect.CodePermissionDenied},
		{"sa-viewer", "", 3600, connect.CodePermissionDenied},
		{"sa-admin", "", 3600, connect.CodePermissionDenied}, // admin has no iam.*
		{"sa-super", "", 3600, ok},
		{"sa-tokens", "", 3600, ok},
		// Never outlive the calling token (a day).
		{"sa-super", "", 0, connect.CodeInvalidArgument},
		{"sa-super", "", 2 * day, connect.CodeInvalidArgument},
		{"p-viewer", "", 0, connect.CodeInvalidArgument},
		{"p-viewer", "", day + 60, connect.CodeInvalidArgument},
		{"p-viewer", "", 3600, ok}, // people create their own tokens
		{"p-super", "bot-super", 0, connect.CodeInvalidArgument},
		// For another user: iam.token.write, and nothing the caller lacks.
		{"p-viewer", "bot-viewer", 3600, connect.CodePermissionDenied},
		{"sa-viewer", "bot-viewer", 3600, connect.CodePermissionDenied},
		{"sa-admin", "bot-viewer", 3600, connect.CodePermissionDenied},
		{"sa-tokens", "bot-viewer", 3600, ok},
		{"sa-tokens", "bot-admin", 3600, connect.CodePermissionDenied}, // out-privilege
		{"sa-tokens", "bot-shop", 3600, connect.CodePermissionDenied},
		{"sa-tokens", "bot-super", 3600, connect.CodePermissionDenied},
		{"p-tokens", "bot-admin", 3600, connect.CodePermissionDenied},
		{"sa-super", "bot-admin", 3600, ok},
		{"sa-super", "bot-shop", 3600, ok},
		{"p-super", "bot-super", 3600, ok},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s for %q ttl %d", tt.caller, tt.user, tt.ttl), func(t *testing.T) {
			res, err := tokenOf[tt.caller].CreateToken(e.ctx, &iamv1.CreateTokenRequest{User: tt.user, TtlSeconds: tt.ttl})
			if connect.CodeOf(err) != tt.want && !(tt.want == ok && err == nil) {
				t.Fatalf("CreateToken: %v, want code %v", err, tt.want)
			}
			if tt.want == connect.CodeInvalidArgument {
				wantField(t, err, connect.CodeInvalidArgument, "ttl_seconds", "may not outlive it")
			}
			if err == nil && (res.Token.ExpiresAt == nil || res.Token.ExpiresAt.AsTime().After(e.clock.Now().Add(24*time.Hour))) {
				t.Fatalf("token expires %v, after the calling token", res.Token.ExpiresAt)
			}
		})
	}
}
