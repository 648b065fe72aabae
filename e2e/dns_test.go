package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	"github.com/strata-edge/strata/pkg/testenv"
)

// dig queries addr (host:port) and returns its output.
func dig(t *testing.T, addr string, args ...string) (string, error) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("dig", append([]string{"@" + host, "-p", port, "+norec", "+time=2", "+tries=1"}, args...)...).CombinedOutput()
	return string(out), err
}

// A zone made with the CLI answers on the dev node's DNS port once released,
// changes with the next release, and a revert brings the old answer back;
// checked with a real resolver client (dig).
func TestDevDNSZoneReleaseRevert(t *testing.T) {
	if _, err := exec.LookPath("dig"); err != nil {
		testenv.Missing(t, "dig not installed (apt-get install dnsutils)")
	}
	root := t.TempDir()
	d := startDev(t, filepath.Join(root, "dev"))
	dnsAddr := d.value(t, "dns")
	c := cli{t: t, env: []string{"STRATA_API=" + d.api, "STRATA_TOKEN=" + readFile(t, filepath.Join(root, "dev", "admin.token"))}}

	c.ok("dns", "zone", "create", "example.test", "--ns", "ns1.example.test")
	c.ok("dns", "record", "add", "--zone", "example.test", "www", "A", "192.0.2.1")
	c.ok("dns", "record", "add", "--zone", "example.test", "alias", "CNAME", "www")
	if r := c.run("dns", "record", "add", "--zone", "example.test", "www", "CNAME", "x.example.org."); r.code == 0 || !strings.Contains(r.stderr, "CNAME") {
		t.Fatalf("CNAME beside A: exit %d, stderr %q", r.code, r.stderr)
	}
	// Pending changes are not served.
	if out, _ := dig(t, dnsAddr, "www.example.test", "A"); !strings.Contains(out, "status: REFUSED") {
		t.Fatalf("unreleased zone served:\n%s", out)
	}
	c.ok("dns", "release", "create", "--zone", "example.test", "--note", "first")
	want := func(name, answer string) {
		t.Helper()
		natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
			out, err := dig(t, dnsAddr, name, "A")
			if err != nil || !strings.Contains(out, "status: NOERROR") || !strings.Contains(out, "flags: qr aa") || !strings.Contains(out, answer) {
				return fmt.Errorf("dig %s: %v\n%s", name, err, out)
			}
			return nil
		})
	}
	want("www.example.test", "192.0.2.1")
	want("ALIAS.example.test", "alias.example.test.\t300\tIN\tCNAME\twww.example.test.")
	if out, _ := dig(t, dnsAddr, "nope.example.test", "A"); !strings.Contains(out, "status: NXDOMAIN") || !strings.Contains(out, "SOA") {
		t.Fatalf("NXDOMAIN:\n%s", out)
	}

	c.ok("dns", "zone", "import", "--zone", "example.test", writeZone(t, "www IN A 192.0.2.2\n"))
	c.ok("dns", "release", "create", "--zone", "example.test")
	want("www.example.test", "192.0.2.2")
	c.ok("dns", "release", "revert", "--zone", "example.test", "1")
	want("www.example.test", "192.0.2.1")
	if out := c.ok("dns", "release", "list", "--zone", "example.test"); !strings.Contains(out, "revert") {
		t.Fatalf("release list:\n%s", out)
	}
}

func writeZone(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "zone.txt")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
