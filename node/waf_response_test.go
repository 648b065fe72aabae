package node_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/node/proxy"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// Response bodies the CRS RESPONSE-95x rules catch: leaks an upstream must
// not send.
const (
	leakSQL = "<html><body><b>Warning</b>: mysql_fetch_array() expects parameter 1 to be resource, boolean given in /var/www/shop/list.php on line 12<br>You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near ''' at line 1</body></html>"
	leakPHP = "<?php\n$db = mysqli_connect('localhost', 'root', 'secret');\n$r = mysqli_query($db, \"SELECT * FROM users WHERE id=\" . $_GET['id']);\nwhile ($row = mysqli_fetch_assoc($r)) { echo $row['name']; }\n?>"
	leakDir = "<html><head><title>Index of /backup</title></head><body><h1>Index of /backup</h1><pre><a href=\"?C=N;O=D\">Name</a> <a href=\"?C=M;O=A\">Last modified</a><hr><a href=\"/\">Parent Directory</a>\n<a href=\"db.sql.gz\">db.sql.gz</a></pre></body></html>"
)

// A node with inspect_responses: responses that leak (SQL errors, PHP
// source, directory listings) are replaced by a 403 in BLOCK mode, on both
// listeners (fasthttp and net/http), without a byte of the upstream's
// body; DETECT passes and reports them; without inspect_responses they
// pass; benign JSON and HTML pass; a response larger than the body limit
// streams whole (inspected up to the limit); a cached path stores only
// inspected responses. Every flagged response is a hit with direction
// "response", its rules' phases and masked data.
func TestNodeWAFResponses(t *testing.T) {
	hub, leafURL := runHub(t)
	control := natstest.Connect(t, hub)
	js, _ := jetstream.New(control)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: natsutil.PurgeStream, Subjects: []string{natsutil.PurgeSubjects}}); err != nil {
		t.Fatal(err)
	}
	got := subscribeHits(t, control)

	const limit = 64 << 10
	// large: 1 MiB of benign HTML, then the SQL error (beyond the limit).
	large := bytes.Repeat([]byte("<p>nothing to see here, move along</p>\n"), (1<<20)/39)
	large = append(large, leakSQL...)
	var fills int
	addr := upstreamFunc(t, func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, "/c")
		body, ct := "", "text/html; charset=utf-8"
		switch path {
		case "/sql":
			body = leakSQL
		case "/php":
			body, ct = leakPHP, "text/plain"
		case "/dir":
			body = leakDir
		case "/json":
			body, ct = benignJSON(4<<10), "application/json"
		case "/html":
			body = "<html><head><title>Shop</title></head><body><h1>Products</h1><p>42 items in stock</p></body></html>"
		case "/events": // server-sent events: one, then the stream stays open
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: "+leakSQL+"\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		case "/large":
			w.Header().Set("Content-Type", ct)
			for b := large; len(b) > 0; b = b[min(len(b), 32<<10):] {
				_, _ = w.Write(b[:min(len(b), 32<<10)])
				w.(http.Flusher).Flush()
			}
			return
		}
		if strings.HasPrefix(r.URL.Path, "/c/") {
			fills++
			w.Header().Set("Cache-Control", "max-age=3600")
		}
		w.Header().Set("Content-Type", ct)
		_, _ = io.WriteString(w, body)
	})
	block := &wafv1.WafPolicy{Id: "pol-resp", Name: "resp", Mode: wafv1.WafMode_WAF_MODE_BLOCK, Version: 1, InspectResponses: true, ResponseBodyLimitBytes: limit}
	detect := &wafv1.WafPolicy{Id: "pol-resp-detect", Name: "resp-detect", Mode: wafv1.WafMode_WAF_MODE_DETECT, Version: 1, InspectResponses: true}
	off := &wafv1.WafPolicy{Id: "pol-req", Name: "req", Mode: wafv1.WafMode_WAF_MODE_BLOCK, Version: 1}
	guarded := wafApp("guarded", "pol-resp", addr)
	guarded.Rules = []*configv1.Rule{{Name: "cache", When: "PathPrefix(`/c/`)", Actions: []*configv1.Action{
		{Action: &configv1.Action_Cache{Cache: &configv1.CacheAction{TtlS: 3600}}},
	}}}
	p := newPublisher(t, control)
	v := p.releaseWAF([]*wafv1.WafPolicy{block, detect, off}, guarded, wafApp("watched", "pol-resp-detect", addr), wafApp("requests", "pol-req", addr))
	n := startNode(t, node.Options{DataDir: t.TempDir(), HubLeafURLs: []string{leafURL}, HTTPSAddr: "127.0.0.1:0"})
	waitVersion(t, n, v)

	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableCompression: true}}
	get := func(base, app, target string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+target, nil)
		req.Host = app + ".example.com"
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
		req.Header.Set("Accept", "*/*")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s %s: %v", app, target, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s %s %s: body (%d bytes, status %d, %v): %v", base, app, target, len(b), resp.StatusCode, resp.Header, err)
		}
		return resp, string(b)
	}
	for _, base := range []string{"http://" + n.ProxyHTTPAddr(), "https://" + n.ProxyHTTPSAddr()} {
		for _, leak := range []struct{ path, rule string }{{"/sql", "951"}, {"/php", "953"}, {"/dir", "950130"}} {
			resp, body := get(base, "guarded", leak.path)
			id := resp.Header.Get(proxy.WAFRequestIDHeader)
			if resp.StatusCode != 403 || id == "" || !strings.Contains(body, "response blocked by the WAF (request id "+id+")") {
				t.Errorf("%s %s: %d %q (hit %q), want 403 naming the hit", base, leak.path, resp.StatusCode, body, id)
				continue
			}
			if strings.Contains(body, "SQL") || strings.Contains(body, "<?php") || strings.Contains(body, "Index of") {
				t.Errorf("%s %s: the upstream's body leaked: %q", base, leak.path, body)
			}
			h := got.wait(t, id)
			if h.GetDirection() != "response" || h.GetAction() != "block" || h.GetStatus() != 403 || h.GetAnomalyScore() < 4 || !hasMatch(h, leak.rule) || h.GetUri() != leak.path {
				t.Errorf("%s %s: hit %v, want a response block by %s*", base, leak.path, h, leak.rule)
			}
			for _, m := range h.GetMatches() {
				if m.GetPhase() < 3 || m.GetTarget() == "" || len(m.GetData()) > 128 {
					t.Errorf("%s %s: match %v, want a response phase, its target and data within 128 bytes", base, leak.path, m)
				}
			}
			// Without inspect_responses the same response passes.
			if resp, body := get(base, "requests", leak.path); resp.StatusCode != 200 || len(body) < 100 {
				t.Errorf("%s %s without inspect_responses: %d %q, want it served", base, leak.path, resp.StatusCode, body)
			}
			// DETECT serves it and reports it.
			before := len(got.forApp("watched", "detect"))
			if resp, body := get(base, "watched", leak.path); resp.StatusCode != 200 || len(body) < 100 {
				t.Errorf("%s %s in DETECT: %d %q, want it served", base, leak.path, resp.StatusCode, body)
			}
			natstest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
				if hs := got.forApp("watched", "detect"); len(hs) <= before || hs[len(hs)-1].GetDirection() != "response" {
					return fmt.Errorf("%d detect hits, want a response hit for %s", len(hs), leak.path)
				}
				return nil
			})
		}
		for _, path := range []string{"/json", "/html"} {
			if resp, body := get(base, "guarded", path); resp.StatusCode != 200 || len(body) < 90 {
				t.Errorf("%s benign %s: %d %q", base, path, resp.StatusCode, body)
			}
		}
		// Server-sent events are not held back to be read (nor inspected).
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/events", nil)
		req.Host = "guarded.example.com"
		if resp, err := client.Do(req); err != nil {
			t.Errorf("%s /events: %v, want the first event at once", base, err)
		} else {
			line, err := bufio.NewReader(resp.Body).ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "data: ") {
				t.Errorf("%s /events: first line %q, %v", base, line, err)
			}
			resp.Body.Close()
		}
		cancel()
		// Beyond the limit: inspected up to it, streamed whole.
		if resp, body := get(base, "guarded", "/large"); resp.StatusCode != 200 || body != string(large) {
			t.Errorf("%s /large: %d, %d bytes, want 200 and all %d", base, resp.StatusCode, len(body), len(large))
		}
	}
	if st := n.WAF().Stats(); st.Responses["pol-resp"] != 14 || st.Responses["pol-req"] != 0 {
		t.Errorf("responses inspected %v, want the 14 answers to guarded on both listeners (3 leaks, 2 benign, large, events) and none for pol-req", st.Responses)
	}
	if hs := got.forApp("guarded", ""); len(hs) != 6 {
		t.Errorf("%d hits for guarded, want 6 (3 leaks on 2 listeners): benign and large responses flagged?", len(hs))
	}

	// The cache stores only inspected responses: a leak is never stored
	// (each request fills again and is blocked), a benign one is (HIT).
	plain := "http://" + n.ProxyHTTPAddr()
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if resp, _ := get(plain, "guarded", "/c/json"); resp.Header.Get("X-Cache-Status") != "HIT" {
			return fmt.Errorf("/c/json cache %q, want a HIT once the cache runs", resp.Header.Get("X-Cache-Status"))
		}
		return nil
	})
	for i := range 2 {
		resp, body := get(plain, "guarded", "/c/sql")
		if resp.StatusCode != 403 || !strings.Contains(body, "response blocked by the WAF") || strings.Contains(body, "SQL") {
			t.Errorf("cached path, leak, request %d: %d %q (cache %q), want 403", i, resp.StatusCode, body, resp.Header.Get("X-Cache-Status"))
		}
	}
}
