package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// TestDevCachePush: real processes. strata dev (its own node), an edge
// cluster of one node whose parent is a shield cluster of one. A push to
// the edge cluster fills the edge node and, through its tier parent, the
// shield. A push to the whole app is acknowledged by every node, each of
// which then answers HIT without the origin seeing another request; the
// URLs that fail (404 at the origin, no cache rule) are reported per node.
func TestDevCachePush(t *testing.T) {
	root := t.TempDir()
	d := startDev(t, filepath.Join(root, "dev"))
	c := newCLI(t, "STRATA_API="+d.api, "STRATA_TOKEN="+readFile(t, filepath.Join(root, "dev", "admin.token")))
	c.OK("cluster", "create", "--name", "edge")
	c.OK("cluster", "create", "--name", "shield")
	c.OK("cluster", "update", "edge", "--parents", "shield")
	edgeTok := c.OK("node", "token", "create", "--cluster", "edge", "--auto-approve", "--ttl", "1h")
	shieldTok := c.OK("node", "token", "create", "--cluster", "shield", "--auto-approve", "--ttl", "1h")
	_, shield := startNode(t, d.api, shieldTok, "shield-1", filepath.Join(root, "shield-1"))
	_, edge1 := startNode(t, d.api, edgeTok, "edge-1", filepath.Join(root, "edge-1"))
	devEdge := edge{Name: "dev", HTTP: d.Value(t, "http")}

	var mu sync.Mutex
	hits := map[string]int{}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/missing.css") {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "body of %s", r.URL.Path)
	}))
	t.Cleanup(origin.Close)
	originHits := func(path string) int {
		mu.Lock()
		defer mu.Unlock()
		return hits[path]
	}
	const host = "shop.example.com"
	app := c.OK("app", "create", "--name", "shop", "--domain", host, "--http-port", "80", "--https-port", "443")
	c.OK("upstream", "create", "--app", app, "--name", "web", "--server", strings.TrimPrefix(origin.URL, "http://"))
	c.OK("rule", "create", "--app", app, "--when", `PathPrefix("/static")`, "--cache-ttl", "1h", "--upstream", "web")
	c.OK("rule", "create", "--app", app, "--when", `PathPrefix("/")`, "--upstream", "web")
	c.OK("release", "create", "--app", app)

	// Every node serves the release, and the edge fills through the shield
	// (its parent and the shield's tier address are known, the shield's
	// cache is released).
	client := &http.Client{Timeout: 5 * time.Second}
	i := 0
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		for _, e := range []edge{devEdge, shield} {
			i++
			if _, status, _, err := tierGet(client, e, host, fmt.Sprintf("/static/warm-%d", i)); err != nil || status != "MISS" {
				return fmt.Errorf("%s: %s %v", e.Name, status, err)
			}
		}
		i++
		_, status, parent, err := tierGet(client, edge1, host, fmt.Sprintf("/static/warm-%d", i))
		if err != nil || status != "MISS" || !strings.HasSuffix(parent, "; status=MISS") {
			return fmt.Errorf("edge-1: %s parent %q %v", status, parent, err)
		}
		return nil
	})
	waitOnline(t, c, 3)

	// A push to the edge cluster: one node, and its parent tier filled.
	url := func(path string) string { return "http://" + host + path }
	// Pushed as https: routed on the nodes' TLS listener; the cache key has
	// no scheme, so a client's http GET hits it too.
	out := c.OK("cache", "push", "--app", "shop", "--cluster", "edge", "https://"+host+"/static/tier.css", "--wait")
	if !strings.Contains(out, "pushed 1 URLs on 1/1 nodes") || !strings.Contains(out, ": 1 cached, 0 failed") {
		t.Fatalf("push to the edge cluster printed:\n%s", out)
	}
	if _, status, _, err := tierGet(client, shield, host, "/static/tier.css"); err != nil || status != "HIT" {
		t.Fatalf("shield after a push through its child: %s %v, want HIT", status, err)
	}
	if _, status, _, err := tierGet(client, edge1, host, "/static/tier.css"); err != nil || status != "HIT" {
		t.Fatalf("edge-1 after the push: %s %v, want HIT", status, err)
	}
	if n := originHits("/static/tier.css"); n != 1 {
		t.Fatalf("origin saw /static/tier.css %d times, want 1", n)
	}

	// A push to every node of the app, from a file, with two failures.
	list := filepath.Join(root, "urls.txt")
	if err := os.WriteFile(list, []byte("# static files\n"+url("/static/app.css")+"\n\n"+url("/static/missing.css")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := c.Run("cache", "push", "--app", "shop", url("/static/app.js"), url("/page"), "--from-file", list,
		"--concurrency", "2", "--wait", "-o", "json")
	if r.Code != 1 || !strings.Contains(r.Stderr, "6 URL fetches failed") {
		t.Fatalf("push with failing URLs: exit %d, stderr %q; want exit 1 naming 6 failed fetches (2 URLs x 3 nodes)\n%s", r.Code, r.Stderr, r.Stdout)
	}
	p := &purgev1.Push{}
	if err := protojson.Unmarshal([]byte(r.Stdout), p); err != nil {
		t.Fatalf("push -o json: %v\n%s", err, r.Stdout)
	}
	if p.GetNodesDone() != 3 || p.GetNodesTotal() != 3 || len(p.GetAcks()) != 3 || p.GetUrlCount() != 4 {
		t.Fatalf("push: %d/%d nodes, %d acks, %d URLs; want 3/3, 3, 4", p.GetNodesDone(), p.GetNodesTotal(), len(p.GetAcks()), p.GetUrlCount())
	}
	t.Logf("4 URLs pushed on 3 nodes (one through its parent tier): last ack after %s", p.GetTimeToLastAck().AsDuration())
	for _, a := range p.GetAcks() {
		res := a.GetPush()
		if a.GetError() != "" || res.GetCached() != 2 || res.GetFailed() != 2 || len(res.GetFailures()) != 2 {
			t.Fatalf("node %s: %v", a.GetNodeId(), a)
		}
		f404, nc := res.GetFailures()[1], res.GetFailures()[0] // sorted by URL: /page, /static/missing.css
		if nc.GetUrl() != url("/page") || !strings.Contains(nc.GetError(), "not cacheable") || nc.GetStatus() != 200 {
			t.Errorf("node %s: /page reported %v, want not cacheable (no cache rule)", a.GetNodeId(), nc)
		}
		if f404.GetUrl() != url("/static/missing.css") || f404.GetStatus() != 404 || !strings.Contains(f404.GetError(), "status 404") {
			t.Errorf("node %s: missing.css reported %v, want status 404", a.GetNodeId(), f404)
		}
	}
	before := map[string]int{"/static/app.css": originHits("/static/app.css"), "/static/app.js": originHits("/static/app.js")}
	for path, n := range before {
		if n < 1 || n > 2 { // the dev node and the shield; the edge asks the shield
			t.Fatalf("origin saw %s %d times during the push, want 1 or 2", path, n)
		}
	}
	for _, e := range []edge{devEdge, shield, edge1} {
		for path := range before {
			body, status, _, err := tierGet(client, e, host, path)
			if err != nil || status != "HIT" || body != "body of "+path {
				t.Fatalf("%s %s after the push: %q %s %v, want a HIT", e.Name, path, body, status, err)
			}
		}
	}
	for path, n := range before {
		if got := originHits(path); got != n {
			t.Fatalf("origin saw %s %d more times after the push", path, got-n)
		}
	}

	// get and list show it; a URL of another host is refused by field.
	if out := c.Run("cache", "push", "get", p.GetId()).Stdout; !strings.Contains(out, "failed URLs:") || !strings.Contains(out, "status 404") {
		t.Fatalf("push get printed:\n%s", out)
	}
	if out := c.OK("cache", "push", "list"); !strings.Contains(out, p.GetId()) {
		t.Fatalf("push list lacks %s:\n%s", p.GetId(), out)
	}
	r = c.Run("cache", "push", "--app", "shop", "https://other.example.org/x")
	if r.Code != 1 || !strings.Contains(r.Stderr, "urls[0]") || !strings.Contains(r.Stderr, "not one of the app's domains") {
		t.Fatalf("push of another host: exit %d, stderr %q", r.Code, r.Stderr)
	}
}
