package node_test

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	"github.com/strata-edge/strata/pkg/passhash"

	"github.com/strata-edge/strata/node/internal/nettest"
)

// A released forward-proxy app opens its SOCKS5 port on the node's
// stream host; a client with the app's credentials connects through it.
func TestNodeForwardProxy(t *testing.T) {
	hub, leafURL := runHub(t)
	echo := nettest.Listen(t)
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := uint32(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	p := newPublisher(t, natstest.Connect(t, hub))
	p.release(app(upstream(t, "A")), &configv1.App{Id: "fp", Name: "fp", Role: &configv1.App_ForwardProxy{ForwardProxy: &configv1.ForwardProxyApp{
		Socks5Ports: []uint32{port},
		Credentials: []*configv1.ProxyCredential{{Username: "u", PasswordHash: passhash.Hash("pw", passhash.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32})}},
		Egress:      &configv1.EgressPolicy{AllowPrivate: true},
	}}})
	n := startNode(t, node.Options{DataDir: t.TempDir(), HubLeafURLs: []string{leafURL}})
	d, err := proxy.SOCKS5("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))), &proxy.Auth{User: "u", Password: "pw"}, &net.Dialer{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if n.Forward() == nil || n.Forward().Addr("socks5", port) == nil {
			o, _ := n.Observe()
			return fmt.Errorf("SOCKS5 port not open yet (version %d, apply error %v)", o.Version, o.ApplyErr)
		}
		return nil
	})
	c, err := d.Dial("tcp", echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "via node"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "via node" {
		t.Fatalf("echo %q, %v", buf, err)
	}
	waitServes(t, n, p.version, "A") // the HTTP app runs beside it
	if o, _ := n.Observe(); o.Forward["fp"].Connections == nil {
		t.Fatalf("no forward stats in Observe: %+v", o.Forward)
	}
}
