package iam

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
)

func TestConsoleSessionCookie(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice")
	console, hc := e.browser()

	_, err := console.WhoAmI(e.ctx, &iamv1.WhoAmIRequest{})
	wantCode(t, err, connect.CodeUnauthenticated)

	req := connect.NewRequest(&iamv1.LoginRequest{User: "alice", Password: goodPassword})
	res, err := iamv1connect.NewIAMServiceClient(hc, e.srv.URL).Login(e.ctx, req.Msg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Token != "" {
		t.Fatal("console login returned the session secret in the body")
	}
	if want := e.clock.Now().Add(12 * time.Hour); !res.ExpiresAt.AsTime().Equal(want) {
		t.Fatalf("expires_at = %v, want %v", res.ExpiresAt.AsTime(), want)
	}
	who, err := console.WhoAmI(e.ctx, &iamv1.WhoAmIRequest{})
	if err != nil {
		t.Fatalf("WhoAmI with the cookie: %v", err)
	}
	if who.Name != "alice" || who.Kind != "user" || !strings.HasPrefix(who.CredentialId, "ses_") {
		t.Fatalf("WhoAmI = %v", who)
	}

	// Logout ends the session on the server, not only in the browser.
	cookies := hc.Jar.Cookies(mustURL(t, e.srv.URL))
	if len(cookies) != 1 {
		t.Fatalf("cookies = %v", cookies)
	}
	stolen := cookies[0].Value
	if _, err := console.Logout(e.ctx, &iamv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	if n := len(hc.Jar.Cookies(mustURL(t, e.srv.URL))); n != 0 {
		t.Fatalf("cookie still set after logout (%d)", n)
	}
	_, err = e.client(stolen).WhoAmI(e.ctx, &iamv1.WhoAmIRequest{})
	wantCode(t, err, connect.CodeUnauthenticated)
}

func TestSessionCookieAttributes(t *testing.T) {
	for _, secure := range []bool{false, true} {
		name := "plain"
		if secure {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.Secure = secure })
			e.createUser("alice")
			body := strings.NewReader(`{"user":"alice","password":"` + goodPassword + `"}`)
			r, _ := http.NewRequest(http.MethodPost, e.srv.URL+iamv1connect.IAMServiceLoginProcedure, body)
			r.Header.Set("Content-Type", "application/json")
			resp, err := e.srv.Client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			cs := resp.Cookies()
			if len(cs) != 1 {
				t.Fatalf("cookies = %v", cs)
			}
			c := cs[0]
			wantName := SessionCookie
			if secure {
				wantName = SecureSessionCookie
			}
			if c.Name != wantName || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != secure || c.Path != "/" || c.MaxAge != 12*3600 {
				t.Fatalf("cookie = %#v", c)
			}
		})
	}
}

func TestCrossOriginRequestsAreRejected(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice")
	console, hc := e.browser()
	if _, err := console.Login(e.ctx, &iamv1.LoginRequest{User: "alice", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		headers map[string]string
		status  int
	}{
		{"same origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusOK},
		{"cross site", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"foreign origin without fetch metadata", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"no browser headers (CLI)", nil, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPost, e.srv.URL+iamv1connect.IAMServiceCreateTokenProcedure, strings.NewReader(`{"description":"x"}`))
			r.Header.Set("Content-Type", "application/json")
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			for _, c := range hc.Jar.Cookies(mustURL(t, e.srv.URL)) {
				r.AddCookie(c)
			}
			resp, err := e.srv.Client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
	// The rejection is a Connect error a client can read.
	evil := iamv1connect.NewIAMServiceClient(&http.Client{Transport: headerTransport{e.srv.Client().Transport, "Sec-Fetch-Site", "cross-site"}, Jar: hc.Jar}, e.srv.URL)
	_, err := evil.CreateToken(e.ctx, &iamv1.CreateTokenRequest{})
	if !isCode(err, connect.CodePermissionDenied) || !strings.Contains(err.Error(), "cross-origin") {
		t.Fatalf("cross-origin call: %v", err)
	}
}

type headerTransport struct {
	rt   http.RoundTripper
	k, v string
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h.k, h.v)
	return h.rt.RoundTrip(r)
}

func TestLoginRateLimits(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.LoginLimits = LoginLimits{PerUserBurst: 3, PerUserEvery: time.Minute, PerAddressBurst: 8, PerAddressEvery: time.Hour}
	})
	e.createUser("alice")
	anon := e.client("")
	login := func(user, pw string) error {
		_, err := anon.Login(e.ctx, &iamv1.LoginRequest{User: user, Password: pw, ReturnToken: true})
		return err
	}
	for i := 0; i < 3; i++ {
		wantCode(t, login("alice", "wrong password!"), connect.CodeUnauthenticated)
	}
	// The user's bucket is empty: even the right password waits.
	err := login("alice", goodPassword)
	if !isCode(err, connect.CodeResourceExhausted) || !strings.Contains(err.Error(), `too many failed logins for user "alice": try again in 1m0s`) {
		t.Fatalf("4th attempt: %v", err)
	}
	// Other users are not locked out by alice's failures.
	wantCode(t, login("bob", "whatever password"), connect.CodeUnauthenticated)
	e.clock.Advance(time.Minute)
	if err := login("alice", goodPassword); err != nil {
		t.Fatalf("after a minute: %v", err)
	}
	// 6 attempts so far from this address; 2 left, then the address waits.
	wantCode(t, login("carol", "whatever password"), connect.CodeUnauthenticated)
	wantCode(t, login("dave", "whatever password"), connect.CodeUnauthenticated)
	err = login("erin", "whatever password")
	if !isCode(err, connect.CodeResourceExhausted) || !strings.Contains(err.Error(), "too many login attempts from 127.0.0.1") {
		t.Fatalf("address limit: %v", err)
	}
	// Unknown users and wrong passwords look the same.
	e.clock.Advance(2 * time.Hour)
	e1, e2 := login("nosuchuser", "whatever password"), login("alice", "whatever password")
	if e1 == nil || e2 == nil || e1.Error() != e2.Error() {
		t.Fatalf("unknown user %v vs wrong password %v", e1, e2)
	}
}
