package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/certtest"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// freePort returns a port free on loopback for TCP and UDP. Stream and
// forward-proxy apps claim fixed ports, which every node of the partition
// opens on its own --stream-host (127.0.0.1 for the dev node, 127.0.0.2
// and 127.0.0.3 for the two node processes).
func freePort(t *testing.T) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if pc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			pc.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// tcpEcho serves TCP echo on loopback and returns its address.
func tcpEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// udpEcho serves UDP echo on loopback and returns its address.
func udpEcho(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	return pc.LocalAddr().String()
}

// tlsServer answers TLS with a certificate for name and writes name to
// every connection.
func tlsServer(t *testing.T, set *certtest.Set, name string) string {
	t.Helper()
	leaf, _ := set.Leaf(t, certtest.Options{DNSNames: []string{name}})
	cert := tls.Certificate{Certificate: [][]byte{leaf.Cert.Raw}, PrivateKey: leaf.Key}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.WriteString(c, name+"\n") }()
		}
	}()
	return ln.Addr().String()
}

// echoes reports whether a TCP connection to addr echoes a line.
func echoes(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	return echoOn(c)
}

func echoOn(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("%s: %w", c.RemoteAddr(), err)
	}
	if line != "ping\n" {
		return fmt.Errorf("%s echoed %q", c.RemoteAddr(), line)
	}
	return nil
}

func udpEchoes(addr string) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("dgram")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if string(buf[:n]) != "dgram" {
		return fmt.Errorf("udp echo %q", buf[:n])
	}
	return nil
}

// opensslName connects with openssl s_client -servername name and returns
// the first line the upstream wrote (its own name), proving which TLS
// upstream the SNI proxy chose without terminating TLS.
func opensslName(t *testing.T, addr, name string) (string, error) {
	t.Helper()
	cmd := exec.Command("openssl", "s_client", "-connect", addr, "-servername", name, "-quiet", "-verify_quiet")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasSuffix(l, ".test") && !strings.Contains(l, "=") {
			return l, nil
		}
	}
	return "", fmt.Errorf("openssl s_client -servername %s: %v\n%s", name, err, out)
}

// TestDevMultiRole: strata dev and two node processes serve a TCP echo app,
// an SNI passthrough to two TLS upstreams chosen by name, a UDP echo app
// and a forward-proxy app (SOCKS5 with auth through curl, the HTTP forward
// proxy through curl -x, egress to a private range refused); a release that
// changes the TCP app keeps an open connection alive.
func TestDevMultiRole(t *testing.T) {
	for _, bin := range []string{"openssl", "curl"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is needed (.ci/run installs it): %v", bin, err)
		}
	}
	root := t.TempDir()
	d := startDev(t, filepath.Join(root, "dev"))
	c := newCLI(t, "STRATA_API="+d.api, "STRATA_TOKEN="+readFile(t, filepath.Join(root, "dev", "admin.token")))
	token := c.OK("node", "token", "create", "--cluster", "default", "--auto-approve", "--ttl", "1h")
	hosts := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} // dev node, edge-1, edge-2
	startNode(t, d.api, token, "edge-1", filepath.Join(root, "edge-1"), "--stream-host", hosts[1])
	startNode(t, d.api, token, "edge-2", filepath.Join(root, "edge-2"), "--stream-host", hosts[2])
	waitOnline(t, c, 3)
	at := func(h string, port int) string { return net.JoinHostPort(h, strconv.Itoa(port)) }

	// TCP and UDP echo apps.
	tcpPort, udpPort := freePort(t), freePort(t)
	tcpApp := c.OK("app", "create", "--name", "tcp-echo", "--stream-listen", fmt.Sprintf("tcp/%d", tcpPort), "--stream-upstream", "echo")
	c.OK("upstream", "create", "--app", tcpApp, "--name", "echo", "--server", tcpEcho(t))
	c.OK("release", "create", "--app", tcpApp, "--note", "tcp echo")
	udpApp := c.OK("app", "create", "--name", "udp-echo", "--stream-listen", fmt.Sprintf("udp/%d", udpPort), "--stream-upstream", "echo")
	c.OK("upstream", "create", "--app", udpApp, "--name", "echo", "--server", udpEcho(t))
	c.OK("release", "create", "--app", udpApp, "--note", "udp echo")
	for _, h := range hosts {
		natstest.CheckFor(t, 45*time.Second, 100*time.Millisecond, func() error { return echoes(at(h, tcpPort)) })
		natstest.CheckFor(t, 45*time.Second, 100*time.Millisecond, func() error { return udpEchoes(at(h, udpPort)) })
	}

	// A release that changes the TCP app keeps an open connection.
	open, err := net.Dial("tcp", at(hosts[1], tcpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if err := echoOn(open); err != nil {
		t.Fatal(err)
	}
	before := appliedVersions(t, c)
	second := tcpEcho(t)
	c.OK("upstream", "update", "--app", tcpApp, "--name", "echo", "--server", second)
	c.OK("release", "create", "--app", tcpApp, "--note", "second echo server")
	waitApplied(t, c, before)
	if err := echoOn(open); err != nil {
		t.Fatalf("the connection opened before the release: %v", err)
	}

	// SNI passthrough: the ClientHello's name picks the TLS upstream.
	set := certtest.NewSet(t)
	sniPort := freePort(t)
	sni := c.OK("app", "create", "--name", "sni", "--stream-listen", fmt.Sprintf("tcp/%d", sniPort), "--tls-mode", "passthrough",
		"--sni-route", "a.test=a", "--sni-route", "b.test=b")
	c.OK("upstream", "create", "--app", sni, "--name", "a", "--server", tlsServer(t, set, "a.test"))
	c.OK("upstream", "create", "--app", sni, "--name", "b", "--server", tlsServer(t, set, "b.test"))
	c.OK("release", "create", "--app", sni, "--note", "sni")
	for _, h := range hosts {
		for _, name := range []string{"a.test", "b.test"} {
			natstest.CheckFor(t, 45*time.Second, 200*time.Millisecond, func() error {
				got, err := opensslName(t, at(h, sniPort), name)
				if err == nil && got != name {
					err = fmt.Errorf("-servername %s reached %s", name, got)
				}
				return err
			})
		}
		if got, err := opensslName(t, at(h, sniPort), "c.test"); err == nil {
			t.Errorf("%s: unknown name c.test reached %s, want it refused", h, got)
		}
	}

	// Forward proxy: SOCKS5 and HTTP with a credential; loopback allowed,
	// every other private range refused.
	origin := upstream(t, "origin")
	socksPort, httpPort := freePort(t), freePort(t)
	fwd := c.OK("app", "create", "--name", "egress", "--socks5-port", strconv.Itoa(socksPort), "--http-proxy-port", strconv.Itoa(httpPort),
		"--credential", "alice:correct-horse-battery", "--egress-allow-cidr", "127.0.0.1/32", "--egress-allow-cidr", "10.0.0.0/8")
	c.OK("release", "create", "--app", fwd, "--note", "egress")
	curl := func(args ...string) (string, error) {
		out, err := exec.Command("curl", append([]string{"-sS", "--max-time", "5"}, args...)...).CombinedOutput()
		return string(out), err
	}
	for _, h := range hosts {
		natstest.CheckFor(t, 45*time.Second, 200*time.Millisecond, func() error {
			out, err := curl("--socks5-hostname", "alice:correct-horse-battery@"+at(h, socksPort), origin.URL)
			if err != nil || out != "origin" {
				return fmt.Errorf("curl --socks5-hostname via %s: %v %q", h, err, out)
			}
			return nil
		})
		if out, err := curl("--socks5-hostname", at(h, socksPort), origin.URL); err == nil {
			t.Errorf("%s: SOCKS5 without credentials answered %q, want refused", h, out)
		}
		if out, err := curl("--socks5-hostname", "alice:wrong-password-here@"+at(h, socksPort), origin.URL); err == nil {
			t.Errorf("%s: SOCKS5 with a wrong password answered %q, want refused", h, out)
		}
		if out, err := curl("-x", "http://alice:correct-horse-battery@"+at(h, httpPort), origin.URL); err != nil || out != "origin" {
			t.Errorf("%s: curl -x: %v %q", h, err, out)
		}
		// 192.168.0.0/16 is private and not allowed: refused before any
		// connection is attempted.
		out, _ := curl("-o", "/dev/null", "-w", "%{http_code}", "-x", "http://alice:correct-horse-battery@"+at(h, httpPort), "http://192.168.77.1/")
		if out != "403" {
			t.Errorf("%s: egress to 192.168.77.1 through the HTTP proxy: status %q, want 403", h, out)
		}
	}
}

// appliedVersions is the version each node runs, by node name.
func appliedVersions(t *testing.T, c cli) map[string]uint64 {
	t.Helper()
	res := &configv1.ListNodesResponse{}
	out := c.OK("node", "list", "-o", "json")
	if err := protojson.Unmarshal([]byte(out), res); err != nil {
		t.Fatalf("node list -o json: %v\n%s", err, out)
	}
	v := map[string]uint64{}
	for _, n := range res.GetNodes() {
		v[n.GetNode().GetName()] = n.GetAppliedVersion()
	}
	return v
}

// waitApplied waits until every node runs a newer version than in before.
func waitApplied(t *testing.T, c cli, before map[string]uint64) {
	t.Helper()
	natstest.CheckFor(t, 45*time.Second, 200*time.Millisecond, func() error {
		for name, v := range appliedVersions(t, c) {
			if v <= before[name] {
				return fmt.Errorf("node %s still runs version %d", name, v)
			}
		}
		return nil
	})
}
