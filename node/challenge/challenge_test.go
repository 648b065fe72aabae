package challenge_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/strata-edge/strata/node/challenge"
)

// req is a request as the challenge sees it.
type req struct {
	method, host, uri, scheme string
	ip                        netip.Addr
	cookies                   map[string]string
}

func (r *req) Method() string     { return r.method }
func (r *req) Host() string       { return r.host }
func (r *req) RequestURI() string { return r.uri }
func (r *req) Scheme() string     { return r.scheme }
func (r *req) ClientIP() netip.Addr {
	return r.ip
}
func (r *req) Path() string { p, _, _ := strings.Cut(r.uri, "?"); return p }
func (r *req) Cookie(n string) (string, bool) {
	v, ok := r.cookies[n]
	return v, ok
}
func (r *req) Query(n string) (string, bool) {
	_, q, _ := strings.Cut(r.uri, "?")
	v, err := url.ParseQuery(q)
	if err != nil || !v.Has(n) {
		return "", false
	}
	return v.Get(n), true
}

func get(host, ip, uri string) *req {
	return &req{method: "GET", host: host, uri: uri, scheme: "https", ip: netip.MustParseAddr(ip), cookies: map[string]string{}}
}

var pageJSON = regexp.MustCompile(`<script type="application/json" id="strata-challenge">(.*?)</script>`)

type page struct {
	Token      string `json:"token"`
	Difficulty uint32 `json:"difficulty"`
	Verify     string `json:"verify"`
	Return     string `json:"return"`
}

func readPage(t *testing.T, resp challenge.Response) page {
	t.Helper()
	if resp.Status != http.StatusForbidden || !strings.HasPrefix(resp.ContentType, "text/html") {
		t.Fatalf("challenge page: status %d type %q, want 403 html", resp.Status, resp.ContentType)
	}
	m := pageJSON.FindSubmatch(resp.Body)
	if m == nil {
		t.Fatalf("challenge page without its data: %s", resp.Body)
	}
	var p page
	if err := json.Unmarshal(m[1], &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func header(resp challenge.Response, name string) string {
	for _, h := range resp.Header {
		if h[0] == name {
			return h[1]
		}
	}
	return ""
}

// solve completes the challenge r gets; it returns the cookie value.
func solve(t *testing.T, c *challenge.Challenger, r *req, p challenge.Params) string {
	t.Helper()
	pg := readPage(t, c.Serve(r, p))
	n := challenge.Solve(pg.Token, pg.Difficulty)
	v := *r
	v.uri = pg.Verify + "?" + url.Values{"t": {pg.Token}, "n": {n}, "r": {pg.Return}}.Encode()
	if !c.IsVerify(&v) {
		t.Fatal("the page's verify URL is not the verify endpoint")
	}
	resp := c.Verify(&v)
	if resp.Status != http.StatusSeeOther || header(resp, "Location") != r.uri {
		t.Fatalf("verify: %d to %q (%s), want 303 to %q", resp.Status, header(resp, "Location"), resp.Body, r.uri)
	}
	sc := header(resp, "Set-Cookie")
	name, rest, _ := strings.Cut(sc, "=")
	val, attrs, _ := strings.Cut(rest, ";")
	if name != challenge.CookieName || !strings.Contains(attrs, "HttpOnly") || !strings.Contains(attrs, "Secure") {
		t.Fatalf("Set-Cookie %q", sc)
	}
	return val
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestClearance(t *testing.T) {
	clk := &clock{time.Unix(1_800_000_000, 0)}
	c := challenge.New(clk.now)
	p := challenge.Params{Difficulty: 10, ClearanceSeconds: 600}
	r := get("shop.example", "192.0.2.7", "/cart?id=3")
	if c.Check(r, p) {
		t.Fatal("a request without a cookie is cleared")
	}
	cookie := solve(t, c, r, p)
	with := func(r *req, v string) *req { r.cookies[challenge.CookieName] = v; return r }
	cases := []struct {
		name string
		r    *req
		p    challenge.Params
		want bool
	}{
		{"same host and client", with(get("shop.example", "192.0.2.7", "/"), cookie), p, true},
		{"other host", with(get("admin.example", "192.0.2.7", "/"), cookie), p, false},
		{"other client", with(get("shop.example", "192.0.2.8", "/"), cookie), p, false},
		{"harder challenge", with(get("shop.example", "192.0.2.7", "/"), cookie), challenge.Params{Difficulty: 12}, false},
		{"forged signature", with(get("shop.example", "192.0.2.7", "/"), cookie[:len(cookie)-2]+"AA"), p, false},
		{"forged expiry", with(get("shop.example", "192.0.2.7", "/"), strings.Replace(cookie, ".1800000600.", ".1900000600.", 1)), p, false},
		{"garbage", with(get("shop.example", "192.0.2.7", "/"), "1.x.y"), p, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.Check(tc.r, tc.p); got != tc.want {
				t.Fatalf("Check = %v, want %v (cookie %q)", got, tc.want, tc.r.cookies[challenge.CookieName])
			}
		})
	}
	clk.t = clk.t.Add(599 * time.Second)
	if !c.Check(with(get("shop.example", "192.0.2.7", "/"), cookie), p) {
		t.Fatal("cookie refused before it expires")
	}
	clk.t = clk.t.Add(time.Second)
	if c.Check(with(get("shop.example", "192.0.2.7", "/"), cookie), p) {
		t.Fatal("expired cookie accepted")
	}
}

func TestIPv6Prefix(t *testing.T) {
	c := challenge.New(nil)
	p := challenge.Params{Difficulty: 8}
	cookie := solve(t, c, get("a.example", "2001:db8:1:2::10", "/"), p)
	r := get("a.example", "2001:db8:1:2:ffff::1", "/")
	r.cookies[challenge.CookieName] = cookie
	if !c.Check(r, p) {
		t.Fatal("another address of the client's /64 refused")
	}
	r = get("a.example", "2001:db8:1:3::10", "/")
	r.cookies[challenge.CookieName] = cookie
	if c.Check(r, p) {
		t.Fatal("another /64 accepted")
	}
}

func TestRotation(t *testing.T) {
	clk := &clock{time.Unix(1_800_000_000, 0)}
	c := challenge.New(clk.now)
	k1 := challenge.Key{ID: "k1", Secret: bytes.Repeat([]byte{1}, 32), NotBefore: clk.t.Add(-time.Hour)}
	if err := c.SetKeys([]challenge.Key{k1}); err != nil {
		t.Fatal(err)
	}
	p := challenge.Params{Difficulty: 8, ClearanceSeconds: 3600}
	r := get("a.example", "192.0.2.1", "/")
	cookie := solve(t, c, r, p)
	if !strings.HasPrefix(cookie, "1.k1.") {
		t.Fatalf("cookie %q not signed by k1", cookie)
	}
	// Rotation: k2 signs from now on, k1 is the previous key.
	k2 := challenge.Key{ID: "k2", Secret: bytes.Repeat([]byte{2}, 32), NotBefore: clk.t}
	if err := c.SetKeys([]challenge.Key{k2, k1}); err != nil {
		t.Fatal(err)
	}
	r.cookies[challenge.CookieName] = cookie
	if !c.Check(r, p) {
		t.Fatal("a cookie of the previous key is refused after the rotation")
	}
	fresh := solve(t, c, get("a.example", "192.0.2.1", "/"), p)
	if !strings.HasPrefix(fresh, "1.k2.") {
		t.Fatalf("new cookie %q not signed by the current key", fresh)
	}
	// The next rotation drops k1: its cookies end.
	k3 := challenge.Key{ID: "k3", Secret: bytes.Repeat([]byte{3}, 32), NotBefore: clk.t.Add(time.Minute)}
	if err := c.SetKeys([]challenge.Key{k3, k2}); err != nil {
		t.Fatal(err)
	}
	if c.Check(r, p) {
		t.Fatal("a cookie of a dropped key is accepted")
	}
	r.cookies[challenge.CookieName] = fresh
	if !c.Check(r, p) {
		t.Fatal("k2 cookie refused while k2 is the previous key")
	}
	// A key past its not_after verifies nothing.
	k2.NotAfter = clk.t
	if err := c.SetKeys([]challenge.Key{k3, k2}); err != nil {
		t.Fatal(err)
	}
	if c.Check(r, p) {
		t.Fatal("cookie of an expired key accepted")
	}
	if err := c.SetKeys([]challenge.Key{{ID: "short", Secret: []byte("x")}}); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("short secret: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	clk := &clock{time.Unix(1_800_000_000, 0)}
	c := challenge.New(clk.now)
	p := challenge.Params{Difficulty: 12}
	r := get("a.example", "192.0.2.1", "/login")
	pg := readPage(t, c.Serve(r, p))
	n := challenge.Solve(pg.Token, pg.Difficulty)
	wrong := "0"
	for challenge.LeadingZeros(pg.Token, wrong) >= 12 {
		wrong += "1"
	}
	verify := func(host, ip, tok, n, ret string) challenge.Response {
		return c.Verify(get(host, ip, challenge.VerifyPath+"?"+url.Values{"t": {tok}, "n": {n}, "r": {ret}}.Encode()))
	}
	for _, tc := range []struct {
		name, host, ip, tok, n string
		want                   string
	}{
		{"wrong answer", "a.example", "192.0.2.1", pg.Token, wrong, "wrong answer"},
		{"other host", "b.example", "192.0.2.1", pg.Token, n, "not signed"},
		{"other client", "a.example", "192.0.2.2", pg.Token, n, "not signed"},
		{"easier difficulty", "a.example", "192.0.2.1", strings.Replace(pg.Token, ".12.", ".8.", 1), n, "not signed"},
		{"malformed", "a.example", "192.0.2.1", "1.2.3", n, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := verify(tc.host, tc.ip, tc.tok, tc.n, "/login")
			if resp.Status != http.StatusForbidden || !strings.Contains(string(resp.Body), tc.want) || header(resp, "Set-Cookie") != "" {
				t.Fatalf("got %d %q, want 403 %q without a cookie", resp.Status, resp.Body, tc.want)
			}
		})
	}
	// An open redirect is never offered: the return path stays local.
	resp := verify("a.example", "192.0.2.1", pg.Token, n, "//evil.example/")
	if resp.Status != http.StatusSeeOther || header(resp, "Location") != "/" {
		t.Fatalf("return to another site: %d %q", resp.Status, header(resp, "Location"))
	}
	// Solved too late: a new challenge, no cookie.
	clk.t = clk.t.Add(challenge.TokenTTL)
	resp = verify("a.example", "192.0.2.1", pg.Token, n, "/login")
	if header(resp, "Set-Cookie") != "" {
		t.Fatal("expired token earned a cookie")
	}
	if again := readPage(t, resp); again.Return != "/login" || again.Token == pg.Token {
		t.Fatalf("new challenge %+v", again)
	}
}

// TestPageScript runs the page's own solver (solve.js) in Node.js when it
// is installed: the browser's answer must pass Verify.
func TestPageScript(t *testing.T) {
	nodejs, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node (Node.js) not installed")
	}
	c := challenge.New(nil)
	r := get("a.example", "192.0.2.1", "/")
	resp := c.Serve(r, challenge.Params{Difficulty: 14})
	pg := readPage(t, resp)
	script := regexp.MustCompile(`(?s)<script>(.*?var strataSolve.*?\n\}\)\(\);)`).FindSubmatch(resp.Body)
	if script == nil {
		t.Fatal("solver script not found in the page")
	}
	tok, _ := json.Marshal(pg.Token)
	out, err := exec.Command(nodejs, "-e", string(script[1])+"\nconsole.log(strataSolve("+string(tok)+", 14));").CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v: %s", err, out)
	}
	n := strings.TrimSpace(string(out))
	if z := challenge.LeadingZeros(pg.Token, n); z < 14 {
		t.Fatalf("the script's answer %q has %d leading zero bits, want 14", n, z)
	}
	v := get("a.example", "192.0.2.1", challenge.VerifyPath+"?"+url.Values{"t": {pg.Token}, "n": {n}, "r": {"/"}}.Encode())
	if got := c.Verify(v); got.Status != http.StatusSeeOther {
		t.Fatalf("verify of the script's answer: %d %s", got.Status, got.Body)
	}
}

func FuzzCookie(f *testing.F) {
	c := challenge.New(nil)
	p := challenge.Params{Difficulty: 8}
	f.Add("1.local.1800000000.8.AAAA")
	f.Add("1..0.0.")
	f.Add("....")
	f.Fuzz(func(t *testing.T, v string) {
		r := get("a.example", "192.0.2.1", "/")
		r.cookies[challenge.CookieName] = v
		if c.Check(r, p) {
			t.Fatalf("cookie %q accepted without being issued", v)
		}
		r.uri = challenge.VerifyPath + "?" + url.Values{"t": {v}, "n": {"1"}}.Encode()
		if resp := c.Verify(r); resp.Status == http.StatusSeeOther {
			t.Fatalf("token %q verified without being issued", v)
		}
	})
}
