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

	"google.golang.org/protobuf/encoding/protojson"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
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
	dnsAddr := d.Value(t, "dns")
	c := newCLI(t, "STRATA_API="+d.api, "STRATA_TOKEN="+readFile(t, filepath.Join(root, "dev", "admin.token")))

	c.OK("dns", "zone", "create", "example.test", "--ns", "ns1.example.test")
	c.OK("dns", "record", "add", "--zone", "example.test", "www", "A", "192.0.2.1")
	c.OK("dns", "record", "add", "--zone", "example.test", "alias", "CNAME", "www")
	if r := c.Run("dns", "record", "add", "--zone", "example.test", "www", "CNAME", "x.example.org."); r.Code == 0 || !strings.Contains(r.Stderr, "CNAME") {
		t.Fatalf("CNAME beside A: exit %d, stderr %q", r.Code, r.Stderr)
	}
	// Pending changes are not served.
	if out, _ := dig(t, dnsAddr, "www.example.test", "A"); !strings.Contains(out, "status: REFUSED") {
		t.Fatalf("unreleased zone served:\n%s", out)
	}
	c.OK("dns", "release", "create", "--zone", "example.test", "--note", "first")
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

	c.OK("dns", "zone", "import", "--zone", "example.test", writeZone(t, "www IN A 192.0.2.2\n"))
	c.OK("dns", "release", "create", "--zone", "example.test")
	want("www.example.test", "192.0.2.2")
	c.OK("dns", "release", "revert", "--zone", "example.test", "1")
	want("www.example.test", "192.0.2.1")
	if out := c.OK("dns", "release", "list", "--zone", "example.test"); !strings.Contains(out, "revert") {
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

// `strata cluster update C --dns off` makes the nodes of cluster C stop
// answering DNS within seconds (dig gets no answer: the port is closed)
// while other clusters' nodes go on; C's nodes still serve HTTP and stay
// gateway targets; `--dns on` makes them answer again on the same port.
// Real processes: strata dev (cluster default) and a strata node in
// cluster edge-b.
func TestDevClusterDNSOffOn(t *testing.T) {
	if _, err := exec.LookPath("dig"); err != nil {
		testenv.Missing(t, "dig not installed (apt-get install dnsutils)")
	}
	root := t.TempDir()
	d := startDev(t, filepath.Join(root, "dev"))
	devDNS := d.Value(t, "dns")
	c := newCLI(t, "STRATA_API="+d.api, "STRATA_TOKEN="+readFile(t, filepath.Join(root, "dev", "admin.token")))

	c.OK("cluster", "create", "--name", "edge-b")
	token := c.OK("node", "token", "create", "--cluster", "edge-b", "--auto-approve", "--ttl", "1h")
	nodeB := startProc(t, "node", "--api", d.api, "--join-token", token, "--name", "b-1", "--data", filepath.Join(root, "b-1"),
		"--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0", "--public-ip", "127.0.0.2")
	edgeB := edge{Name: "b-1", HTTP: nodeB.Value(t, "http")}
	bDNS := nodeB.Value(t, "dns")

	up := upstream(t, "shop")
	app := c.OK("app", "create", "--name", "shop", "--domain", "shop.example.test")
	c.OK("upstream", "create", "--app", app, "--name", "web", "--server", strings.TrimPrefix(up.URL, "http://"))
	c.OK("rule", "create", "--app", app, "--upstream", "web")
	c.OK("release", "create", "--app", app)
	c.OK("dns", "zone", "create", "example.test", "--ns", "ns1.example.test")
	c.OK("dns", "record", "add", "--zone", "example.test", "www", "A", "192.0.2.1")
	c.OK("dns", "record", "add", "--zone", "example.test", "gw", "A", "--gateway", "edge-b")
	c.OK("dns", "release", "create", "--zone", "example.test")

	answers := func(addr, name, answer string) func() error {
		return func() error {
			out, err := dig(t, addr, name, "A")
			if err != nil || !strings.Contains(out, "status: NOERROR") || !strings.Contains(out, answer) {
				return fmt.Errorf("dig @%s %s: %v\n%s", addr, name, err, out)
			}
			return nil
		}
	}
	silent := func() error {
		out, err := dig(t, bDNS, "www.example.test", "A")
		if err == nil || strings.Contains(out, "status:") {
			return fmt.Errorf("node b-1 still answers at %s:\n%s", bDNS, out)
		}
		return nil
	}
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, answers(bDNS, "www.example.test", "192.0.2.1"))
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, answers(devDNS, "www.example.test", "192.0.2.1"))
	waitServed(t, []edge{edgeB}, "shop.example.test", "shop")

	c.OK("cluster", "update", "edge-b", "--dns", "off")
	start := time.Now()
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, silent)
	t.Logf("node b-1 stopped answering %s after the update", time.Since(start).Round(time.Millisecond))
	if list := c.OK("cluster", "list"); !strings.Contains(list, "edge-b") {
		t.Fatalf("cluster list:\n%s", list)
	}
	// Other clusters answer; b-1 serves HTTP and is still edge-b's gateway
	// address (heartbeats every 5 s make it healthy).
	if err := answers(devDNS, "www.example.test", "192.0.2.1")(); err != nil {
		t.Fatal(err)
	}
	waitServed(t, []edge{edgeB}, "shop.example.test", "shop")
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, answers(devDNS, "gw.example.test", "127.0.0.2"))
	if err := silent(); err != nil {
		t.Fatal(err)
	}
	nodeDNS := func(want configv1.NodeDnsState) func() error {
		return func() error {
			res := &configv1.ListNodesResponse{}
			out := c.OK("node", "list", "-o", "json")
			if err := protojson.Unmarshal([]byte(out), res); err != nil {
				t.Fatalf("node list -o json: %v\n%s", err, out)
			}
			for _, n := range res.GetNodes() {
				if n.GetNode().GetName() == "b-1" && n.GetDns() == want && n.GetHealthy() {
					return nil
				}
			}
			return fmt.Errorf("node list does not show b-1 healthy with dns %v:\n%s", want, out)
		}
	}
	natstest.CheckFor(t, 10*time.Second, 100*time.Millisecond, nodeDNS(configv1.NodeDnsState_NODE_DNS_STATE_OFF))

	c.OK("cluster", "update", "edge-b", "--dns", "on")
	start = time.Now()
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, answers(bDNS, "www.example.test", "192.0.2.1"))
	t.Logf("node b-1 answered again %s after the update", time.Since(start).Round(time.Millisecond))
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, answers(bDNS, "gw.example.test", "127.0.0.2"))
	natstest.CheckFor(t, 10*time.Second, 100*time.Millisecond, nodeDNS(configv1.NodeDnsState_NODE_DNS_STATE_ANSWERING))
}
