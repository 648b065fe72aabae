package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// waitOnline waits until node list shows n nodes online (heartbeats), so a
// purge expects an acknowledgement from each.
func waitOnline(t *testing.T, c cli, n int) {
	t.Helper()
	natstest.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		res := &configv1.ListNodesResponse{}
		out := c.OK("node", "list", "-o", "json")
		if err := protojson.Unmarshal([]byte(out), res); err != nil {
			t.Fatalf("node list -o json: %v\n%s", err, out)
		}
		online := 0
		for _, nd := range res.GetNodes() {
			if nd.GetOnline() {
				online++
			}
		}
		if online != n {
			return fmt.Errorf("%d nodes online, want %d:\n%s", online, n, out)
		}
		return nil
	})
}

var purgedRE = regexp.MustCompile(`^(prg_\S+): purged on (\d+)/(\d+) nodes in \d+ ms$`)

// A purge with --wait on strata dev's built-in node returns once that node
// acknowledged it and reports 1/1; get and list show it.
func TestDevPurgeWait(t *testing.T) {
	root := t.TempDir()
	d := startDev(t, filepath.Join(root, "dev"))
	c := newCLI(t, "STRATA_API="+d.api, "STRATA_TOKEN="+readFile(t, filepath.Join(root, "dev", "admin.token")))
	waitOnline(t, c, 1)

	out := c.OK("purge", "url", "https://shop.example.com/a.css", "shop.example.com/b.css", "--wait")
	m := purgedRE.FindStringSubmatch(out)
	if m == nil || m[2] != "1" || m[3] != "1" {
		t.Fatalf("purge url --wait printed %q, want \"ID: purged on 1/1 nodes in N ms\"", out)
	}
	id := m[1]

	res := &purgev1.Purge{}
	js := c.OK("purge", "get", id, "-o", "json")
	if err := protojson.Unmarshal([]byte(js), res); err != nil {
		t.Fatalf("purge get -o json: %v\n%s", err, js)
	}
	if res.GetKind() != purgev1.PurgeKind_PURGE_KIND_URL || len(res.GetValues()) != 2 || res.GetNodesDone() != 1 || len(res.GetAcks()) != 1 || res.GetAcks()[0].GetError() != "" {
		t.Fatalf("purge get: %v", res)
	}
	if list := c.OK("purge", "list"); !strings.Contains(list, id) || !strings.Contains(list, "1/1") {
		t.Fatalf("purge list does not show %s done on 1/1:\n%s", id, list)
	}
	if r := c.Run("purge", "tag"); r.Code == 0 || !strings.Contains(r.Stderr, "at least one value") {
		t.Fatalf("purge tag without values: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if r := c.Run("purge", "host", "x.example.com", "--app", "a", "--partition", "p"); r.Code == 0 || !strings.Contains(r.Stderr, "--app and --partition") {
		t.Fatalf("purge with two scopes: exit %d, stderr %q", r.Code, r.Stderr)
	}
}

// cacheGet requests uri with the Host header through one node and returns
// the body and X-Cache-Status.
func cacheGet(client *http.Client, e edge, host, uri string) (body, status string, err error) {
	req, err := http.NewRequest(http.MethodGet, e.HTTP+uri, nil)
	if err != nil {
		return "", "", err
	}
	req.Host = host
	res, err := client.Do(req)
	if err != nil {
		return "", "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("node %s: status %d: %s", e.Name, res.StatusCode, strings.TrimSpace(string(b)))
	}
	return string(b), res.Header.Get("X-Cache-Status"), nil
}

// TestDevNodesCachePurge: strata dev and two strata node processes serve an
// app whose rule caches; every node answers MISS then HIT, `strata purge url
// --wait` returns once all three acknowledged, and then every node misses.
func TestDevNodesCachePurge(t *testing.T) {
	root := t.TempDir()
	d := startDev(t, filepath.Join(root, "dev"))
	c := newCLI(t, "STRATA_API="+d.api, "STRATA_TOKEN="+readFile(t, filepath.Join(root, "dev", "admin.token")))
	token := c.OK("node", "token", "create", "--cluster", "default", "--auto-approve", "--ttl", "1h")
	_, edge1 := startNode(t, d.api, token, "edge-1", filepath.Join(root, "edge-1"))
	_, edge2 := startNode(t, d.api, token, "edge-2", filepath.Join(root, "edge-2"))
	edges := []edge{{Name: "dev", HTTP: d.Value(t, "http")}, edge1, edge2}

	var fills atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s fill %d", r.URL.Path, fills.Add(1))
	}))
	t.Cleanup(origin.Close)

	const host, uri = "shop.example.com", "/static/app.css"
	app := c.OK("app", "create", "--name", "shop", "--domain", host)
	c.OK("upstream", "create", "--app", app, "--name", "web", "--server", strings.TrimPrefix(origin.URL, "http://"))
	c.OK("rule", "create", "--app", app, "--when", `PathPrefix("/static")`, "--cache-ttl", "1h", "--upstream", "web")
	c.OK("release", "create", "--app", app)

	client := &http.Client{Timeout: 5 * time.Second}
	missThenHit := func(when string) map[string]string {
		t.Helper()
		bodies := map[string]string{}
		for _, e := range edges {
			var miss string
			natstest.CheckFor(t, 45*time.Second, 50*time.Millisecond, func() error {
				body, status, err := cacheGet(client, e, host, uri)
				if err != nil {
					return err
				}
				switch status {
				case "BYPASS": // held until the node has applied the purges stored before it started
					return fmt.Errorf("node %s: cache held (BYPASS)", e.Name)
				case "MISS":
				default:
					t.Fatalf("%s: node %s answered %q first, want MISS", when, e.Name, status)
				}
				miss = body
				return nil
			})
			body, status, err := cacheGet(client, e, host, uri)
			if err != nil || status != "HIT" || body != miss {
				t.Fatalf("%s: node %s second request: %q %q %v; want HIT with %q", when, e.Name, body, status, err, miss)
			}
			bodies[e.Name] = miss
		}
		return bodies
	}
	before := missThenHit("after release")
	filled := fills.Load()

	waitOnline(t, c, 3)
	out := c.OK("purge", "url", "https://"+host+uri, "--wait")
	if m := purgedRE.FindStringSubmatch(out); m == nil || m[2] != "3" || m[3] != "3" {
		t.Fatalf("purge url --wait printed %q, want \"ID: purged on 3/3 nodes in N ms\"", out)
	}
	t.Logf("%s", out)
	after := missThenHit("after purge")
	for name, b := range after {
		if b == before[name] {
			t.Errorf("node %s served %q again after the purge", name, b)
		}
	}
	if n := fills.Load() - filled; n != 3 {
		t.Errorf("%d origin fetches after the purge, want 3 (one per node)", n)
	}
}

// `strata purge condition` removes, on strata dev's node, exactly the
// objects of the host whose path matches the regex and whose response has
// the header value; bad input is refused naming the field.
func TestDevPurgeCondition(t *testing.T) {
	root := t.TempDir()
	d := startDev(t, filepath.Join(root, "dev"))
	c := newCLI(t, "STRATA_API="+d.api, "STRATA_TOKEN="+readFile(t, filepath.Join(root, "dev", "admin.token")))
	var fills atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".png") {
			w.Header().Set("Content-Type", "image/png")
		} else {
			w.Header().Set("Content-Type", "text/css")
		}
		fmt.Fprintf(w, "%s fill %d", r.URL.Path, fills.Add(1))
	}))
	t.Cleanup(origin.Close)
	const host = "shop.example.com"
	app := c.OK("app", "create", "--name", "shop", "--domain", host)
	c.OK("upstream", "create", "--app", app, "--name", "web", "--server", strings.TrimPrefix(origin.URL, "http://"))
	c.OK("rule", "create", "--app", app, "--when", `PathPrefix("/")`, "--cache-ttl", "1h", "--upstream", "web")
	c.OK("release", "create", "--app", app)
	waitOnline(t, c, 1)

	node := edge{Name: "dev", HTTP: d.Value(t, "http")}
	client := &http.Client{Timeout: 5 * time.Second}
	uris := []string{"/static/a.png", "/static/b.css", "/img/c.png"}
	for _, u := range uris { // fill, then check each is a HIT
		natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
			_, status, err := cacheGet(client, node, host, u)
			if err == nil && status != "HIT" {
				err = fmt.Errorf("%s: %s", u, status)
			}
			return err
		})
	}

	out := c.OK("purge", "condition", "--host", host, "--path-regex", `^/static/`, "--header", "content-type: IMAGE/PNG", "--wait")
	m := purgedRE.FindStringSubmatch(out)
	if m == nil || m[2] != "1" || m[3] != "1" {
		t.Fatalf("purge condition --wait printed %q, want \"ID: purged on 1/1 nodes in N ms\"", out)
	}
	res := &purgev1.Purge{}
	if err := protojson.Unmarshal([]byte(c.OK("purge", "get", m[1], "-o", "json")), res); err != nil {
		t.Fatal(err)
	}
	if cond := res.GetCondition(); res.GetKind() != purgev1.PurgeKind_PURGE_KIND_CONDITION || cond.GetHost() != host ||
		cond.GetPathRegex() != "^/static/" || cond.GetHeader() != "content-type" || cond.GetHeaderValue() != "IMAGE/PNG" ||
		len(res.GetAcks()) != 1 || res.GetAcks()[0].GetObjects() != 1 {
		t.Fatalf("purge get: %v", res)
	}
	if list := c.OK("purge", "list"); !strings.Contains(list, "host="+host+" path-regex=^/static/ header=content-type: IMAGE/PNG") {
		t.Fatalf("purge list does not show the condition:\n%s", list)
	}
	for _, u := range uris {
		_, status, err := cacheGet(client, node, host, u)
		want := "HIT"
		if u == "/static/a.png" {
			want = "MISS"
		}
		if err != nil || status != want {
			t.Errorf("%s after the condition purge: %s %v, want %s", u, status, err, want)
		}
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad regex", []string{"--host", host, "--path-regex", "(a"}, "condition.path_regex"},
		{"bad header name", []string{"--host", host, "--header", "Bad Name: x"}, "condition.header"},
		{"no host", []string{"--path-regex", "^/"}, "--host is required"},
		{"empty header name", []string{"--host", host, "--header", ": x"}, "--header"},
	} {
		r := c.Run(append([]string{"purge", "condition"}, tc.args...)...)
		if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want an error naming %s", tc.name, r.Code, r.Stderr, tc.want)
		}
	}
}
