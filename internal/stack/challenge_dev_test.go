package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node/challenge"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// TestDevChallengeAndLimits: on strata dev, an app made with the CLI's
// limit and challenge flags gets 413 over its body limit, and its
// challenge is signed with the key the WAF service made for the partition
// (not a node-local one); `strata waf challenge-key rotate` makes a new key
// current on the node while the cookie of the old one still passes.
func TestDevChallengeAndLimits(t *testing.T) {
	dev := runDev(t)
	httpURL, port := dev.value(t, "http"), dev.port(t, "http")
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "shop") }))
	t.Cleanup(origin.Close)
	ctx := context.Background()
	strata := clientsFor(dev.api, dev.token).cli(t)
	id := strata("app", "create", "--name", "shop", "--domain", "shop.example.com", "--http-port", fmt.Sprint(port), "--max-body", "1KiB")
	strata("upstream", "create", "--app", id, "--name", "web", "--server", origin.Listener.Addr().String())
	strata("rule", "create", "--app", id, "--name", "gate", "--when", `PathPrefix("/login")`, "--challenge", "--challenge-difficulty", "10")
	strata("release", "create", "--app", id)
	c := clientsFor(dev.api, dev.token)
	inSync := func() {
		t.Helper()
		natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
			nodes := must[*configv1.ListNodesResponse](t)(c.config.ListNodes(ctx, &configv1.ListNodesRequest{})).GetNodes()
			if len(nodes) != 1 || !nodes[0].GetInSync() {
				return fmt.Errorf("nodes %v", nodes)
			}
			return nil
		})
	}
	inSync()
	send := func(method, uri, body, cookie string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, httpURL+uri, strings.NewReader(body))
		req.Host = "shop.example.com"
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	if res, _ := send("POST", "/", strings.Repeat("x", 2000), ""); res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("body over --max-body: %d, want 413", res.StatusCode)
	}
	if res, body := send("POST", "/", strings.Repeat("x", 1000), ""); res.StatusCode != 200 || body != "shop" {
		t.Fatalf("body under --max-body: %d %q", res.StatusCode, body)
	}
	page := regexp.MustCompile(`<script type="application/json" id="strata-challenge">(.*?)</script>`)
	solve := func() string {
		t.Helper()
		var cookie string
		// The service gives the partition its key at start; until the node
		// has it, cookies are signed with the node's own ("local").
		natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
			res, body := send("GET", "/login", "", "")
			m := page.FindStringSubmatch(body)
			if res.StatusCode != http.StatusForbidden || m == nil {
				return fmt.Errorf("GET /login: %d", res.StatusCode)
			}
			var pg struct {
				Token      string
				Difficulty uint32
				Verify     string
				Return     string
			}
			_ = json.Unmarshal([]byte(m[1]), &pg)
			res, body = send("GET", pg.Verify+"?"+url.Values{"t": {pg.Token}, "n": {challenge.Solve(pg.Token, pg.Difficulty)}, "r": {pg.Return}}.Encode(), "", "")
			if res.StatusCode != http.StatusSeeOther {
				return fmt.Errorf("verify: %d %s", res.StatusCode, body)
			}
			cookie, _, _ = strings.Cut(res.Header.Get("Set-Cookie"), ";")
			if !strings.Contains(cookie, ".wck_") {
				return fmt.Errorf("cookie %q not signed with the partition's key", cookie)
			}
			return nil
		})
		return cookie
	}
	first := solve()
	if res, body := send("GET", "/login", "", first); res.StatusCode != 200 || body != "shop" {
		t.Fatalf("cleared request: %d %q", res.StatusCode, body)
	}
	out := strata("waf", "challenge-key", "rotate")
	if !strings.Contains(out, "wck_") {
		t.Fatalf("rotate printed %q", out)
	}
	kid := strings.Split(first, ".")[1]
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if c := solve(); strings.Contains(c, "."+kid+".") {
			return fmt.Errorf("new cookies still signed with %s", kid)
		}
		return nil
	})
	if res, _ := send("GET", "/login", "", first); res.StatusCode != 200 {
		t.Fatalf("the cookie issued before the rotation: %d", res.StatusCode)
	}
}
