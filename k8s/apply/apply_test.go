package apply_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/strata-edge/strata/e2e/e2etest"
	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/k8s/apply"
	"github.com/strata-edge/strata/k8s/translate"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

func TestMain(m *testing.M) { e2etest.Main(m, "k8s-apply") }

// TestApplyReleasesOnceAndConverges: a plan becomes an app released with
// actor k8s-controller and served by the node; applying it again edits and
// releases nothing; a changed plan is one more release; an app the
// controller did not make is not taken over; Delete releases the deletion.
func TestApplyReleasesOnceAndConverges(t *testing.T) {
	data := filepath.Join(t.TempDir(), "dev")
	dev := e2etest.Start(t, e2etest.DevArgs(data, "--http-port", "80")...)
	api, plain := dev.Value(t, "api"), dev.Value(t, "http")
	tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	admin := e2etest.CLI{T: t, Env: []string{"STRATA_API=" + api, "STRATA_TOKEN=" + strings.TrimSpace(string(tok))}}
	admin.OK("user", "create", "k8s-controller", "--service-account")
	admin.OK("grant", "create", "--user", "k8s-controller", "--role", "admin", "--all")
	token := admin.OK("token", "create", "--user", "k8s-controller")
	auth := connect.WithInterceptors(apiauth.BearerToken(token))
	a := &apply.Applier{Config: configv1connect.NewConfigServiceClient(http.DefaultClient, api, auth),
		Cert: certv1connect.NewCertServiceClient(http.DefaultClient, api, auth)}

	backend := func(name string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) }))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	v1, v2 := backend("v1"), backend("v2")
	owner := translate.Owner{Cluster: "east", Kind: "HTTPRoute", Namespace: "shop", Name: "web"}
	plan := func(target string) *translate.Plan {
		return &translate.Plan{Owner: owner, Domains: []string{"shop.example.test"}, HTTPPorts: []uint32{80}, Labels: owner.Labels(),
			Generation: 1,
			Upstreams: []*configv1.Upstream{
				{Name: "shop.v1.8080", Policy: configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN, Servers: []*configv1.Server{{Address: v1, Weight: 1}}},
				{Name: "shop.v2.8080", Policy: configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN, Servers: []*configv1.Server{{Address: v2, Weight: 1}}},
			},
			Rules: []*configv1.Rule{
				{Name: "rule1-match0", When: `(Path("/api") || PathPrefix("/api/")) && Header("X-Canary", "yes")`, Actions: []*configv1.Action{
					{Action: &configv1.Action_RequestHeaders{RequestHeaders: &configv1.HeaderOps{Set: map[string]string{"X-Env": "k8s"}}}},
					{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{Upstreams: []*configv1.WeightedUpstream{{Upstream: "shop.v2.8080", Weight: 1}}}}}}},
				{Name: "rule0-match0", Actions: []*configv1.Action{{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{
					Upstreams: []*configv1.WeightedUpstream{{Upstream: target, Weight: 1}}}}}}},
			}}
	}
	ctx := context.Background()
	res, err := a.Apply(ctx, plan("shop.v1.8080"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Release != 1 || res.Edits == 0 {
		t.Fatalf("first apply: %+v, want release 1", res)
	}
	get := func(path string, hdr ...string) string {
		req, _ := http.NewRequest(http.MethodGet, plain+path, nil)
		req.Host = "shop.example.test"
		if len(hdr) == 2 {
			req.Header.Set(hdr[0], hdr[1])
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			return err.Error()
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return string(b)
	}
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if got := get("/api/x", "X-Canary", "yes"); got != "v2" {
			return fmt.Errorf("canary: %q", got)
		}
		if got := get("/"); got != "v1" {
			return fmt.Errorf("/: %q", got)
		}
		return nil
	})

	// The same plan again (a restarted controller): nothing to do.
	for i := 0; i < 2; i++ {
		res, err = a.Apply(ctx, plan("shop.v1.8080"), nil)
		if err != nil || res.Edits != 0 || res.Release != 0 {
			t.Fatalf("apply of the running plan: %+v %v, want no edit and no release", res, err)
		}
	}
	res, err = a.Apply(ctx, plan("shop.v2.8080"), nil)
	if err != nil || res.Release != 2 {
		t.Fatalf("changed plan: %+v %v, want release 2", res, err)
	}
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if got := get("/"); got != "v2" {
			return fmt.Errorf("/ after the change: %q", got)
		}
		return nil
	})
	rels, err := a.Config.ListReleases(ctx, &configv1.ListReleasesRequest{AppId: owner.AppName()})
	if err != nil {
		t.Fatal(err)
	}
	if len(rels.Releases) != 2 {
		t.Errorf("releases: %v", rels.Releases)
	}
	for _, r := range rels.Releases {
		if r.Actor != "k8s-controller" || !strings.Contains(r.Note, "HTTPRoute shop/web") {
			t.Errorf("release %d: actor %q note %q", r.Number, r.Actor, r.Note)
		}
	}
	owned, err := a.Owned(ctx, "east")
	if err != nil || len(owned) != 1 || owned[0] != owner {
		t.Errorf("Owned(east) = %v %v", owned, err)
	}

	// An app of that name made by someone else is left alone.
	other := translate.Owner{Cluster: "east", Kind: "HTTPRoute", Namespace: "shop", Name: "hand"}
	admin.OK("app", "create", "--name", other.AppName(), "--domain", "hand.example.test")
	p := plan("shop.v1.8080")
	p.Owner, p.Domains, p.Labels = other, []string{"hand.example.test"}, other.Labels()
	if _, err := a.Apply(ctx, p, nil); err == nil || !strings.Contains(err.Error(), "not managed by the k8s controller") {
		t.Errorf("apply over a hand-made app: %v", err)
	}

	if deleted, err := a.Delete(ctx, owner); err != nil || !deleted {
		t.Fatalf("delete: %v %v", deleted, err)
	}
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if got := get("/"); got == "v2" {
			return fmt.Errorf("deleted app still served")
		}
		return nil
	})
}

// TestApplyStreamApp: a stream plan (a Gateway TLS listener) becomes a
// stream app with its listener, TLS mode and SNI routes, released once;
// applying it again edits and releases nothing; moving a name to another
// upstream is one release, and the upstream no route names any more goes.
func TestApplyStreamApp(t *testing.T) {
	data := filepath.Join(t.TempDir(), "dev")
	dev := e2etest.Start(t, e2etest.DevArgs(data)...)
	api := dev.Value(t, "api")
	tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	auth := connect.WithInterceptors(apiauth.BearerToken(strings.TrimSpace(string(tok))))
	a := &apply.Applier{Config: configv1connect.NewConfigServiceClient(http.DefaultClient, api, auth),
		Cert: certv1connect.NewCertServiceClient(http.DefaultClient, api, auth)}
	owner := translate.Owner{Cluster: "east", Kind: "Gateway", Namespace: "shop", Name: "edge", Section: "tls"}
	up := func(name, addr string) *configv1.Upstream {
		return &configv1.Upstream{Name: name, Policy: configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN, Servers: []*configv1.Server{{Address: addr, Weight: 1}}}
	}
	plan := func(dbUpstream string) *translate.Plan {
		p := &translate.Plan{Owner: owner, Domains: []string{"api.example.test", "db.example.test"}, Labels: owner.Labels(), Generation: 1,
			Upstreams: []*configv1.Upstream{up("shop.api.443", "10.0.0.1:443")},
			Stream: &configv1.StreamApp{TlsMode: configv1.StreamTlsMode_STREAM_TLS_MODE_PASSTHROUGH,
				Listeners: []*configv1.StreamListener{{Port: 18443, Protocol: configv1.StreamProtocol_STREAM_PROTOCOL_TCP}},
				SniRoutes: []*configv1.SniRoute{{ServerName: "api.example.test", Upstream: "shop.api.443"}, {ServerName: "db.example.test", Upstream: dbUpstream}}}}
		if dbUpstream != "shop.api.443" {
			p.Upstreams = append(p.Upstreams, up(dbUpstream, "10.0.0.2:5432"))
		}
		return p
	}
	ctx := context.Background()
	if res, err := a.Apply(ctx, plan("shop.db.5432"), nil); err != nil || res.Release != 1 {
		t.Fatalf("first apply: %+v %v, want release 1", res, err)
	}
	got, err := a.Config.GetApp(ctx, &configv1.GetAppRequest{AppId: owner.AppName()})
	if err != nil {
		t.Fatal(err)
	}
	if st := got.App.GetStream(); st == nil || len(st.SniRoutes) != 2 || st.TlsMode != configv1.StreamTlsMode_STREAM_TLS_MODE_PASSTHROUGH ||
		got.App.Labels[translate.LabelSection] != "tls" {
		t.Fatalf("stream app: %v", got.App)
	}
	for i := 0; i < 2; i++ {
		if res, err := a.Apply(ctx, plan("shop.db.5432"), nil); err != nil || res.Edits != 0 || res.Release != 0 {
			t.Fatalf("apply of the running plan: %+v %v, want no edit and no release", res, err)
		}
	}
	if res, err := a.Apply(ctx, plan("shop.api.443"), nil); err != nil || res.Release != 2 {
		t.Fatalf("changed plan: %+v %v, want release 2", res, err)
	}
	got, _ = a.Config.GetApp(ctx, &configv1.GetAppRequest{AppId: owner.AppName()})
	if len(got.App.Upstreams) != 1 {
		t.Errorf("upstreams after the change: %v", got.App.Upstreams)
	}
	if owned, err := a.Owned(ctx, "east"); err != nil || len(owned) != 1 || owned[0] != owner {
		t.Errorf("Owned(east) = %v %v", owned, err)
	}
}
