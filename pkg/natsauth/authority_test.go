package natsauth_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/strata-edge/strata/pkg/natsauth"
	"github.com/strata-edge/strata/pkg/natsauth/natsauthtest"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

func TestLoadOrCreateKeepsIdentities(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auth")
	a, err := natsauth.LoadOrCreate(dir)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("no files written")
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s: mode %#o, want 0600", e.Name(), perm)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode: %v %v, want 0700", fi.Mode().Perm(), err)
	}

	b, err := natsauth.LoadOrCreate(dir)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if a.OperatorPublicKey() != b.OperatorPublicKey() || a.AccountPublicKey() != b.AccountPublicKey() ||
		a.SystemAccountPublicKey() != b.SystemAccountPublicKey() {
		t.Fatal("identities changed across LoadOrCreate")
	}
	// A user issued before the restart is still signed by the account's key.
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	token, err := a.NodeUser("n1", "p1", pub)
	if err != nil {
		t.Fatal(err)
	}
	uc, err := jwt.DecodeUserClaims(token)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := jwt.DecodeAccountClaims(b.AccountJWT())
	if err != nil {
		t.Fatal(err)
	}
	if !ac.DidSign(uc) {
		t.Fatal("reloaded account does not recognize a user issued before")
	}
}

func TestLoadOrCreateRefusesBadFiles(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(t *testing.T, dir string)
		wantErr string
	}{
		{
			name: "world readable seed",
			mutate: func(t *testing.T, dir string) {
				if err := os.Chmod(filepath.Join(dir, "account-signing.nk"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "account-signing.nk: mode 0644",
		},
		{
			name: "group readable seed",
			mutate: func(t *testing.T, dir string) {
				if err := os.Chmod(filepath.Join(dir, "operator.nk"), 0o640); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "operator.nk: mode 0640",
		},
		{
			name: "garbage seed",
			mutate: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, "account.nk"), []byte("not a seed"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "account.nk: not an nkey seed",
		},
		{
			name: "seed of the wrong kind",
			mutate: func(t *testing.T, dir string) {
				kp, _ := nkeys.CreateUser()
				seed, _ := kp.Seed()
				if err := os.WriteFile(filepath.Join(dir, "operator.nk"), seed, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "operator.nk: holds a user key, want operator",
		},
		{
			name: "corrupt revocations",
			mutate: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, "revocations.json"), []byte("{"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "revocations.json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := natsauth.LoadOrCreate(dir); err != nil {
				t.Fatal(err)
			}
			tt.mutate(t, dir)
			_, err := natsauth.LoadOrCreate(dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestNodeUserRejectsBadInput(t *testing.T) {
	a, err := natsauth.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	user, _ := nkeys.CreateUser()
	userPub, _ := user.PublicKey()
	acc, _ := nkeys.CreateAccount()
	accPub, _ := acc.PublicKey()
	tests := []struct {
		name, node, partition, key, wantErr string
	}{
		{"account key", "n1", "p1", accPub, "not an nkey user public key"},
		{"garbage key", "n1", "p1", "Uxyz", "not an nkey user public key"},
		{"empty node", "", "p1", userPub, "node id: required"},
		{"wildcard node", "n*", "p1", userPub, `node id "n*": only letters`},
		{"dotted partition", "n1", "p1.>", userPub, `partition id "p1.>": only letters`},
		{"empty partition", "n1", "", userPub, "partition id: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.NodeUser(tt.node, tt.partition, tt.key)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestRevokeClosesTheNodesLinkOnly(t *testing.T) {
	dir := t.TempDir()
	auth, err := natsauth.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	hub := natsauthtest.RunHub(t, auth)
	control := hub.ControlConn(t)
	hubJS, err := jetstream.New(control)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hubJS.CreateStream(t.Context(), jetstream.StreamConfig{Name: natsutil.SyncStream, Subjects: []string{natsutil.SyncSubjects}}); err != nil {
		t.Fatal(err)
	}

	type node struct {
		key     nkeys.KeyPair
		pub     string
		userJWT string
		js      jetstream.JetStream
		leaf    interface{ NumLeafNodes() int }
	}
	start := func(id, partition string) *node {
		n := &node{}
		n.key, _ = nkeys.CreateUser()
		n.pub, _ = n.key.PublicKey()
		if n.userJWT, err = auth.NodeUser(id, partition, n.pub); err != nil {
			t.Fatal(err)
		}
		leaf := natsauthtest.RunLeaf(t, hub.LeafURL, n.userJWT, n.key)
		n.leaf = leaf
		n.js, _ = jetstream.NewWithDomain(natsauthtest.NodeConn(t, leaf, id), natsutil.HubDomain)
		natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			_, err := n.js.Stream(ctx, natsutil.SyncStream)
			return err
		})
		return n
	}
	n1 := start("n1", "p1")
	n2 := start("n2", "p2")

	// Before revocation the node's credentials open a connection.
	nc, err := nats.Connect(hub.Server.ClientURL(), nats.UserJWTAndSeed(n1.userJWT, seedOf(t, n1.key)), nats.NoReconnect())
	if err != nil {
		t.Fatalf("connect with node credentials: %v", err)
	}
	defer nc.Close()

	if err := auth.Revoke(hub.Server, n1.pub); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := n1.leaf.NumLeafNodes(); n != 0 {
			return errors.New("n1's leaf link is still up")
		}
		if !nc.IsClosed() {
			return errors.New("n1's client connection is still open")
		}
		return nil
	})
	if _, err := nats.Connect(hub.Server.ClientURL(), nats.UserJWTAndSeed(n1.userJWT, seedOf(t, n1.key)), nats.NoReconnect()); err == nil {
		t.Fatal("revoked credentials still connect")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := n1.js.Stream(ctx, natsutil.SyncStream); err == nil {
		t.Fatal("revoked node still reaches the hub's JetStream")
	}
	// The other node and the control plane keep working.
	if n := n2.leaf.NumLeafNodes(); n != 1 {
		t.Fatalf("n2 leaf links = %d, want 1", n)
	}
	if _, err := n2.js.Stream(t.Context(), natsutil.SyncStream); err != nil {
		t.Fatalf("n2 after n1's revocation: %v", err)
	}
	if _, err := hubJS.Stream(t.Context(), natsutil.SyncStream); err != nil {
		t.Fatalf("control user after revocation: %v", err)
	}
	// A revoked key gets no new credentials, and revoking twice is harmless.
	if _, err := auth.NodeUser("n1", "p1", n1.pub); !errors.Is(err, natsauth.ErrRevoked) {
		t.Fatalf("NodeUser for revoked key: %v, want ErrRevoked", err)
	}
	if err := auth.Revoke(hub.Server, n1.pub); err != nil {
		t.Fatalf("second Revoke: %v", err)
	}

	// The revocation survives a restart of the control plane and the hub.
	reloaded, err := natsauth.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reloaded.IsRevoked(n1.pub) || reloaded.IsRevoked(n2.pub) {
		t.Fatalf("after reload: n1 revoked %v, n2 revoked %v", reloaded.IsRevoked(n1.pub), reloaded.IsRevoked(n2.pub))
	}
	hub2 := natsauthtest.RunHub(t, reloaded)
	if _, err := nats.Connect(hub2.Server.ClientURL(), nats.UserJWTAndSeed(n1.userJWT, seedOf(t, n1.key)), nats.NoReconnect()); err == nil {
		t.Fatal("restarted hub accepts revoked credentials")
	}
	nc2, err := nats.Connect(hub2.Server.ClientURL(), nats.UserJWTAndSeed(n2.userJWT, seedOf(t, n2.key)), nats.NoReconnect())
	if err != nil {
		t.Fatalf("restarted hub refuses n2's credentials: %v", err)
	}
	nc2.Close()
}

func TestWriteCredentialsFileOpensALeafLink(t *testing.T) {
	auth, err := natsauth.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	hub := natsauthtest.RunHub(t, auth)
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	token, err := auth.NodeUser("n1", "p1", pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "node.creds")
	if err := natsauth.WriteCredentials(path, token, []byte(seedOf(t, kp))); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("creds file mode: %v, %v", fi.Mode().Perm(), err)
	}
	u, _ := url.Parse(hub.LeafURL)
	leaf := natstest.RunServerWith(t, natsutil.ServerOptions{
		NoJetStream: true,
		LeafRemotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{u}, Credentials: path}},
	})
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if leaf.NumLeafNodes() != 1 {
			return errors.New("leaf link not up")
		}
		return nil
	})
}

func seedOf(t *testing.T, kp nkeys.KeyPair) string {
	t.Helper()
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	return string(seed)
}
