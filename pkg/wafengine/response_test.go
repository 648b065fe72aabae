package wafengine

import (
	"strings"
	"testing"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
)

// resp is a Response for the engine's tests; read records the bytes Body
// was asked for.
type resp struct {
	status  int
	headers [][2]string
	body    string
	read    int
}

func newResp(contentType, body string) *resp {
	return &resp{status: 200, headers: [][2]string{{"Content-Type", contentType}, {"Server", "test"}}, body: body, read: -1}
}

func (r *resp) StatusCode() int { return r.status }
func (r *resp) VisitHeaders(fn func(name, value string)) {
	for _, h := range r.headers {
		fn(h[0], h[1])
	}
}
func (r *resp) Body(max int) ([]byte, bool) {
	r.read = max
	if len(r.body) > max {
		return []byte(r.body[:max]), true
	}
	return []byte(r.body), false
}

// Response bodies the RESPONSE-95x rules catch.
const (
	sqlErrorPage = "<html><body><b>Warning</b>: mysql_fetch_array() expects parameter 1 to be resource, boolean given in /var/www/shop/list.php on line 12<br>You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near ''' at line 1</body></html>"
	phpSource    = "<?php\n$db = mysqli_connect('localhost', 'root', 'secret');\n$r = mysqli_query($db, \"SELECT * FROM users WHERE id=\" . $_GET['id']);\nwhile ($row = mysqli_fetch_assoc($r)) { echo $row['name']; }\n?>"
	dirListing   = "<html><head><title>Index of /backup</title></head><body><h1>Index of /backup</h1><pre><a href=\"?C=N;O=D\">Name</a> <a href=\"?C=M;O=A\">Last modified</a><hr><a href=\"/\">Parent Directory</a>\n<a href=\"db.sql.gz\">db.sql.gz</a></pre></body></html>"
)

func responsesOn(mode wafv1.WafMode) *wafv1.WafPolicy {
	p := policy(mode)
	p.InspectResponses = true
	return p
}

// inspectExchange runs a benign GET and then rs through w.
func inspectExchange(t testing.TB, w *WAF, rs *resp) Verdict {
	t.Helper()
	v, x := w.Begin(newReq("GET", "/products?id=42", "", ""))
	if v.Action != None {
		t.Fatalf("benign request flagged: %+v", v)
	}
	if x == nil {
		t.Fatal("Begin kept no transaction for the response")
	}
	return x.Response(rs)
}

func TestResponseBlocksLeaks(t *testing.T) {
	w := mustCompile(t, responsesOn(wafv1.WafMode_WAF_MODE_BLOCK))
	for _, tc := range []struct {
		name, contentType, body, rule string
	}{
		{"sql error", "text/html; charset=utf-8", sqlErrorPage, "951"},
		{"php source", "text/plain", phpSource, "953"},
		{"directory listing", "text/html", dirListing, "950130"},
	} {
		v := inspectExchange(t, w, newResp(tc.contentType, tc.body))
		if v.Action != Block || v.Status != 403 || !v.Response {
			t.Errorf("%s: verdict %+v, want a 403 block on the response", tc.name, v)
			continue
		}
		if v.AnomalyScore < 4 {
			t.Errorf("%s: outbound score %d, want at least the threshold 4", tc.name, v.AnomalyScore)
		}
		found := false
		for _, m := range v.Matches {
			if m.Phase < 3 {
				t.Errorf("%s: request-phase match %+v in a response verdict", tc.name, m)
			}
			if strings.HasPrefix(m.RuleID, tc.rule) && m.Target == "RESPONSE_BODY" && m.Data != "" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: matches %+v, want a %s* rule on RESPONSE_BODY with its data", tc.name, v.Matches, tc.rule)
		}
	}
}

func TestResponseBenignAndUnreadTypes(t *testing.T) {
	w := mustCompile(t, responsesOn(wafv1.WafMode_WAF_MODE_BLOCK))
	for _, rs := range []*resp{
		newResp("application/json", benignJSON(4<<10)),
		newResp("text/html", "<html><head><title>Shop</title></head><body><h1>Products</h1><p>42 items</p></body></html>"),
	} {
		if v := inspectExchange(t, w, rs); v.Action != None || len(v.Matches) != 0 {
			t.Errorf("benign %s flagged: %+v", rs.headers[0][1], v)
		}
		if rs.read != DefaultBodyLimit {
			t.Errorf("%s: body read with limit %d, want %d", rs.headers[0][1], rs.read, DefaultBodyLimit)
		}
	}
	// A compressed body is not read either.
	gz := newResp("text/html", sqlErrorPage)
	gz.headers = append(gz.headers, [2]string{"Content-Encoding", "gzip"})
	if v := inspectExchange(t, w, gz); v.Action != None || gz.read != -1 {
		t.Errorf("gzip: verdict %+v, body read with limit %d: want it unread", v, gz.read)
	}
	// Nor are server-sent events (a stream that never ends).
	sse := newResp("text/event-stream", "data: "+sqlErrorPage+"\n\n")
	if v := inspectExchange(t, w, sse); v.Action != None || sse.read != -1 {
		t.Errorf("text/event-stream: verdict %+v, body read with limit %d: want it unread", v, sse.read)
	}
	// An image is not read, whatever it holds.
	img := newResp("image/png", sqlErrorPage)
	if v := inspectExchange(t, w, img); v.Action != None || img.read != -1 {
		t.Errorf("image/png: verdict %+v, body read with limit %d: want it unread", v, img.read)
	}
}

func TestResponseBodyLimitInspectsPartially(t *testing.T) {
	p := responsesOn(wafv1.WafMode_WAF_MODE_BLOCK)
	p.ResponseBodyLimitBytes = 1024
	w := mustCompile(t, p)
	// The leak within the limit is caught, the rest is not read.
	rs := newResp("text/html", sqlErrorPage+strings.Repeat("<p>padding</p>", 1000))
	if v := inspectExchange(t, w, rs); v.Action != Block || rs.read != 1024 {
		t.Errorf("leak within the limit: verdict %+v, read %d: want a block after reading 1024 bytes", v, rs.read)
	}
	// Beyond the limit it is not seen: ProcessPartial, not a refusal.
	rs = newResp("text/html", strings.Repeat("<p>padding</p>", 1000)+sqlErrorPage)
	if v := inspectExchange(t, w, rs); v.Action != None {
		t.Errorf("leak beyond the limit: verdict %+v, want None (inspected up to the limit)", v)
	}
}

func TestResponseDetectAndOff(t *testing.T) {
	w := mustCompile(t, responsesOn(wafv1.WafMode_WAF_MODE_DETECT))
	if v := inspectExchange(t, w, newResp("text/html", sqlErrorPage)); v.Action != Detect || v.Status != 0 || len(v.Matches) == 0 {
		t.Errorf("DETECT: verdict %+v, want Detect with the matches and no status", v)
	}
	// Without inspect_responses no transaction is kept.
	off := mustCompile(t, policy(wafv1.WafMode_WAF_MODE_BLOCK))
	if off.InspectsResponses() {
		t.Error("InspectsResponses without inspect_responses")
	}
	if _, x := off.Begin(newReq("GET", "/", "", "")); x != nil {
		t.Error("Begin kept a transaction without inspect_responses")
	}
	// A blocked request keeps none either.
	if v, x := w.Begin(newReq("GET", "/?id=1'%20OR%201=1--", "", "")); v.Action != Detect || x != nil {
		t.Errorf("attack in DETECT: verdict %+v, exchange %v: want Detect and no exchange (the transaction is interrupted)", v, x)
	}
	var nilX *Exchange
	nilX.Close()
	if v := nilX.Response(newResp("text/html", sqlErrorPage)); v.Action != None {
		t.Errorf("nil exchange: %+v", v)
	}
}
