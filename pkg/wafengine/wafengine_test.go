package wafengine

import (
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
)

// req is a Request over a net/http request, for the engine's tests.
type req struct {
	r    *http.Request
	body string
}

func newReq(method, target, contentType, body string) *req {
	r, err := http.NewRequest(method, "http://shop.example.com"+target, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
	r.Header.Set("Accept", "text/html,application/json")
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return &req{r: r, body: body}
}

func (q *req) Method() string { return q.r.Method }
func (q *req) Host() string   { return q.r.URL.Hostname() }
func (q *req) Path() string   { return q.r.URL.Path }
func (q *req) Header(name string) (string, bool) {
	v := q.r.Header.Values(name)
	if len(v) == 0 {
		return "", false
	}
	return v[0], true
}
func (q *req) Cookie(name string) (string, bool) {
	c, err := q.r.Cookie(name)
	if err != nil {
		return "", false
	}
	return c.Value, true
}
func (q *req) Query(name string) (string, bool) {
	v, ok := q.r.URL.Query()[name]
	if !ok {
		return "", false
	}
	return v[0], true
}
func (q *req) ClientIP() netip.Addr { return netip.MustParseAddr("203.0.113.7") }
func (q *req) Scheme() string       { return "http" }
func (q *req) Port() uint32         { return 80 }
func (q *req) RequestURI() string   { return q.r.URL.RequestURI() }
func (q *req) Proto() string        { return "HTTP/1.1" }
func (q *req) VisitHeaders(fn func(name, value string)) {
	fn("Host", q.r.URL.Host)
	for k, vs := range q.r.Header {
		for _, v := range vs {
			fn(k, v)
		}
	}
}
func (q *req) Body(max int) ([]byte, bool) {
	if len(q.body) > max {
		return []byte(q.body[:max]), true
	}
	return []byte(q.body), false
}

func policy(mode wafv1.WafMode) *wafv1.WafPolicy {
	return &wafv1.WafPolicy{Id: "p1", Name: "strict", Mode: mode, Version: 1,
		RequestBody: &wafv1.BodyInspection{Enabled: true}}
}

func mustCompile(t testing.TB, p *wafv1.WafPolicy) *WAF {
	t.Helper()
	w, err := Compile(p)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return w
}

const sqli = "/products?id=1%27%20OR%20%271%27%3D%271%27%20UNION%20SELECT%20password%20FROM%20users--"

func hasRule(v Verdict, prefix string) bool {
	for _, m := range v.Matches {
		if strings.HasPrefix(m.RuleID, prefix) {
			return true
		}
	}
	return false
}

func TestCRSBlocksAndDetects(t *testing.T) {
	block := mustCompile(t, policy(wafv1.WafMode_WAF_MODE_BLOCK))
	detectP := policy(wafv1.WafMode_WAF_MODE_DETECT)
	detect := mustCompile(t, detectP)

	benign := newReq("GET", "/products?id=42&sort=price", "", "")
	if v := block.Inspect(benign); v.Action != None || len(v.Matches) != 0 {
		t.Errorf("benign GET: %+v, want nothing", v)
	}
	v := block.Inspect(newReq("GET", sqli, "", ""))
	if v.Action != Block || v.Status != 403 || v.AnomalyScore < 5 || !hasRule(v, "942") {
		t.Errorf("SQLi in BLOCK: action %q status %d score %d matches %+v; want block 403 with a 942xxx rule", v.Action, v.Status, v.AnomalyScore, v.Matches)
	}
	v = detect.Inspect(newReq("GET", sqli, "", ""))
	if v.Action != Detect || v.Status != 0 || !hasRule(v, "942") {
		t.Errorf("SQLi in DETECT: %q %d %+v; want detect", v.Action, v.Status, v.Matches)
	}
	xss := newReq("POST", "/comment", "application/x-www-form-urlencoded", "text="+url.QueryEscape(`<script>alert(document.cookie)</script>`))
	if v := block.Inspect(xss); v.Action != Block || !hasRule(v, "941") {
		t.Errorf("XSS form: %q %+v; want block by 941xxx", v.Action, v.Matches)
	}
	json := newReq("POST", "/api/items", "application/json", `{"name":"x","q":"1' UNION SELECT password FROM users--"}`)
	if v := block.Inspect(json); v.Action != Block || !hasRule(v, "942") {
		t.Errorf("SQLi in JSON: %q %+v; want block by 942xxx", v.Action, v.Matches)
	}
	benignJSON := newReq("POST", "/api/items", "application/json", `{"name":"blue shirt","size":"M","qty":2,"tags":["summer","cotton"]}`)
	if v := block.Inspect(benignJSON); v.Action != None {
		t.Errorf("benign JSON: %q %+v; want nothing", v.Action, v.Matches)
	}
}

func TestBodyOnlyWhereAsked(t *testing.T) {
	p := policy(wafv1.WafMode_WAF_MODE_BLOCK)
	p.RequestBody = &wafv1.BodyInspection{Enabled: true, Json: true, LimitBytes: 1024}
	w := mustCompile(t, p)
	attack := `{"q":"1' UNION SELECT password FROM users--"}`
	// XML is not asked for: the body is not read.
	x := newReq("POST", "/api", "application/xml", "<q>1' UNION SELECT password FROM users--</q>")
	if v := w.Inspect(x); v.Action != None {
		t.Errorf("xml body with json only: %q %+v; want not inspected", v.Action, v.Matches)
	}
	if v := w.Inspect(newReq("POST", "/api", "application/json", attack)); v.Action != Block {
		t.Errorf("json attack: %q, want block", v.Action)
	}
	// Leaving the Content-Type out (or naming another) must not skip the
	// body: it parses as a form, as in Coraza alone.
	form := "q=1' UNION SELECT password FROM users--"
	for _, ct := range []string{"", "text/plain", "application/x-made-up"} {
		if v := w.Inspect(newReq("POST", "/api", ct, form)); v.Action != Block {
			t.Errorf("attack body with Content-Type %q: %q %+v; want block", ct, v.Action, v.Matches)
		}
	}
	big := newReq("POST", "/api", "application/json", `{"a":"`+strings.Repeat("x", 2000)+`"}`)
	if v := w.Inspect(big); v.Action != Block || v.Status != 413 || !hasRule(v, BodyLimitRuleID) {
		t.Errorf("body over limit in BLOCK: %q %d, want block 413", v.Action, v.Status)
	}
	// All three parsers when none is named: XML and multipart bodies too.
	all := mustCompile(t, policy(wafv1.WafMode_WAF_MODE_BLOCK))
	if v := all.Inspect(x); v.Action != Block || !hasRule(v, "942") {
		t.Errorf("xml attack with every parser: %q %+v; want block by 942xxx", v.Action, v.Matches)
	}
	mp := "--b\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n1' UNION SELECT password FROM users--\r\n--b--\r\n"
	if v := all.Inspect(newReq("POST", "/upload", "multipart/form-data; boundary=b", mp)); v.Action != Block || !hasRule(v, "942") {
		t.Errorf("multipart attack: %q %+v; want block by 942xxx", v.Action, v.Matches)
	}
	p.RequestBody.Enabled = false
	off := mustCompile(t, p)
	if v := off.Inspect(newReq("POST", "/api", "application/json", attack)); v.Action != None {
		t.Errorf("body inspection off: %q %+v; want not inspected", v.Action, v.Matches)
	}
}

func TestCustomRulesBeforeCRS(t *testing.T) {
	p := policy(wafv1.WafMode_WAF_MODE_BLOCK)
	p.CustomRules = []*wafv1.CustomRule{
		{Id: "trusted", When: "ClientIP(`203.0.113.0/24`) && PathPrefix(`/internal`)", Action: wafv1.WafRuleAction_WAF_RULE_ACTION_ALLOW},
		{Id: "audit-admin", When: "PathPrefix(`/admin`)", Action: wafv1.WafRuleAction_WAF_RULE_ACTION_LOG, Description: "admin access"},
		{Id: "no-admin-delete", When: "PathPrefix(`/admin`) && Method(`DELETE`)", Action: wafv1.WafRuleAction_WAF_RULE_ACTION_BLOCK, Status: 451},
		{Id: "off", When: "PathPrefix(`/`)", Action: wafv1.WafRuleAction_WAF_RULE_ACTION_BLOCK, Disabled: true},
	}
	w := mustCompile(t, p)
	if v := w.Inspect(newReq("DELETE", "/admin/users/1", "", "")); v.Action != Block || v.Status != 451 || !hasRule(v, "custom:no-admin-delete") || !hasRule(v, "custom:audit-admin") {
		t.Errorf("DELETE /admin: %q %d %+v; want block 451 by custom:no-admin-delete after the log rule", v.Action, v.Status, v.Matches)
	}
	if v := w.Inspect(newReq("GET", "/admin/users", "", "")); v.Action != Log || v.Matches[0].Message != "admin access" {
		t.Errorf("GET /admin: %q %+v; want log", v.Action, v.Matches)
	}
	if v := w.Inspect(newReq("GET", "/internal"+sqli, "", "")); v.Action != Allow || hasRule(v, "942") {
		t.Errorf("allowed SQLi: %q %+v; want allow without CRS", v.Action, v.Matches)
	}
	if v := w.Inspect(newReq("GET", "/shop", "", "")); v.Action != None {
		t.Errorf("disabled rule ran: %q %+v", v.Action, v.Matches)
	}
}

func TestWhitelistAndExclusions(t *testing.T) {
	p := policy(wafv1.WafMode_WAF_MODE_BLOCK)
	p.Whitelist = &wafv1.Whitelist{Extensions: []string{"css", "PNG"}, PathPrefixes: []string{"/static/"}, When: "Header(`X-Health`, `1`)"}
	p.Exclusions = []*wafv1.RuleExclusion{
		{Tags: []string{"attack-sqli"}, PathPrefixes: []string{"/search"}},
		{RuleIds: []string{"942100-942999"}, Targets: []string{"ARGS:sql"}},
	}
	w := mustCompile(t, p)
	for _, target := range []string{"/a/b.css" + sqli[9:], "/logo.png" + sqli[9:], "/static/x" + sqli[9:]} {
		if v := w.Inspect(newReq("GET", target, "", "")); v.Action != None || !v.Skipped {
			t.Errorf("%s: %+v, want skipped by the whitelist", target, v)
		}
	}
	h := newReq("GET", sqli, "", "")
	h.r.Header.Set("X-Health", "1")
	if v := w.Inspect(h); !v.Skipped {
		t.Errorf("whitelist when: %+v, want skipped", v)
	}
	if v := w.Inspect(newReq("GET", "/search"+sqli[9:], "", "")); hasRule(v, "942") {
		t.Errorf("/search: %+v, want attack-sqli excluded", v.Matches)
	}
	if v := w.Inspect(newReq("GET", sqli, "", "")); v.Action != Block {
		t.Errorf("/products: %q, want still blocked", v.Action)
	}
	if v := w.Inspect(newReq("GET", "/report?sql="+url.QueryEscape("1' UNION SELECT password FROM users--"), "", "")); hasRule(v, "942") {
		t.Errorf("ARGS:sql excluded: %+v, want no 942 match", v.Matches)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(p *wafv1.WafPolicy)
		want string
	}{
		{"bad when", func(p *wafv1.WafPolicy) {
			p.CustomRules = []*wafv1.CustomRule{
				{Id: "ok", When: "Path(`/`)", Action: wafv1.WafRuleAction_WAF_RULE_ACTION_LOG},
				{Id: "block-admin", When: "PathPrefix(`/admin`) && Nope(`x`)", Action: wafv1.WafRuleAction_WAF_RULE_ACTION_BLOCK},
			}
		}, `custom_rules[1] (id "block-admin").when: column 25: `},
		{"duplicate id", func(p *wafv1.WafPolicy) {
			r := &wafv1.CustomRule{Id: "a", When: "Path(`/`)", Action: wafv1.WafRuleAction_WAF_RULE_ACTION_LOG}
			p.CustomRules = []*wafv1.CustomRule{r, r}
		}, `custom_rules[1] (id "a").id: repeats custom_rules[0]`},
		{"status", func(p *wafv1.WafPolicy) {
			p.CustomRules = []*wafv1.CustomRule{{Id: "a", When: "Path(`/`)", Action: wafv1.WafRuleAction_WAF_RULE_ACTION_BLOCK, Status: 200}}
		}, `custom_rules[0] (id "a").status: is 200: must be 400-599`},
		{"no action", func(p *wafv1.WafPolicy) {
			p.CustomRules = []*wafv1.CustomRule{{Id: "a", When: "Path(`/`)"}}
		}, `custom_rules[0] (id "a").action: is required`},
		{"unknown tag", func(p *wafv1.WafPolicy) {
			p.Exclusions = []*wafv1.RuleExclusion{{Tags: []string{"attack-sqlx"}}}
		}, `exclusions[0].tags[0]: "attack-sqlx": no Core Rule Set rule has this tag`},
		{"unknown id", func(p *wafv1.WafPolicy) {
			p.Exclusions = []*wafv1.RuleExclusion{{RuleIds: []string{"942100", "123"}}}
		}, `exclusions[0].rule_ids[1]: "123": the Core Rule Set has no rule with this id`},
		{"target", func(p *wafv1.WafPolicy) {
			p.Exclusions = []*wafv1.RuleExclusion{{RuleIds: []string{"942100"}, Targets: []string{"BODY:x"}}}
		}, `exclusions[0].targets[0]: "BODY:x": want COLLECTION:name`},
		{"paranoia", func(p *wafv1.WafPolicy) { p.ParanoiaLevel = 5 }, `paranoia_level: is 5`},
		{"body limit", func(p *wafv1.WafPolicy) { p.RequestBody.LimitBytes = 11 << 20 }, `request_body.limit_bytes: is 11534336`},
		{"whitelist", func(p *wafv1.WafPolicy) { p.Whitelist = &wafv1.Whitelist{Extensions: []string{".css"}} }, `whitelist.extensions[0]: ".css": letters and digits only`},
	} {
		p := policy(wafv1.WafMode_WAF_MODE_BLOCK)
		p.CrsDisabled = true // the field checks run before Coraza
		tc.edit(p)
		err := Validate(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
	if err := Validate(policy(wafv1.WafMode_WAF_MODE_BLOCK)); err != nil {
		t.Errorf("valid policy: %v", err)
	}
	// A directive Coraza refuses is named by field and SecLang line: a
	// RESPONSE rule is not loaded without inspect_responses.
	p := policy(wafv1.WafMode_WAF_MODE_BLOCK)
	p.Exclusions = []*wafv1.RuleExclusion{{RuleIds: []string{"951100"}, Targets: []string{"ARGS:x"}}}
	err := Validate(p)
	if err == nil || !regexp.MustCompile(`^exclusions\[0\]\.targets\[0\]: SecLang line \d+ "SecRuleUpdateTargetById 951100 .*not found`).MatchString(err.Error()) {
		t.Errorf("response rule excluded without responses: err = %v, want the field and SecLang line", err)
	}
	p.InspectResponses = true
	if err := Validate(p); err != nil {
		t.Errorf("with inspect_responses (the RESPONSE rules loaded): %v", err)
	}
	p.ResponseBodyLimitBytes = MaxBodyLimitBytes + 1
	if err := Validate(p); err == nil || !strings.HasPrefix(err.Error(), "response_body_limit_bytes: is 10485761") {
		t.Errorf("response body limit over 10 MiB: err = %v, want it refused by name", err)
	}
}

func TestMask(t *testing.T) {
	for _, tc := range []struct{ target, data, want string }{
		{"REQUEST_HEADERS:Authorization", "Bearer abc", Masked},
		{"REQUEST_HEADERS:cookie", "sid=1", Masked},
		{"REQUEST_COOKIES:sid", "1' OR 1=1", Masked},
		{"ARGS:password", "' OR 1=1--", Masked},
		{"ARGS_POST:user_token", "x", Masked},
		{"ARGS:id", "1' OR 1=1", "1' OR 1=1"},
		{"ARGS:q", strings.Repeat("é", 100), strings.Repeat("é", 64)},
	} {
		if got := Mask(tc.target, tc.data); got != tc.want {
			t.Errorf("Mask(%q, %q) = %q, want %q", tc.target, tc.data, got, tc.want)
		}
	}
}

// FuzzCheck: whatever the policy's strings, a policy check accepts yields
// directives of one line each, with no quote the generator did not write.
func FuzzCheck(f *testing.F) {
	f.Add("942100-942999", "attack-sqli", "/api", "ARGS:password", "PathPrefix(`/a`)", "css")
	f.Add("1", "a'b", "/x\"y", "ARGS:a\nSecRule", "(", ".png")
	f.Fuzz(func(t *testing.T, id, tag, prefix, target, when, ext string) {
		p := &wafv1.WafPolicy{Id: "p", Mode: wafv1.WafMode_WAF_MODE_BLOCK,
			Exclusions:  []*wafv1.RuleExclusion{{RuleIds: []string{id}, Tags: []string{tag}, PathPrefixes: []string{prefix}, Targets: []string{target}}, {RuleIds: []string{id}, Targets: []string{target}}},
			Whitelist:   &wafv1.Whitelist{Extensions: []string{ext}, When: when},
			CustomRules: []*wafv1.CustomRule{{Id: "r", When: when, Action: wafv1.WafRuleAction_WAF_RULE_ACTION_LOG}},
		}
		if check(p) != nil {
			return
		}
		for _, l := range directives(p) {
			if strings.ContainsAny(l.text, "\n\r") {
				t.Fatalf("directive %q spans lines", l.text)
			}
			if l.field != "" && strings.Count(l.text, `"`)%2 != 0 {
				t.Fatalf("directive %q has unbalanced quotes", l.text)
			}
		}
	})
}
