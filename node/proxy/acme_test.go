package proxy_test

import (
	"testing"

	"github.com/strata-edge/strata/node/proxy"
)

// The plain listener answers ACME HTTP-01 challenges for any host, before
// app routing, on both engines; unknown tokens and other paths route as
// usual; the TLS listener never answers them.
func TestACMEChallenge(t *testing.T) {
	for _, engine := range []string{proxy.EngineFast, proxy.EngineStd} {
		t.Run(engine, func(t *testing.T) {
			echo := newEcho(t, "app")
			p := startProxy(t, proxy.Options{HTTPEngine: engine, ACMEChallenge: func(token string) (string, bool) {
				if token == "tok1" {
					return "tok1.thumbprint", true
				}
				return "", false
			}})
			mustUpdate(t, p, 1, simpleApp("a", "a.example.com", echo.addr()))
			c := httpClient(t)
			tests := []struct {
				name, host, uri string
				status          int
				body            string
			}{
				{"known token, app host", "a.example.com", "/.well-known/acme-challenge/tok1", 200, "tok1.thumbprint"},
				{"known token, unknown host", "new.example.org", "/.well-known/acme-challenge/tok1", 200, "tok1.thumbprint"},
				{"unknown token routes to the app", "a.example.com", "/.well-known/acme-challenge/nope", 200, ""},
				{"unknown token, unknown host", "new.example.org", "/.well-known/acme-challenge/nope", 404, ""},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					r := do(t, c, "GET", httpBase(p), tt.host, tt.uri, "")
					if r.status != tt.status || (tt.body != "" && r.body != tt.body) {
						t.Fatalf("status %d body %q, want %d %q", r.status, r.body, tt.status, tt.body)
					}
					if tt.body == "" && tt.status == 200 && r.echo.Server != "app" {
						t.Fatalf("not routed to the app: %q", r.body)
					}
				})
			}
			if r := do(t, c, "GET", httpsBase(p), "new.example.org", "/.well-known/acme-challenge/tok1", ""); r.status == 200 {
				t.Fatal("TLS listener answered a challenge")
			}
		})
	}
}
