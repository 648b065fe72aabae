package stack_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/certtest"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// lineServer answers every line with "name: line".
func lineServer(t *testing.T, name string) string {
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
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					fmt.Fprintf(c, "%s: %s\n", name, sc.Text())
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestDevStreamApp: a TCP stream app created and released through the API
// is served by strata dev's node on its port (127.0.0.1); a release that
// changes its upstream keeps an open connection on the old one while new
// connections take the new one; its connections show in the metrics
// service's top like requests.
func TestDevStreamApp(t *testing.T) {
	dev := runDev(t)
	ctx := context.Background()
	c := clientsFor(dev.api, dev.token)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint32(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	app := must[*configv1.CreateAppResponse](t)(c.config.CreateApp(ctx, &configv1.CreateAppRequest{
		Name: "echo", Role: &configv1.CreateAppRequest_Stream{Stream: &configv1.StreamApp{
			Listeners: []*configv1.StreamListener{{Port: port, Protocol: configv1.StreamProtocol_STREAM_PROTOCOL_TCP}},
			Upstream:  "main",
		}}})).App
	up := must[*configv1.CreateUpstreamResponse](t)(c.config.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: app.Id,
		Upstream: &configv1.Upstream{Name: "main", Servers: []*configv1.Server{{Address: lineServer(t, "one"), Weight: 1}}}})).Upstream
	must[*configv1.CreateReleaseResponse](t)(c.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))

	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// The node counts a connection that reached an upstream when it ends:
	// every connection that got an answer must be counted, and none that
	// was never accepted.
	var dialed, answered int64
	dial := func() (net.Conn, *bufio.Reader, error) {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return nil, nil, err
		}
		dialed++
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		return conn, bufio.NewReader(conn), nil
	}
	say := func(conn net.Conn, r *bufio.Reader, line string) (string, error) {
		if _, err := fmt.Fprintln(conn, line); err != nil {
			return "", err
		}
		s, err := r.ReadString('\n')
		if err == nil {
			answered++
		}
		return strings.TrimSuffix(s, "\n"), err
	}
	var open net.Conn
	var openR *bufio.Reader
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		conn, r, err := dial()
		if err != nil {
			return err
		}
		if got, err := say(conn, r, "a"); err != nil || got != "one: a" {
			conn.Close()
			return fmt.Errorf("answer %q: %v", got, err)
		}
		open, openR = conn, r
		return nil
	})
	defer open.Close()

	up.Servers = []*configv1.Server{{Address: lineServer(t, "two"), Weight: 1}}
	must[*configv1.UpdateUpstreamResponse](t)(c.config.UpdateUpstream(ctx, &configv1.UpdateUpstreamRequest{AppId: app.Id, Upstream: up}))
	must[*configv1.CreateReleaseResponse](t)(c.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		conn, r, err := dial()
		if err != nil {
			return err
		}
		defer conn.Close()
		if got, err := say(conn, r, "b"); err != nil || got != "two: b" {
			return fmt.Errorf("answer %q: %v", got, err)
		}
		return nil
	})
	if got, err := say(open, openR, "c"); err != nil || got != "one: c" {
		t.Fatalf("connection open across the release: %q %v", got, err)
	}
	open.Close()

	answered-- // the open connection answered twice ("a" and "c")
	natstest.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		top, err := c.metric.QueryTop(ctx, &metricsv1.QueryTopRequest{AppId: app.Id, By: "status"})
		if err != nil {
			return err
		}
		if total := int64(top.GetTotal()); total < answered || total > dialed {
			return fmt.Errorf("top total %d, want the %d connections that got an answer, at most the %d accepted", total, answered, dialed)
		}
		return nil
	})
	// The node's heartbeat names what it serves (issue 17, node list ROLES).
	natstest.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		nodes, err := c.config.ListNodes(ctx, &configv1.ListNodesRequest{})
		if err != nil {
			return err
		}
		for _, n := range nodes.GetNodes() {
			if r := strings.Join(n.GetRoles(), ","); !strings.Contains(r, "http") || !strings.Contains(r, "stream") {
				return fmt.Errorf("node %s roles %q, want http and stream", n.GetNode().GetName(), r)
			}
			// The build it runs (a test binary: "devel" and maybe a revision).
			if v := n.GetSoftwareVersion(); !strings.HasPrefix(v, "devel") && !strings.HasPrefix(v, "v") {
				return fmt.Errorf("node %s software version %q, want the build's", n.GetNode().GetName(), v)
			}
		}
		return nil
	})
}

// tlsLineServer is a TLS upstream answering one line with "name: line",
// then closing (so that openssl s_client ends).
func tlsLineServer(t *testing.T, name string, cert tls.Certificate) string {
	t.Helper()
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
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				sc := bufio.NewScanner(c)
				if sc.Scan() {
					fmt.Fprintf(c, "%s: %s\n", name, sc.Text())
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestDevStreamSNIPassthrough: an SNI proxy app released through the API
// routes TLS connections by server name to two TLS upstreams without
// terminating (openssl s_client verifies each upstream's own certificate
// through the node) and refuses an unknown name.
func TestDevStreamSNIPassthrough(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("no openssl")
	}
	set := certtest.NewSet(t)
	leaf := func(name string) tls.Certificate {
		c, chain := set.Leaf(t, certtest.Options{DNSNames: []string{name}})
		cert, err := tls.X509KeyPair([]byte(chain), []byte(c.KeyPEM(t)))
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	caFile := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(caFile, []byte(set.Root.PEM), 0o600); err != nil {
		t.Fatal(err)
	}
	dev := runDev(t)
	ctx := context.Background()
	c := clientsFor(dev.api, dev.token)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint32(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	app := must[*configv1.CreateAppResponse](t)(c.config.CreateApp(ctx, &configv1.CreateAppRequest{
		Name: "sni", Role: &configv1.CreateAppRequest_Stream{Stream: &configv1.StreamApp{
			Listeners: []*configv1.StreamListener{{Port: port, Protocol: configv1.StreamProtocol_STREAM_PROTOCOL_TCP}},
			TlsMode:   configv1.StreamTlsMode_STREAM_TLS_MODE_PASSTHROUGH,
			SniRoutes: []*configv1.SniRoute{{ServerName: "a.example.com", Upstream: "a"}, {ServerName: "*.b.example.com", Upstream: "b"}},
		}}})).App
	for name, addr := range map[string]string{"a": tlsLineServer(t, "A", leaf("a.example.com")), "b": tlsLineServer(t, "B", leaf("x.b.example.com"))} {
		must[*configv1.CreateUpstreamResponse](t)(c.config.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: app.Id,
			Upstream: &configv1.Upstream{Name: name, Servers: []*configv1.Server{{Address: addr, Weight: 1}}}}))
	}
	must[*configv1.CreateReleaseResponse](t)(c.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))

	sClient := func(name string) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", fmt.Sprintf("127.0.0.1:%d", port),
			"-servername", name, "-verify_hostname", name, "-CAfile", caFile, "-verify_return_error", "-quiet")
		cmd.Stdin = strings.NewReader("hi\n")
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if got, err := sClient("a.example.com"); err != nil || got != "A: hi" {
			return fmt.Errorf("a.example.com: %q %v", got, err)
		}
		return nil
	})
	if got, err := sClient("x.b.example.com"); err != nil || got != "B: hi" {
		t.Fatalf("x.b.example.com: %q %v", got, err)
	}
	if got, err := sClient("unknown.example.com"); err == nil || strings.Contains(got, "hi") {
		t.Fatalf("unknown name not refused: %q %v", got, err)
	}
}
