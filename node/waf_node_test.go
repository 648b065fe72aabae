package node_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/node/proxy"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/node/waf"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	"github.com/strata-edge/strata/pkg/wafengine"
)

// releaseWAF publishes a delta upserting policies and apps, then the
// snapshot with them.
func (p *publisher) releaseWAF(policies []*wafv1.WafPolicy, apps ...*configv1.App) uint64 {
	p.t.Helper()
	d := &syncv1.Delta{PartitionId: partition, FromVersion: p.version, ToVersion: p.version + 1, Schema: natsutil.SyncSchema}
	for _, pol := range policies {
		d.Upserts = append(d.Upserts, store.Resource(pol, d.ToVersion))
	}
	for _, a := range apps {
		d.Upserts = append(d.Upserts, store.Resource(a, d.ToVersion))
		p.apps[a.GetId()] = a
	}
	p.version = d.ToVersion
	snap := &syncv1.Snapshot{PartitionId: partition, Version: p.version, WafPolicies: policies}
	for _, a := range p.apps {
		snap.Apps = append(snap.Apps, a)
	}
	return p.send(d, snap)
}

// echo answers with the method and the body length it received.
func echo(t *testing.T) string {
	t.Helper()
	return upstreamFunc(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %d", r.Method, len(b))
	})
}

func upstreamFunc(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

func wafApp(id, policy, addr string) *configv1.App {
	return &configv1.App{Id: id, Name: id, Domains: []string{id + ".example.com"}, WafPolicyId: policy,
		Upstreams: []*configv1.Upstream{{Id: id + "-up", Name: "main", Servers: []*configv1.Server{{Address: addr, Weight: 1}}}}}
}

// hits collects the WAF hits the node publishes, as the hub sees them.
type hits struct {
	mu   sync.Mutex
	list []*wafv1.WafHit
	raw  [][]byte
}

// subscribeHits collects the hits every node publishes until the test ends.
func subscribeHits(t *testing.T, nc *nats.Conn) *hits {
	t.Helper()
	got := new(hits)
	sub, err := nc.Subscribe(natsutil.WafHitAll, func(m *nats.Msg) {
		h := new(wafv1.WafHit)
		if err := proto.Unmarshal(m.Data, h); err != nil {
			t.Errorf("hit: %v", err)
			return
		}
		got.mu.Lock()
		got.list, got.raw = append(got.list, h), append(got.raw, m.Data)
		got.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return got
}

func (h *hits) wait(t *testing.T, requestID string) *wafv1.WafHit {
	t.Helper()
	var found *wafv1.WafHit
	natstest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, x := range h.list {
			if x.GetRequestId() == requestID {
				found = x
				return nil
			}
		}
		return fmt.Errorf("no hit with request id %q among %d", requestID, len(h.list))
	})
	return found
}

func (h *hits) forApp(app, action string) []*wafv1.WafHit {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*wafv1.WafHit
	for _, x := range h.list {
		if x.GetAppId() == app && (action == "" || x.GetAction() == action) {
			out = append(out, x)
		}
	}
	return out
}

const sqliQuery = "id=1%27%20OR%20%271%27%3D%271%27%20UNION%20SELECT%20password%20FROM%20users--"

// A node runs the WAF policies of its config: one compiled WAF per policy
// shared by the apps attaching it, attacks refused with 403 in BLOCK mode
// and passed in DETECT, whitelists, exclusions, custom rules and body
// inspection, on both listeners, every flagged request published as a hit
// with its secrets masked.
func TestNodeWAF(t *testing.T) {
	hub, leafURL := runHub(t)
	control := natstest.Connect(t, hub)
	got := subscribeHits(t, control)

	p := newPublisher(t, control)
	strict := &wafv1.WafPolicy{Id: "pol-strict", Name: "strict", Mode: wafv1.WafMode_WAF_MODE_BLOCK, Version: 1,
		RequestBody: &wafv1.BodyInspection{Enabled: true, LimitBytes: 16 << 10},
		Whitelist:   &wafv1.Whitelist{Extensions: []string{"css"}, PathPrefixes: []string{"/static/"}},
		Exclusions:  []*wafv1.RuleExclusion{{Tags: []string{"attack-sqli"}, PathPrefixes: []string{"/search"}}},
		CustomRules: []*wafv1.CustomRule{
			{Id: "trusted-scanner", When: "Header(`X-Scanner-Token`, `letmein`)", Action: wafv1.WafRuleAction_WAF_RULE_ACTION_ALLOW},
			{Id: "audit", When: "PathPrefix(`/audit`)", Action: wafv1.WafRuleAction_WAF_RULE_ACTION_LOG, Description: "audited path"},
			{Id: "login-pow", When: "Path(`/login`)", Action: wafv1.WafRuleAction_WAF_RULE_ACTION_CHALLENGE},
			{Id: "no-admin", When: "PathPrefix(`/admin`) && !ClientIP(`10.0.0.0/8`)", Action: wafv1.WafRuleAction_WAF_RULE_ACTION_BLOCK, Description: "admin from outside"},
		}}
	watch := &wafv1.WafPolicy{Id: "pol-watch", Name: "watch", Mode: wafv1.WafMode_WAF_MODE_DETECT, Version: 4}
	addr := echo(t)
	v := p.releaseWAF([]*wafv1.WafPolicy{strict, watch},
		wafApp("shop", "pol-strict", addr), wafApp("blog", "pol-strict", addr), wafApp("watched", "pol-watch", addr), wafApp("plain", "", addr))

	o := node.Options{DataDir: t.TempDir(), HubLeafURLs: []string{leafURL}, HTTPSAddr: "127.0.0.1:0"}
	n := startNode(t, o)
	natstest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if n.Version() != v {
			return fmt.Errorf("node runs %d, want %d", n.Version(), v)
		}
		return nil
	})

	plainURL, tlsURL := "http://"+n.ProxyHTTPAddr(), "https://"+n.ProxyHTTPSAddr()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	do := func(base, method, app, target, contentType, body string, header ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+target, strings.NewReader(body))
		req.Host = app + ".example.com"
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
		req.Header.Set("Accept", "*/*")
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s %s: %v", method, app, target, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	requestID := func(body string) string {
		_, after, ok := strings.Cut(body, "request id ")
		if !ok {
			t.Fatalf("answer %q names no request id", body)
		}
		return strings.TrimSuffix(strings.TrimSpace(after), ")")
	}

	for _, base := range []string{plainURL, tlsURL} {
		// BLOCK at PL1: SQLi and XSS refused; the hit names the CRS rule.
		status, body := do(base, "GET", "shop", "/products?"+sqliQuery, "", "")
		if status != 403 {
			t.Fatalf("%s SQLi on shop: %d %q, want 403", base, status, body)
		}
		h := got.wait(t, requestID(body))
		if h.GetAction() != "block" || h.GetAppId() != "shop" || h.GetPolicyId() != "pol-strict" || h.GetStatus() != 403 ||
			h.GetNodeId() != "n1" || h.GetAnomalyScore() < 5 || !hasMatch(h, "942") || h.GetClientIp() != "127.0.0.1" {
			t.Errorf("%s SQLi hit: %v", base, h)
		}
		// A HEAD answer has no body: its head names the hit.
		head, _ := http.NewRequest("HEAD", base+"/products?"+sqliQuery, nil)
		head.Host = "shop.example.com"
		head.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
		head.Header.Set("Accept", "*/*")
		resp, err := client.Do(head)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if id := resp.Header.Get(proxy.WAFRequestIDHeader); resp.StatusCode != 403 || id == "" {
			t.Errorf("%s HEAD SQLi: %d, %s %q; want 403 naming the hit", base, resp.StatusCode, proxy.WAFRequestIDHeader, id)
		} else if h := got.wait(t, id); h.GetMethod() != "HEAD" {
			t.Errorf("%s HEAD SQLi hit: %v", base, h)
		}
		if status, _ := do(base, "GET", "blog", "/?q="+url.QueryEscape("<script>alert(document.cookie)</script>"), "", ""); status != 403 {
			t.Errorf("%s XSS on blog: %d, want 403", base, status)
		}
		// Benign requests pass, with their bodies forwarded whole.
		if status, body := do(base, "GET", "shop", "/products?id=42&sort=price", "", ""); status != 200 || body != "GET 0" {
			t.Errorf("%s benign GET: %d %q", base, status, body)
		}
		benign := benignJSON(4 << 10)
		if status, body := do(base, "POST", "shop", "/api/orders", "application/json", benign); status != 200 || body != fmt.Sprintf("POST %d", len(benign)) {
			t.Errorf("%s benign 4 KiB JSON: %d %q, want it forwarded whole", base, status, body)
		}
		// Bodies are inspected: JSON and forms.
		if status, body := do(base, "POST", "shop", "/api/orders", "application/json", `{"note":"1' UNION SELECT password FROM users--"}`); status != 403 {
			t.Errorf("%s SQLi in JSON: %d %q, want 403", base, status, body)
		}
		if status, _ := do(base, "POST", "shop", "/comment", "application/x-www-form-urlencoded", "text="+url.QueryEscape(`<script>alert(1)</script>`)); status != 403 {
			t.Errorf("%s XSS in a form: %d, want 403", base, status)
		}
		// DETECT passes and reports; an app without a policy is not inspected.
		if status, body := do(base, "GET", "watched", "/products?"+sqliQuery, "", ""); status != 200 {
			t.Errorf("%s SQLi on the DETECT app: %d %q, want 200", base, status, body)
		}
		if status, _ := do(base, "GET", "plain", "/products?"+sqliQuery, "", ""); status != 200 {
			t.Errorf("%s SQLi on the app without policy: %d, want 200", base, status)
		}
		// The whitelist skips static resources; the exclusion frees /search of SQLi rules.
		for _, target := range []string{"/static/app.js?" + sqliQuery, "/theme.css?" + sqliQuery, "/search?" + sqliQuery} {
			if status, body := do(base, "GET", "shop", target, "", ""); status != 200 {
				t.Errorf("%s %s: %d %q, want 200", base, target, status, body)
			}
		}
		// Custom rules run before the CRS: block, allow (CRS skipped), log.
		status, body = do(base, "GET", "shop", "/admin/users", "", "")
		if status != 403 {
			t.Errorf("%s /admin: %d, want 403", base, status)
		} else if h := got.wait(t, requestID(body)); !hasMatch(h, "custom:no-admin") || h.GetMatches()[0].GetMessage() != "admin from outside" {
			t.Errorf("%s /admin hit: %v", base, h)
		}
		if status, _ := do(base, "GET", "shop", "/products?"+sqliQuery, "", "", "X-Scanner-Token", "letmein"); status != 200 {
			t.Errorf("%s allowed scanner: %d, want 200", base, status)
		}
		if status, body := do(base, "GET", "shop", "/login", "", ""); status != 403 || !strings.Contains(body, "strata-challenge") {
			t.Errorf("%s /login: %d, want the challenge page", base, status)
		}
		if status, _ := do(base, "GET", "shop", "/audit/x", "", ""); status != 200 {
			t.Errorf("%s /audit: %d, want 200", base, status)
		}
		// A cookie carrying the attack: blocked, its value masked in the hit.
		status, body = do(base, "GET", "shop", "/", "", "", "Cookie", "session=1' UNION SELECT password FROM users--")
		if status != 403 {
			t.Errorf("%s SQLi in a cookie: %d, want 403", base, status)
		} else {
			h := got.wait(t, requestID(body))
			for _, m := range h.GetMatches() {
				if strings.HasPrefix(m.GetTarget(), "REQUEST_COOKIES") && m.GetData() != wafengine.Masked {
					t.Errorf("%s cookie match data %q, want masked", base, m.GetData())
				}
			}
		}
	}
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if d, a, l, c := len(got.forApp("watched", "detect")), len(got.forApp("shop", "allow")), len(got.forApp("shop", "log")), len(got.forApp("shop", "challenge")); d < 2 || a < 2 || l < 2 || c < 2 {
			return fmt.Errorf("detect %d, allow %d, log %d, challenge %d hits; want 2 of each", d, a, l, c)
		}
		return nil
	})
	got.mu.Lock()
	for _, raw := range got.raw {
		if strings.Contains(string(raw), "UNION SELECT password FROM users--\"") || strings.Contains(string(raw), "session=1'") {
			t.Errorf("a hit carries the cookie's value: %q", raw)
		}
	}
	got.mu.Unlock()
	if n := len(got.forApp("plain", "")); n != 0 {
		t.Errorf("%d hits for the app without policy", n)
	}

	// Two apps share pol-strict: two policies, compiled once each, and not
	// again for a snapshot that keeps them.
	st := n.WAF().Stats()
	if st.Policies != 2 || st.Compiles != 2 {
		t.Errorf("policies %d, compiles %d; want 2 and 2", st.Policies, st.Compiles)
	}
	v = p.releaseWAF([]*wafv1.WafPolicy{strict, watch}, wafApp("news", "pol-strict", addr))
	waitVersion(t, n, v)
	if status, _ := do(plainURL, "GET", "news", "/products?"+sqliQuery, "", ""); status != 403 {
		t.Errorf("SQLi on the app attached later: %d, want 403", status)
	}
	if st := n.WAF().Stats(); st.Compiles != 2 {
		t.Errorf("compiles after a release keeping the policies: %d, want 2", st.Compiles)
	}
	// The counters Prometheus reads.
	obs, _ := n.Observe()
	if obs.WAF.Inspected["pol-strict"] == 0 || obs.WAF.Skipped["pol-strict"] < 4 || count(obs.WAF.Actions, "pol-strict", "", "block") < 12 ||
		count(obs.WAF.Rules, "pol-strict", "custom:no-admin", "block") != 2 {
		t.Errorf("WAF counters: %+v", obs.WAF)
	}

	// A policy that does not compile is refused on the node too: it keeps
	// the running config.
	bad := proto.Clone(strict).(*wafv1.WafPolicy)
	bad.Version, bad.CustomRules = 2, []*wafv1.CustomRule{{Id: "broken", When: "Nope(`x`)", Action: wafv1.WafRuleAction_WAF_RULE_ACTION_BLOCK}}
	before := n.Version()
	p.releaseWAF([]*wafv1.WafPolicy{bad, watch})
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if o, _ := n.Observe(); o.ApplyErr == nil || !strings.Contains(o.ApplyErr.Error(), `custom_rules[0] (id "broken").when`) {
			return fmt.Errorf("apply error %v, want the broken rule named", o.ApplyErr)
		}
		return nil
	})
	if n.Version() != before {
		t.Errorf("node runs %d after a bad policy, want %d", n.Version(), before)
	}
}

func waitVersion(t *testing.T, n *node.Node, v uint64) {
	t.Helper()
	natstest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if n.Version() != v {
			return fmt.Errorf("node runs %d, want %d", n.Version(), v)
		}
		return nil
	})
}

func hasMatch(h *wafv1.WafHit, prefix string) bool {
	for _, m := range h.GetMatches() {
		if strings.HasPrefix(m.GetRuleId(), prefix) {
			return true
		}
	}
	return false
}

func count(cs []waf.Count, policy, rule, action string) uint64 {
	var n uint64
	for _, c := range cs {
		if c.Policy == policy && (rule == "" || c.Rule == rule) && c.Action == action {
			n += c.N
		}
	}
	return n
}

// benignJSON is a JSON order of about size bytes, the kind an API gets.
func benignJSON(size int) string {
	var b strings.Builder
	b.WriteString(`{"customer":{"name":"Ada Lovelace","email":"ada@example.com"},"items":[`)
	for i := 0; b.Len() < size-40; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%05d","qty":%d,"note":"gift wrap please"}`, i, i%3+1)
	}
	b.WriteString(`],"currency":"EUR"}`)
	return b.String()
}
