package proxy_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node/challenge"
)

func challengeAction(difficulty, seconds uint32) *configv1.Action {
	return &configv1.Action{Action: &configv1.Action_Challenge{Challenge: &configv1.ChallengeAction{Difficulty: difficulty, ClearanceSeconds: seconds}}}
}

func challengedApp(id, domain, upstream string) *configv1.App {
	a := simpleApp(id, domain, upstream)
	a.Rules = []*configv1.Rule{{Name: "protect", When: "PathPrefix(`/shop`)", Actions: []*configv1.Action{challengeAction(10, 600)}}}
	return a
}

var challengeData = regexp.MustCompile(`<script type="application/json" id="strata-challenge">(.*?)</script>`)

// solveChallenge is a browser without JavaScript: it reads the challenge
// page at uri, solves it in Go, sends the answer and returns the
// clearance cookie ("name=value").
func solveChallenge(t *testing.T, c *http.Client, base, host, uri string) string {
	t.Helper()
	r := do(t, c, "GET", base, host, uri, "")
	if r.status != http.StatusForbidden || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET %s: %d (Cache-Control %q), want the challenge page (403, no-store)", uri, r.status, r.header.Get("Cache-Control"))
	}
	m := challengeData.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no challenge data in %q", r.body)
	}
	var pg struct {
		Token      string
		Difficulty uint32
		Verify     string
		Return     string
	}
	if err := json.Unmarshal([]byte(m[1]), &pg); err != nil {
		t.Fatal(err)
	}
	n := challenge.Solve(pg.Token, pg.Difficulty)
	v := do(t, c, "GET", base, host, pg.Verify+"?"+url.Values{"t": {pg.Token}, "n": {n}, "r": {pg.Return}}.Encode(), "")
	if v.status != http.StatusSeeOther || v.header.Get("Location") != uri {
		t.Fatalf("verify: %d to %q (%s), want 303 to %q", v.status, v.header.Get("Location"), v.body, uri)
	}
	cookie, _, _ := strings.Cut(v.header.Get("Set-Cookie"), ";")
	if !strings.HasPrefix(cookie, challenge.CookieName+"=") {
		t.Fatalf("Set-Cookie %q", v.header.Get("Set-Cookie"))
	}
	return cookie
}

func TestChallengeAction(t *testing.T) {
	up := newEcho(t, "up")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, challengedApp("shop", "shop.example.com", up.addr()), challengedApp("other", "other.example.com", up.addr()))
	both(t, p, func(t *testing.T, base string) {
		c := httpClient(t)
		if r := do(t, c, "GET", base, "shop.example.com", "/about", ""); r.status != 200 || r.echo.Server != "up" {
			t.Fatalf("unchallenged path: %d", r.status)
		}
		cookie := solveChallenge(t, c, base, "shop.example.com", "/shop/cart?id=1")
		if r := do(t, c, "GET", base, "shop.example.com", "/shop/cart?id=1", "", "Cookie", cookie); r.status != 200 || r.echo.URI != "/shop/cart?id=1" {
			t.Fatalf("with the clearance: %d %q, want the upstream", r.status, r.body)
		}
		if r := do(t, c, "GET", base, "other.example.com", "/shop/", "", "Cookie", cookie); r.status != http.StatusForbidden {
			t.Fatalf("the cookie on another host: %d, want the challenge", r.status)
		}
		forged := cookie[:len(cookie)-3] + "AAA"
		if r := do(t, c, "GET", base, "shop.example.com", "/shop/", "", "Cookie", forged); r.status != http.StatusForbidden {
			t.Fatalf("forged cookie: %d, want the challenge", r.status)
		}
		// The verify endpoint refuses a wrong answer and gives no cookie.
		if r := do(t, c, "GET", base, "shop.example.com", challenge.VerifyPath+"?t=1.a.b.c.d.e.f&n=1&r=/", ""); r.status != http.StatusForbidden || r.header.Get("Set-Cookie") != "" {
			t.Fatalf("bad answer: %d %q", r.status, r.header.Get("Set-Cookie"))
		}
	})
	if st := p.Stats()["shop"]; st.Requests == 0 {
		t.Fatal("challenge answers are not counted in the app's stats")
	}
}
