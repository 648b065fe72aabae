package config

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// App limits and challenge actions are refused with the field named, and
// what is accepted reaches the partition's snapshot as given.
func TestLimitsAndChallenge(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, ctx := e.client, e.ctx
	app := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "shop", Domains: []string{"shop.example.com"}}))(t).App
	must(c.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: app.Id, Upstream: sampleUpstream("web", "10.0.0.1:80")}))(t)
	update := func(l *configv1.AppLimits) error {
		_, err := c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: app.Id, Name: "shop", Domains: []string{"shop.example.com"}, Limits: l})
		return err
	}
	challengeRule := func(d, s uint32) error {
		_, err := c.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: ruleWith(&configv1.Action{Action: &configv1.Action_Challenge{
			Challenge: &configv1.ChallengeAction{Difficulty: d, ClearanceSeconds: s}}})})
		return err
	}
	stream := func() error {
		_, err := c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "tcp", Role: &configv1.CreateAppRequest_Stream{Stream: &configv1.StreamApp{
			Listeners: []*configv1.StreamListener{{Protocol: configv1.StreamProtocol_STREAM_PROTOCOL_TCP, Port: 9000}}, Upstream: "x"}},
			Limits: &configv1.AppLimits{MaxConnsPerIp: 3}})
		return err
	}
	for _, tt := range []struct {
		name, field, reason string
		call                func() error
	}{
		{"body", "limits.max_request_body_bytes", "more than", func() error { return update(&configv1.AppLimits{MaxRequestBodyBytes: 2 << 30}) }},
		{"header small", "limits.max_request_header_bytes", "1 KiB to 1 MiB", func() error { return update(&configv1.AppLimits{MaxRequestHeaderBytes: 100}) }},
		{"header large", "limits.max_request_header_bytes", "1 KiB to 1 MiB", func() error { return update(&configv1.AppLimits{MaxRequestHeaderBytes: 2 << 20}) }},
		{"conns", "limits.max_conns_per_ip", "more than", func() error { return update(&configv1.AppLimits{MaxConnsPerIp: 1 << 20}) }},
		{"rate", "limits.tls_handshakes_per_second", "more than", func() error { return update(&configv1.AppLimits{TlsHandshakesPerSecond: 1 << 20}) }},
		{"burst alone", "limits.tls_handshake_burst", "needs tls_handshakes_per_second", func() error { return update(&configv1.AppLimits{TlsHandshakeBurst: 5}) }},
		{"stream app", "limits", "HTTP apps only", stream},
		{"difficulty", "rule.actions[0].challenge.difficulty", "8-24", func() error { return challengeRule(30, 0) }},
		{"clearance", "rule.actions[0].challenge.clearance_seconds", "60-86400", func() error { return challengeRule(0, 90000) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := e.head()
			v := wantField(t, tt.call(), tt.field)
			if !strings.Contains(v.Reason, tt.reason) {
				t.Errorf("reason %q does not contain %q", v.Reason, tt.reason)
			}
			if e.head() != before {
				t.Error("a refused request stored events")
			}
		})
	}
	want := &configv1.AppLimits{MaxRequestBodyBytes: 10 << 20, MaxRequestHeaderBytes: 16 << 10, MaxConnsPerIp: 100, TlsHandshakesPerSecond: 20, TlsHandshakeBurst: 40}
	if err := update(want); err != nil {
		t.Fatal(err)
	}
	if err := challengeRule(18, 1800); err != nil {
		t.Fatal(err)
	}
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))(t)
	_, snap := snapshotOf(t, c, e, "default", false)
	if len(snap.GetApps()) != 1 {
		t.Fatalf("snapshot apps: %d", len(snap.GetApps()))
	}
	got := snap.GetApps()[0]
	if !proto.Equal(got.GetLimits(), want) {
		t.Fatalf("snapshot limits %v, want %v", got.GetLimits(), want)
	}
	if ch := got.GetRules()[0].GetActions()[0].GetChallenge(); ch.GetDifficulty() != 18 || ch.GetClearanceSeconds() != 1800 {
		t.Fatalf("snapshot challenge %v", ch)
	}
	// All zero: the app has no limits.
	if err := update(&configv1.AppLimits{}); err != nil {
		t.Fatal(err)
	}
	if l := must(c.GetApp(ctx, &configv1.GetAppRequest{AppId: app.Id}))(t).GetApp().GetLimits(); l != nil {
		t.Fatalf("zero limits stored as %v", l)
	}
}
