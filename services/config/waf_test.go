package config

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

// wafPolicies is a settable WafPolicies: name -> id, released ids.
type wafPolicies struct {
	mu       sync.Mutex
	names    map[string]string
	released map[string]bool
}

func (w *wafPolicies) PolicyRef(ref string) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for name, id := range w.names {
		if ref == name || ref == id {
			return id, true
		}
	}
	return "", false
}

func (w *wafPolicies) PolicyReleased(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.released[id]
}

// An app's waf_policy_id must name a policy (by id or name, stored as the
// id), on an HTTP app; the app's release waits for the policy's; the apps
// attaching a policy are listed for the waf service's delete.
func TestAppWafPolicy(t *testing.T) {
	waf := &wafPolicies{names: map[string]string{"strict": "wafp_1"}, released: map[string]bool{}}
	e := newEnv(t, envOptions{waf: waf})
	_, err := e.client.CreateApp(e.ctx, &configv1.CreateAppRequest{Name: "shop", Domains: []string{"shop.example.com"}, WafPolicyId: "nope"})
	if ce := wantCode(t, err, connect.CodeInvalidArgument); !strings.Contains(ce.Message(), `waf_policy_id: no waf policy "nope"`) {
		t.Fatalf("unknown policy: %v", ce)
	}
	_, err = e.client.CreateApp(e.ctx, &configv1.CreateAppRequest{Name: "echo", WafPolicyId: "strict",
		Role: &configv1.CreateAppRequest_Stream{Stream: &configv1.StreamApp{Listeners: []*configv1.StreamListener{{Protocol: configv1.StreamProtocol_STREAM_PROTOCOL_TCP, Port: 9000}}}}})
	if ce := wantCode(t, err, connect.CodeInvalidArgument); !strings.Contains(ce.Message(), "waf_policy_id: a WAF policy inspects HTTP requests") {
		t.Fatalf("stream app: %v", ce)
	}
	app := must(e.client.CreateApp(e.ctx, &configv1.CreateAppRequest{Name: "shop", Domains: []string{"shop.example.com"}, WafPolicyId: "strict"}))(t).GetApp()
	if app.GetWafPolicyId() != "wafp_1" {
		t.Fatalf("waf_policy_id %q, want the id", app.GetWafPolicyId())
	}
	if got := e.svc.AppsAttaching("wafp_1"); !slices.Equal(got, []string{`"shop" (` + app.GetId() + `)`}) {
		t.Fatalf("attaching: %v", got)
	}
	_, err = e.client.CreateRelease(e.ctx, &configv1.CreateReleaseRequest{AppId: app.GetId()})
	if ce := wantCode(t, err, connect.CodeFailedPrecondition); !strings.Contains(ce.Message(), "strata waf policy release wafp_1") {
		t.Fatalf("release before the policy's: %v", ce)
	}
	waf.mu.Lock()
	waf.released["wafp_1"] = true
	waf.mu.Unlock()
	must(e.client.CreateRelease(e.ctx, &configv1.CreateReleaseRequest{AppId: app.GetId()}))(t)
	snap := must(e.client.GetSnapshot(e.ctx, &configv1.GetSnapshotRequest{Partition: "default"}))(t)
	view := &syncv1.Snapshot{}
	if err := protojson.Unmarshal([]byte(snap.GetJson()), view); err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(view.GetApps(), func(a *configv1.App) bool { return a.GetId() == app.GetId() }); i < 0 || view.GetApps()[i].GetWafPolicyId() != "wafp_1" {
		t.Fatalf("the released app does not carry its policy: %v", view.GetApps())
	}
	// Detached in the working copy: still listed, the release runs it.
	up := must(e.client.UpdateApp(e.ctx, &configv1.UpdateAppRequest{AppId: app.GetId(), Domains: []string{"shop.example.com"}}))(t)
	if up.GetApp().GetWafPolicyId() != "" {
		t.Fatalf("update without waf_policy_id kept %q", up.GetApp().GetWafPolicyId())
	}
	if got := e.svc.AppsAttaching("wafp_1"); len(got) != 1 {
		t.Fatalf("a running release attaches it: %v", got)
	}
	must(e.client.CreateRelease(e.ctx, &configv1.CreateReleaseRequest{AppId: app.GetId()}))(t)
	if got := e.svc.AppsAttaching("wafp_1"); len(got) != 0 {
		t.Fatalf("detached and released: %v", got)
	}
}
