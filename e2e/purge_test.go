package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
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
		out := c.ok("node", "list", "-o", "json")
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
	c := cli{t: t, env: []string{"STRATA_API=" + d.api, "STRATA_TOKEN=" + readFile(t, filepath.Join(root, "dev", "admin.token"))}}
	waitOnline(t, c, 1)

	out := c.ok("purge", "url", "https://shop.example.com/a.css", "shop.example.com/b.css", "--wait")
	m := purgedRE.FindStringSubmatch(out)
	if m == nil || m[2] != "1" || m[3] != "1" {
		t.Fatalf("purge url --wait printed %q, want \"ID: purged on 1/1 nodes in N ms\"", out)
	}
	id := m[1]

	res := &purgev1.Purge{}
	js := c.ok("purge", "get", id, "-o", "json")
	if err := protojson.Unmarshal([]byte(js), res); err != nil {
		t.Fatalf("purge get -o json: %v\n%s", err, js)
	}
	if res.GetKind() != purgev1.PurgeKind_PURGE_KIND_URL || len(res.GetValues()) != 2 || res.GetNodesDone() != 1 || len(res.GetAcks()) != 1 || res.GetAcks()[0].GetError() != "" {
		t.Fatalf("purge get: %v", res)
	}
	if list := c.ok("purge", "list"); !strings.Contains(list, id) || !strings.Contains(list, "1/1") {
		t.Fatalf("purge list does not show %s done on 1/1:\n%s", id, list)
	}
	if r := c.run("purge", "tag"); r.code == 0 || !strings.Contains(r.stderr, "at least one value") {
		t.Fatalf("purge tag without values: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := c.run("purge", "host", "x.example.com", "--app", "a", "--partition", "p"); r.code == 0 || !strings.Contains(r.stderr, "--app and --partition") {
		t.Fatalf("purge with two scopes: exit %d, stderr %q", r.code, r.stderr)
	}
}
