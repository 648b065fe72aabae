package reliability

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protojson"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// mountTmpfs mounts a tmpfs of size bytes on dir (created) until the test
// ends. It skips the test, saying why, where mounting is not allowed (not
// root); CI runs as root.
func mountTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("disk full needs a small tmpfs and mount refused it (run as root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// fill writes dir/filler until the file system is full and returns its
// path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for len(chunk) > 0 {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			chunk = chunk[:len(chunk)/2]
		}
	}
	return path
}

// nodeInfo returns node list's entry for the node named name.
func nodeInfo(c cli, name string) (*configv1.NodeInfo, error) {
	out := c.OK("node", "list", "-o", "json")
	res := &configv1.ListNodesResponse{}
	if err := protojson.Unmarshal([]byte(out), res); err != nil {
		return nil, fmt.Errorf("node list -o json: %v", err)
	}
	for _, n := range res.GetNodes() {
		if n.GetNode().GetName() == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("node list has no %s:\n%s", name, out)
}

// TestDiskFull: a node whose data dir (a 16 MiB tmpfs) fills up keeps
// serving the config it has, also across a restart, shows the write error
// in node list, and applies the release it missed once space returns;
// node.db stays a valid bbolt file holding the latest version.
func TestDiskFull(t *testing.T) {
	root := t.TempDir()
	dataDir := filepath.Join(root, "edge-1")
	mountTmpfs(t, dataDir, 16<<20)
	d := startDev(t, filepath.Join(root, "dev"), "--no-node")
	c := d.cli(t)
	token := c.OK("node", "token", "create", "--cluster", "default", "--auto-approve", "--ttl", "1h")
	node, e := startNode(t, d.api, token, "edge-1", dataDir)
	edges := []edge{e}

	const host = "shop.example.com"
	app := c.OK("app", "create", "--name", "shop", "--domain", host)
	c.OK("rule", "create", "--app", app, "--name", "answer", "--respond", "200", "--body", "before")
	c.OK("release", "create", "--app", app)
	waitServed(t, edges, host, "before")

	// The disk fills up; the next release is bigger than any free page
	// bbolt could reuse, so storing it needs new space.
	filler := fill(t, dataDir)
	c.OK("rule", "update", "--app", app, "--name", "answer", "--respond", "200", "--body", "after")
	for i := range 4 {
		c.OK("rule", "create", "--app", app, "--name", fmt.Sprintf("pad-%d", i), "--when", fmt.Sprintf(`Path("/pad-%d")`, i),
			"--respond", "200", "--body", strings.Repeat("x", 50_000))
	}
	c.OK("release", "create", "--app", app)

	// Reported, still serving the last config it stored.
	reported := func() error {
		n, err := nodeInfo(c, "edge-1")
		if err != nil {
			return err
		}
		if !strings.Contains(n.GetApplyError(), "no space left on device") || n.GetAppliedVersion() >= n.GetLatestVersion() {
			return fmt.Errorf("node list: applied %d of %d, apply_error %q; want the write error and the old version",
				n.GetAppliedVersion(), n.GetLatestVersion(), n.GetApplyError())
		}
		return nil
	}
	natstest.CheckFor(t, 60*time.Second, 200*time.Millisecond, reported)
	waitServed(t, edges, host, "before")
	if text := c.OK("node", "list"); !strings.Contains(text, "no space left on device") {
		t.Errorf("node list does not show the write error:\n%s", text)
	}

	// A restart on the full disk serves the stored config too.
	node.Interrupt(t, 20*time.Second)
	node, e = startNode(t, d.api, token, "edge-1", dataDir)
	edges = []edge{e}
	waitServed(t, edges, host, "before")
	natstest.CheckFor(t, 60*time.Second, 200*time.Millisecond, reported)

	// Space returns: the node stores and serves the release it missed.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitServed(t, edges, host, "after")
	var latest uint64
	natstest.CheckFor(t, 60*time.Second, 200*time.Millisecond, func() error {
		n, err := nodeInfo(c, "edge-1")
		if err != nil {
			return err
		}
		if n.GetApplyError() != "" || !n.GetHealthy() || n.GetAppliedVersion() != n.GetLatestVersion() {
			return fmt.Errorf("node list: applied %d of %d, healthy %v, apply_error %q; want recovered",
				n.GetAppliedVersion(), n.GetLatestVersion(), n.GetHealthy(), n.GetApplyError())
		}
		latest = n.GetLatestVersion()
		return nil
	})

	// node.db: every page consistent, and it holds what the node serves.
	node.Interrupt(t, 20*time.Second)
	dbPath := filepath.Join(dataDir, "node.db")
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("reopen %s: %v", dbPath, err)
	}
	if err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("%s: %v", dbPath, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err := store.Open(dbPath)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	defer st.Close()
	if snap, _, _ := st.Load(); snap.GetVersion() != latest || len(snap.GetApps()) != 1 {
		t.Errorf("node.db holds version %d with %d apps, want version %d with the app", snap.GetVersion(), len(snap.GetApps()), latest)
	}
}
