package reliability

import (
	"path/filepath"
	"testing"
	"time"
)

// TestStackStarts: the shared helper brings up `strata dev` and a joined
// node; every other test of the suite builds on it.
func TestStackStarts(t *testing.T) {
	root := t.TempDir()
	d := startDev(t, filepath.Join(root, "dev"))
	c := d.cli(t)
	token := c.OK("node", "token", "create", "--cluster", "default", "--auto-approve", "--ttl", "1h")
	startNode(t, d.api, token, "edge-1", filepath.Join(root, "edge-1"))
	d.Interrupt(t, 20*time.Second)
}
