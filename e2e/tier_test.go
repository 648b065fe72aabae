package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// tierGet requests uri through one node and returns the body, the cache
// status and the Strata-Cache-Parent header.
func tierGet(client *http.Client, e edge, host, uri string) (body, status, parent string, err error) {
	req, err := http.NewRequest(http.MethodGet, e.HTTP+uri, nil)
	if err != nil {
		return "", "", "", err
	}
	req.Host = host
	res, err := client.Do(req)
	if err != nil {
		return "", "", "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", "", "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", "", "", fmt.Errorf("node %s: status %d: %s", e.Name, res.StatusCode, strings.TrimSpace(string(b)))
	}
	return string(b), res.Header.Get("X-Cache-Status"), res.Header.Get("Strata-Cache-Parent"), nil
}

// TestDevTieredCache: real processes. strata dev, an edge cluster of two
// strata nodes whose parent is a shield cluster of two. A URL asked through
// both edge nodes reaches the origin once: the second edge node gets it
// from the shield node the key hashes to. A purge reaches the shields too.
// With that shield node stopped its backup answers; with both stopped the
// edges go to the origin.
func TestDevTieredCache(t *testing.T) {
	root := t.TempDir()
	d := startDev(t, filepath.Join(root, "dev"))
	c := newCLI(t, "STRATA_API="+d.api, "STRATA_TOKEN="+readFile(t, filepath.Join(root, "dev", "admin.token")))
	c.OK("cluster", "create", "--name", "edge")
	c.OK("cluster", "create", "--name", "shield")
	c.OK("cluster", "update", "edge", "--parents", "shield")
	edgeTok := c.OK("node", "token", "create", "--cluster", "edge", "--auto-approve", "--ttl", "1h")
	shieldTok := c.OK("node", "token", "create", "--cluster", "shield", "--auto-approve", "--ttl", "1h")
	shields := map[string]*proc{}
	for _, name := range []string{"shield-1", "shield-2"} {
		p, _ := startNode(t, d.api, shieldTok, name, filepath.Join(root, name))
		shields[p.Value(t, "node")] = p
	}
	_, edge1 := startNode(t, d.api, edgeTok, "edge-1", filepath.Join(root, "edge-1"))
	_, edge2 := startNode(t, d.api, edgeTok, "edge-2", filepath.Join(root, "edge-2"))

	var fills atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s fill %d", r.URL.Path, fills.Add(1))
	}))
	t.Cleanup(origin.Close)
	const host = "shop.example.com"
	app := c.OK("app", "create", "--name", "shop", "--domain", host)
	c.OK("upstream", "create", "--app", app, "--name", "web", "--server", strings.TrimPrefix(origin.URL, "http://"))
	c.OK("rule", "create", "--app", app, "--when", `PathPrefix("/static")`, "--cache-ttl", "1h", "--upstream", "web")
	c.OK("release", "create", "--app", app)

	// The edge nodes ask the shields once they have the release, their
	// parents and the shields' tier addresses (heartbeats), and the
	// shields' caches are released (BYPASS until their purge agents caught
	// up): poll with fresh URLs until both edges got answers from both
	// shields' caches.
	client := &http.Client{Timeout: 5 * time.Second}
	seen := map[string]bool{}
	i := 0
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		for _, e := range []edge{edge1, edge2} {
			i++
			_, status, parent, err := tierGet(client, e, host, fmt.Sprintf("/static/warm-%d", i))
			if err != nil {
				return err
			}
			if id, st, _ := strings.Cut(parent, "; status="); status == "MISS" && st == "MISS" {
				seen[e.Name+" "+id] = true
			}
		}
		if len(seen) < 4 {
			return fmt.Errorf("edge/shield pairs seen filling: %v", seen)
		}
		return nil
	})

	const uri = "/static/app.css"
	before := fills.Load()
	body1, status1, parent1, err := tierGet(client, edge1, host, uri)
	if err != nil || status1 != "MISS" || !strings.HasSuffix(parent1, "; status=MISS") {
		t.Fatalf("edge-1: %q %s parent %q %v; want a MISS filled by a shield's MISS", body1, status1, parent1, err)
	}
	owner := strings.TrimSuffix(parent1, "; status=MISS")
	if shields[owner] == nil {
		t.Fatalf("parent %q is not a shield node", owner)
	}
	body2, status2, parent2, err := tierGet(client, edge2, host, uri)
	if err != nil || status2 != "MISS" || parent2 != owner+"; status=HIT" || body2 != body1 {
		t.Fatalf("edge-2: %q %s parent %q %v; want %q from %s's cache", body2, status2, parent2, err, body1, owner)
	}
	if n := fills.Load() - before; n != 1 {
		t.Fatalf("%d origin requests for one URL through two edge nodes, want 1", n)
	}
	if _, status, _, _ := tierGet(client, edge2, host, uri); status != "HIT" {
		t.Fatalf("edge-2 again: %s, want HIT", status)
	}

	// A purge reaches every node, the shields included (dev + 4).
	waitOnline(t, c, 5)
	if out := c.OK("purge", "url", "https://"+host+uri, "--wait"); !strings.Contains(out, "purged on 5/5 nodes") {
		t.Fatalf("purge printed %q", out)
	}
	before = fills.Load()
	_, status, parent, err := tierGet(client, edge1, host, uri)
	if err != nil || status != "MISS" || parent != owner+"; status=MISS" || fills.Load() != before+1 {
		t.Fatalf("after the purge: %s parent %q %v, origin requests %d; want a MISS the shield refetched", status, parent, err, fills.Load()-before)
	}

	// The key's shield node is down: its backup answers.
	if out := c.OK("purge", "url", "https://"+host+uri, "--wait"); !strings.Contains(out, "purged on 5/5 nodes") {
		t.Fatalf("purge printed %q", out)
	}
	shields[owner].Interrupt(t, 20*time.Second)
	_, status, parent, err = tierGet(client, edge2, host, uri)
	if err != nil || status != "MISS" || parent == "" || strings.HasPrefix(parent, owner+";") {
		t.Fatalf("with %s down: %s parent %q %v; want the other shield", owner, status, parent, err)
	}

	// Every shield down: straight to the origin.
	for id, p := range shields {
		if id != owner {
			p.Interrupt(t, 20*time.Second)
		}
	}
	before = fills.Load()
	_, status, parent, err = tierGet(client, edge1, host, "/static/other.css")
	if err != nil || status != "MISS" || parent != "" || fills.Load() != before+1 {
		t.Fatalf("all shields down: %s parent %q %v, origin requests %d", status, parent, err, fills.Load()-before)
	}
}
