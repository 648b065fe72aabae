package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/strata-edge/strata/e2e/e2etest"
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// upstream is an HTTP server standing in for an app's backend: it answers
// every request with its name.
func upstream(t *testing.T, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// waitServed polls every node until each answers want for host.
func waitServed(t *testing.T, edges []edge, host, want string) {
	t.Helper()
	e2etest.WaitServed(t, 45*time.Second, edges, host, want)
}

// TestDevWithNodes: strata dev and two strata node processes serve one app;
// every release reaches every node, node list shows them in sync, and a node
// restarted while the control plane is down serves the last release.
func TestDevWithNodes(t *testing.T) {
	root := t.TempDir()
	d := startDev(t, filepath.Join(root, "dev"))
	devEdge := edge{Name: "dev", HTTP: d.Value(t, "http")}
	if https := d.Value(t, "https"); !strings.HasPrefix(https, "https://127.0.0.1:") {
		t.Errorf("banner https line %q", https)
	}
	if dns := d.Value(t, "dns"); !strings.HasPrefix(dns, "127.0.0.1:") || strings.HasSuffix(dns, ":0") {
		t.Errorf("banner dns line %q: want the bound 127.0.0.1:PORT", dns)
	}
	c := newCLI(t, "STRATA_API="+d.api, "STRATA_TOKEN="+readFile(t, filepath.Join(root, "dev", "admin.token")))

	token := c.OK("node", "token", "create", "--cluster", "default", "--auto-approve", "--ttl", "1h")
	if !strings.HasPrefix(token, "jtok_") || !strings.Contains(token, ".") {
		t.Fatalf("node token create printed %q, want the token alone", token)
	}
	node1, edge1 := startNode(t, d.api, token, "edge-1", filepath.Join(root, "edge-1"))
	_, edge2 := startNode(t, d.api, token, "edge-2", filepath.Join(root, "edge-2"))
	edges := []edge{devEdge, edge1, edge2}

	blue, green := upstream(t, "blue"), upstream(t, "green")
	const host = "shop.example.com"
	app := c.OK("app", "create", "--name", "shop", "--domain", host)
	c.OK("upstream", "create", "--app", app, "--name", "web", "--server", strings.TrimPrefix(blue.URL, "http://"))
	c.OK("rule", "create", "--app", app, "--upstream", "web")
	c.OK("release", "create", "--app", app, "--note", "blue")
	waitServed(t, edges, host, "blue")

	c.OK("upstream", "update", "--app", app, "--name", "web", "--server", strings.TrimPrefix(green.URL, "http://"))
	c.OK("release", "create", "--app", app, "--note", "green")
	waitServed(t, edges, host, "green")

	if got := c.OK("release", "revert", "--app", app, "--to", "1"); got != "3" {
		t.Fatalf("revert printed %q, want 3", got)
	}
	waitServed(t, edges, host, "blue")

	// Heartbeats (every 5s) carry the version each node runs.
	var nodes []*configv1.NodeInfo
	natstest.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		res := &configv1.ListNodesResponse{}
		out := c.OK("node", "list", "-o", "json")
		if err := protojson.Unmarshal([]byte(out), res); err != nil {
			t.Fatalf("node list -o json: %v\n%s", err, out)
		}
		nodes = res.GetNodes()
		inSync := 0
		for _, n := range nodes {
			if n.GetInSync() && n.GetOnline() && n.GetAppliedVersion() == n.GetLatestVersion() && n.GetLatestVersion() > 0 {
				inSync++
			}
		}
		if len(nodes) != 3 || inSync != 3 {
			return fmt.Errorf("node list: %d nodes, %d in sync; want 3 in sync:\n%s", len(nodes), inSync, out)
		}
		return nil
	})
	text := c.OK("node", "list")
	for _, want := range []string{"edge-1", "edge-2", "dev", "3/3 (100%)"} {
		if !strings.Contains(text, want) {
			t.Errorf("node list does not show %q:\n%s", want, text)
		}
	}

	// Control plane down: the nodes keep serving; a restarted node serves
	// its stored release without reaching the control plane.
	d.Interrupt(t, 20*time.Second)
	waitServed(t, []edge{edge1, edge2}, host, "blue")
	node1.Interrupt(t, 20*time.Second)
	restarted, edge1b := startNode(t, d.api, token, "edge-1", filepath.Join(root, "edge-1"))
	waitServed(t, []edge{edge1b}, host, "blue")
	if out := restarted.Stdout(); !strings.Contains(out, "Join failed") {
		t.Errorf("restarted node does not say it started without the control plane:\n%s", out)
	}
	if n := restarted.Value(t, "node"); n != nodeID(nodes, "edge-1") {
		t.Errorf("restarted node has id %s, want %s (the identity it joined with)", n, nodeID(nodes, "edge-1"))
	}
	restarted.Interrupt(t, 20*time.Second)
}

func nodeID(nodes []*configv1.NodeInfo, name string) string {
	for _, n := range nodes {
		if n.GetNode().GetName() == name {
			return n.GetNode().GetId()
		}
	}
	return ""
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
