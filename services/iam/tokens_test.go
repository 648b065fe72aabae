package iam

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
)

func TestAPITokens(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice")
	e.createUser("bob")
	if _, err := e.admin.CreateUser(e.ctx, &iamv1.CreateUserRequest{Name: "deploy-bot", ServiceAccount: true}); err != nil {
		t.Fatal(err)
	}
	alice := e.login("alice")

	created, err := alice.CreateToken(e.ctx, &iamv1.CreateTokenRequest{Description: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Secret, "strata_") || created.Token.User != "alice" || created.Token.ExpiresAt != nil {
		t.Fatalf("CreateToken = %v", created)
	}
	withToken := e.client(created.Secret)
	who, err := withToken.WhoAmI(e.ctx, &iamv1.WhoAmIRequest{})
	if err != nil || who.Name != "alice" || who.Kind != "token" || who.CredentialId != created.Token.Id {
		t.Fatalf("WhoAmI with token = %v, %v", who, err)
	}

	// The secret is stored only as a hash.
	evs, err := e.store.ReadAll(e.ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if bytes.Contains(ev.Data, []byte(created.Secret)) || bytes.Contains(ev.Data, []byte(goodPassword)) {
			t.Fatalf("event %s %s holds a secret in clear", ev.Type, ev.ID)
		}
	}

	// Last use is visible at once and recorded in the log.
	e.clock.Advance(time.Minute)
	if _, err := withToken.WhoAmI(e.ctx, &iamv1.WhoAmIRequest{}); err != nil {
		t.Fatal(err)
	}
	list, err := alice.ListTokens(e.ctx, &iamv1.ListTokensRequest{})
	if err != nil || len(list.Tokens) != 1 || !list.Tokens[0].LastUsedAt.AsTime().Equal(e.clock.Now()) {
		t.Fatalf("ListTokens = %v, %v; want last use %v", list, err, e.clock.Now())
	}
	e.svc.flushTokenUses(e.ctx)
	var used bool
	e.svc.proj.Read(func(st *state) { used = st.tokens[created.Token.Id].lastUsed.Equal(e.clock.Now()) })
	if !used {
		t.Fatal("token use not recorded as an event")
	}

	// Scope of token management.
	_, err = alice.CreateToken(e.ctx, &iamv1.CreateTokenRequest{User: "deploy-bot"})
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = alice.ListTokens(e.ctx, &iamv1.ListTokensRequest{User: "*"})
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = e.admin.CreateToken(e.ctx, &iamv1.CreateTokenRequest{User: "bob"})
	wantField(t, err, connect.CodeInvalidArgument, "user", "is a person")
	_, err = e.admin.CreateToken(e.ctx, &iamv1.CreateTokenRequest{})
	wantField(t, err, connect.CodeInvalidArgument, "user", "bootstrap token is not a user")
	_, err = e.admin.CreateToken(e.ctx, &iamv1.CreateTokenRequest{User: "deploy-bot", TtlSeconds: 10 * 365 * 24 * 3600})
	wantField(t, err, connect.CodeInvalidArgument, "ttl_seconds", "at most")
	bot, err := e.admin.CreateToken(e.ctx, &iamv1.CreateTokenRequest{User: "deploy-bot", Description: "CI", TtlSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	all, err := e.admin.ListTokens(e.ctx, &iamv1.ListTokensRequest{User: "*"})
	if err != nil || len(all.Tokens) != 2 {
		t.Fatalf("all tokens = %v, %v", all, err)
	}
	// Others' tokens look missing to alice.
	_, err = alice.RevokeToken(e.ctx, &iamv1.RevokeTokenRequest{Id: bot.Token.Id})
	wantCode(t, err, connect.CodeNotFound)

	// Expiry.
	botClient := e.client(bot.Secret)
	if _, err := botClient.WhoAmI(e.ctx, &iamv1.WhoAmIRequest{}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	_, err = botClient.WhoAmI(e.ctx, &iamv1.WhoAmIRequest{})
	wantCode(t, err, connect.CodeUnauthenticated)
	if _, err := e.svc.authenticate(e.ctx, bot.Secret); err == nil || !strings.Contains(err.Error(), "expired at") {
		t.Fatalf("authenticate expired token: %v", err)
	}

	// Revocation.
	if _, err := alice.RevokeToken(e.ctx, &iamv1.RevokeTokenRequest{Id: created.Token.Id}); err != nil {
		t.Fatal(err)
	}
	_, err = withToken.WhoAmI(e.ctx, &iamv1.WhoAmIRequest{})
	wantCode(t, err, connect.CodeUnauthenticated)
	if _, err := e.svc.authenticate(e.ctx, created.Secret); err == nil || !strings.Contains(err.Error(), "was revoked") {
		t.Fatalf("authenticate revoked token: %v", err)
	}
	list, _ = alice.ListTokens(e.ctx, &iamv1.ListTokensRequest{})
	if len(list.Tokens) != 0 {
		t.Fatalf("revoked token listed: %v", list.Tokens)
	}
	list, _ = alice.ListTokens(e.ctx, &iamv1.ListTokensRequest{IncludeRevoked: true})
	if len(list.Tokens) != 1 || !list.Tokens[0].Revoked {
		t.Fatalf("with revoked: %v", list.Tokens)
	}
}

func TestBootstrapTokenRevocation(t *testing.T) {
	e := newEnv(t)
	_, err := e.admin.RevokeBootstrapToken(e.ctx, &iamv1.RevokeBootstrapTokenRequest{})
	if !isCode(err, connect.CodeFailedPrecondition) || !strings.Contains(err.Error(), "no enabled user holds super_admin") {
		t.Fatalf("revoke without an admin: %v", err)
	}
	e.createUser("root")
	e.createUser("alice")
	g := e.grant(&iamv1.CreateGrantRequest{User: "root", Role: "super_admin", ScopeKind: "all"})
	root := e.login("root")
	if _, err := e.admin.RevokeBootstrapToken(e.ctx, &iamv1.RevokeBootstrapTokenRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err = e.admin.WhoAmI(e.ctx, &iamv1.WhoAmIRequest{})
	wantCode(t, err, connect.CodeUnauthenticated)
	if _, err := e.svc.authenticate(e.ctx, bootstrapToken); err == nil || !strings.Contains(err.Error(), "bootstrap admin token was revoked") {
		t.Fatalf("authenticate revoked bootstrap token: %v", err)
	}

	// The last administrator cannot lock everyone out.
	_, err = root.DeleteGrant(e.ctx, &iamv1.DeleteGrantRequest{Id: g.Id})
	wantCode(t, err, connect.CodeFailedPrecondition)
	_, err = root.SetUserDisabled(e.ctx, &iamv1.SetUserDisabledRequest{Name: "root", Disabled: true})
	wantCode(t, err, connect.CodeFailedPrecondition)
	// With a second administrator it can.
	if _, err := root.CreateGrant(e.ctx, &iamv1.CreateGrantRequest{User: "alice", Role: "super_admin", ScopeKind: "all"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.DeleteGrant(e.ctx, &iamv1.DeleteGrantRequest{Id: g.Id}); err != nil {
		t.Fatal(err)
	}
	_, err = root.ListUsers(e.ctx, &iamv1.ListUsersRequest{})
	wantCode(t, err, connect.CodePermissionDenied)
}
