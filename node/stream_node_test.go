package node_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"

	"github.com/strata-edge/strata/node/internal/nettest"
)

// lineEcho answers every line with "echo: line".
func lineEcho(t *testing.T) string {
	t.Helper()
	ln := nettest.Listen(t)
	nettest.Serve(t, ln, nettest.LineEcho("echo"))
	return ln.Addr().String()
}

func freeTCPPort(t *testing.T) uint32 {
	t.Helper()
	ln := nettest.Listen(t)
	defer ln.Close()
	return uint32(ln.Addr().(*net.TCPAddr).Port)
}

func streamApp(port uint32, origin string) *configv1.App {
	return &configv1.App{Id: "tcp", Name: "tcp", Domains: []string{"app.example.com"},
		Upstreams: []*configv1.Upstream{{Id: "tcp-up", Name: "main", Servers: []*configv1.Server{{Address: origin, Weight: 1}}}},
		Role: &configv1.App_Stream{Stream: &configv1.StreamApp{
			Listeners: []*configv1.StreamListener{{Port: port, Protocol: configv1.StreamProtocol_STREAM_PROTOCOL_TCP}},
			Upstream:  "main",
			TlsMode:   configv1.StreamTlsMode_STREAM_TLS_MODE_TERMINATE,
		}}}
}

// TestNodeStreamApp: a TERMINATE stream app from a synced snapshot serves
// TLS with the certificate of the node's table; a release naming a port the
// node cannot bind is rejected as a whole and the running listener stays.
func TestNodeStreamApp(t *testing.T) {
	hub, leafURL := runHub(t)
	sc, nodeKEK, set, _ := syncedCert(t, "tcp")

	port := freeTCPPort(t)
	p := newPublisher(t, natstest.Connect(t, hub))
	publishWithCert(t, p, streamApp(port, lineEcho(t)), sc)
	n := startNode(t, node.Options{DataDir: t.TempDir(), HubLeafURLs: []string{leafURL}, KEK: nodeKEK, StreamHost: "127.0.0.1"})

	roots := x509.NewCertPool()
	roots.AddCert(set.Root.Cert)
	ask := func() error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port),
			&tls.Config{ServerName: "app.example.com", RootCAs: roots})
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintln(c, "hi")
		got, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || got != "echo: hi\n" {
			return fmt.Errorf("answer %q: %v", got, err)
		}
		return nil
	}
	natstest.CheckFor(t, 20*time.Second, 10*time.Millisecond, ask)
	if got := n.StreamAddr(port, false); got != fmt.Sprintf("127.0.0.1:%d", port) {
		t.Fatalf("StreamAddr %q", got)
	}

	// A second app on a port someone else holds: the release is refused.
	taken := nettest.Listen(t)
	defer taken.Close()
	other := streamApp(uint32(taken.Addr().(*net.TCPAddr).Port), lineEcho(t))
	other.Id, other.Name, other.Domains = "tcp2", "tcp2", nil
	other.GetStream().TlsMode = configv1.StreamTlsMode_STREAM_TLS_MODE_UNSPECIFIED
	p.release(other)
	natstest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if o, _ := n.Observe(); o.ApplyErr == nil {
			return fmt.Errorf("no apply error yet")
		}
		return nil
	})
	if err := ask(); err != nil {
		t.Fatalf("running listener after a refused release: %v", err)
	}
	if o, _ := n.Observe(); o.Stream["tcp"].Connections == 0 {
		t.Fatalf("stream stats: %+v", o.Stream)
	}
}
