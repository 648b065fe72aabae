// Package natsauthtest runs a real hub in operator mode and real leaf nodes
// authenticated with node credentials, for tests.
package natsauthtest

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/strata-edge/strata/pkg/natsauth"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// Hub is an embedded hub in operator mode (JetStream domain hub) with a leaf
// listener on a random port.
type Hub struct {
	Server    *server.Server
	Authority *natsauth.Authority
	// LeafURL is where leaf nodes connect: nats-leaf://127.0.0.1:<port>.
	LeafURL string
}

// RunHub starts a hub trusting auth and shuts it down when the test ends.
func RunHub(t testing.TB, auth *natsauth.Authority) *Hub {
	t.Helper()
	var cfgErr error
	s := natstest.RunServerWith(t, natsutil.ServerOptions{
		LeafPort:  -1,
		Configure: func(o *server.Options) { cfgErr = auth.Configure(o) },
	})
	if cfgErr != nil {
		t.Fatalf("configure operator mode: %v", cfgErr)
	}
	leafURL, err := natsutil.LeafURL(s)
	if err != nil {
		t.Fatal(err)
	}
	return &Hub{Server: s, Authority: auth, LeafURL: leafURL}
}

// ControlConn connects to the hub in-process as a control user.
func (h *Hub) ControlConn(t testing.TB) *nats.Conn {
	t.Helper()
	token, seed, err := h.Authority.ControlUser()
	if err != nil {
		t.Fatalf("control user: %v", err)
	}
	return natstest.Connect(t, h.Server, nats.UserJWTAndSeed(token, string(seed)))
}

// RunLeaf starts a plain (no JetStream) server whose one leaf remote dials
// leafURL with the given user JWT, signing the server's nonce with key, and
// waits until the link is up.
func RunLeaf(t testing.TB, leafURL, userJWT string, key nkeys.KeyPair) *server.Server {
	t.Helper()
	u, err := url.Parse(leafURL)
	if err != nil {
		t.Fatalf("leaf url: %v", err)
	}
	remote := &server.RemoteLeafOpts{
		URLs: []*url.URL{u},
		SignatureCB: func(nonce []byte) (string, []byte, error) {
			sig, err := key.Sign(nonce)
			return userJWT, sig, err
		},
	}
	leaf := natstest.RunServerWith(t, natsutil.ServerOptions{
		NoJetStream: true,
		LeafRemotes: []*server.RemoteLeafOpts{remote},
	})
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := leaf.NumLeafNodes(); n != 1 {
			return fmt.Errorf("leaf links up: %d, want 1", n)
		}
		return nil
	})
	return leaf
}

// NodeConn connects a node-local client to the leaf server, with the node's
// inbox prefix (the only inboxes its credentials may subscribe to).
func NodeConn(t testing.TB, leaf *server.Server, nodeID string) *nats.Conn {
	t.Helper()
	return natstest.Connect(t, leaf, nats.CustomInboxPrefix(natsutil.NodeInboxPrefix(nodeID)))
}
