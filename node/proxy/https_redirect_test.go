package proxy_test

import (
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node/proxy"
)

// TestHTTPSRedirectAndHSTS: an app on an http and an https port with
// https_redirect answers plain HTTP with a redirect to the same URL on HTTPS
// (301 for GET/HEAD, 308 otherwise) and proxies HTTPS, which gets the HSTS
// header, on both plain-listener engines; no loop on HTTPS. The same with
// the rule language's Scheme and Port conditions instead of the setting.
func TestHTTPSRedirectAndHSTS(t *testing.T) {
	for _, engine := range []string{proxy.EngineFast, proxy.EngineStd} {
		t.Run(engine, func(t *testing.T) {
			up := newEcho(t, "web")
			// The node routes its listeners as ports 80 and 443 (a port forward).
			p := startProxy(t, proxy.Options{HTTPEngine: engine, HTTPPort: 80, HTTPSPort: 443})
			app := simpleApp("shop", "shop.example.com", up.addr())
			app.HttpPorts, app.HttpsPorts = []uint32{80}, []uint32{443}
			app.HttpsRedirect = true
			app.Hsts = &configv1.Hsts{MaxAgeSeconds: 31536000, IncludeSubdomains: true}
			mustUpdate(t, p, 1, app)
			c := http1Client(t)

			r := do(t, c, "GET", httpBase(p), "shop.example.com", "/cart?id=7", "")
			if r.status != 301 || r.header.Get("Location") != "https://shop.example.com/cart?id=7" {
				t.Fatalf("GET over http: %d Location %q, want 301 to https://shop.example.com/cart?id=7", r.status, r.header.Get("Location"))
			}
			if up.reqs.Load() != 0 {
				t.Fatal("a redirected request reached the upstream")
			}
			if h := r.header.Get("Strict-Transport-Security"); h != "" {
				t.Errorf("HSTS on a plain-HTTP response: %q", h)
			}
			r = do(t, c, "POST", httpBase(p), "shop.example.com", "/checkout", "x=1")
			if r.status != 308 || r.header.Get("Location") != "https://shop.example.com/checkout" {
				t.Fatalf("POST over http: %d Location %q, want 308", r.status, r.header.Get("Location"))
			}

			r = do(t, c, "GET", httpsBase(p), "shop.example.com", "/cart?id=7", "")
			if r.status != 200 || r.echo.Server != "web" || r.echo.URI != "/cart?id=7" {
				t.Fatalf("GET over https: %d %s (a loop would be a redirect)", r.status, r.body)
			}
			if h := r.header.Get("Strict-Transport-Security"); h != "max-age=31536000; includeSubDomains" {
				t.Errorf("HSTS over https: %q", h)
			}

			// The https port is not 443: the redirect names it.
			app.HttpsPorts = []uint32{8443}
			p2 := startProxy(t, proxy.Options{HTTPEngine: engine, HTTPPort: 80, HTTPSPort: 8443})
			mustUpdate(t, p2, 1, app)
			r = do(t, c, "HEAD", httpBase(p2), "shop.example.com", "/", "")
			if r.status != 301 || r.header.Get("Location") != "https://shop.example.com:8443/" {
				t.Fatalf("HEAD over http, https port 8443: %d Location %q", r.status, r.header.Get("Location"))
			}

			// The documented rule does the same with Scheme (and Port).
			rule := simpleApp("blog", "blog.example.com", up.addr())
			rule.HttpPorts, rule.HttpsPorts = []uint32{80}, []uint32{443}
			rule.Rules = []*configv1.Rule{{Name: "to-https", When: "Scheme(`http`) && Port(`80`)", Actions: []*configv1.Action{{Action: &configv1.Action_Redirect{
				Redirect: &configv1.RedirectAction{Url: "https://$host$request_uri", Status: 301}}}}}}
			mustUpdate(t, p, 2, app, rule)
			r = do(t, c, "GET", httpBase(p), "blog.example.com", "/a?b=c", "")
			if r.status != 301 || r.header.Get("Location") != "https://blog.example.com/a?b=c" {
				t.Fatalf("rule redirect over http: %d Location %q", r.status, r.header.Get("Location"))
			}
			before := up.reqs.Load()
			r = do(t, c, "GET", httpsBase(p), "blog.example.com", "/a?b=c", "")
			if r.status != 200 || up.reqs.Load() != before+1 {
				t.Fatalf("rule app over https: %d %s", r.status, r.body)
			}
			if h := r.header.Get("Strict-Transport-Security"); h != "" {
				t.Errorf("HSTS on an app without it: %q", h)
			}
		})
	}
}
