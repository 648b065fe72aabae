package node_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/node/syncagent"
	"github.com/strata-edge/strata/pkg/certtest"
	"github.com/strata-edge/strata/pkg/keywrap"
	"github.com/strata-edge/strata/pkg/natsauth"
	"github.com/strata-edge/strata/pkg/natsauth/natsauthtest"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// A certificate in the snapshot is served by SNI on the node's TLS listener,
// also after a restart without the hub, and its private key is nowhere in
// the node's store in clear.
func TestNodeServesSyncedCertificate(t *testing.T) {
	hub, leafURL := runHub(t)
	sc, nodeKEK, set, leaf := syncedCert(t, "web")
	der := leaf.KeyDER(t)

	p := newPublisher(t, natstest.Connect(t, hub))
	publishWithCert(t, p, app(upstream(t, "A")), sc)

	dir := t.TempDir()
	start := func() *node.Node {
		o := node.Options{DataDir: dir, HubLeafURLs: []string{leafURL}, KEK: nodeKEK, HTTPSAddr: "127.0.0.1:0"}
		return startNode(t, o)
	}
	n := start()
	roots := x509.NewCertPool()
	roots.AddCert(set.Root.Cert)
	natstest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error { return httpsGet(n, roots, "A") })
	stopNode(t, n)

	scanForKey(t, filepath.Join(dir, node.StoreFile), der, leaf.Key.(*ecdsa.PrivateKey).D.Bytes())

	hub.Shutdown()
	hub.WaitForShutdown()
	n2 := start()
	if err := httpsGet(n2, roots, "A"); err != nil {
		t.Fatalf("restarted without hub: %v", err)
	}
}

func publishWithCert(t *testing.T, p *publisher, a *configv1.App, sc *certv1.SyncedCertificate) {
	t.Helper()
	d := &syncv1.Delta{PartitionId: partition, FromVersion: p.version, ToVersion: p.version + 3, Schema: natsutil.SyncSchema, Upserts: store.Upserts(a, sc)}
	p.version = d.ToVersion
	snap := &syncv1.Snapshot{PartitionId: partition, Version: p.version, Apps: []*configv1.App{a}, Certificates: []*certv1.SyncedCertificate{sc}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	data, _ := proto.Marshal(d)
	if _, err := p.js.Publish(ctx, natsutil.DeltaSubject(partition, false), data, jetstream.WithMsgID(fmt.Sprintf("%s.stable.%d", partition, d.ToVersion))); err != nil {
		t.Fatal(err)
	}
	data, _ = proto.Marshal(store.BundleOf(snap))
	if _, err := p.obs.Put(ctx, jetstream.ObjectMeta{Name: natsutil.SnapshotKey(false),
		Metadata: map[string]string{syncagent.SnapshotVersionMeta: strconv.FormatUint(p.version, 10)}}, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

// httpsGet requests https://app.example.com/ through the node, verifying the
// certificate against roots, and wants body.
func httpsGet(n *node.Node, roots *x509.CertPool, body string) error {
	tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "app.example.com"}}
	c := &http.Client{Timeout: 5 * time.Second, Transport: tr}
	req, _ := http.NewRequest("GET", "https://"+n.ProxyHTTPSAddr()+"/", nil)
	req.Host = "app.example.com"
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != body {
		return fmt.Errorf("status %d body %q, want %q", resp.StatusCode, b, body)
	}
	return nil
}

func scanForKey(t *testing.T, path string, secrets ...[]byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		t.Fatalf("read %s: %v", path, err)
	}
	if bytes.Contains(b, []byte("PRIVATE KEY")) {
		t.Errorf("%s holds a PEM private key marker", path)
	}
	for _, s := range secrets {
		if bytes.Contains(b, s) {
			t.Errorf("%s holds private key bytes in clear", path)
		}
	}
	if !bytes.Contains(b, []byte("crt_1")) {
		t.Errorf("%s does not hold the certificate at all: the scan proves nothing", path)
	}
}

// The node's plain listener answers ACME HTTP-01 challenges the cert service
// published to the hub's challenge bucket, for any host; its least-privilege
// credentials allow reading the bucket.
func TestNodeAnswersACMEChallenge(t *testing.T) {
	auth, err := natsauth.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	hub := natsauthtest.RunHub(t, auth)
	leafURL := hub.LeafURL
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	userJWT, err := auth.NodeUser("n1", partition, pub)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(hub.ControlConn(t))
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsutil.ACMEHTTP01Bucket})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "tok-1", []byte("tok-1.thumbprint")); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, node.Options{DataDir: t.TempDir(), HubLeafURLs: []string{leafURL}, Credentials: &node.Credentials{JWT: userJWT, Seed: seed}})
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		req, _ := http.NewRequest("GET", "http://"+n.ProxyHTTPAddr()+"/.well-known/acme-challenge/tok-1", nil)
		req.Host = "new.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "tok-1.thumbprint" {
			return fmt.Errorf("status %d body %q", resp.StatusCode, b)
		}
		return nil
	})
}

// syncedCert is a certificate for app.example.com of app appID, its key
// wrapped for this partition's nodes as the hub syncs it, with the nodes'
// KEK, the certificate set and the leaf.
func syncedCert(t *testing.T, appID string) (*certv1.SyncedCertificate, *keywrap.Keyring, *certtest.Set, *certtest.Cert) {
	t.Helper()
	line, _ := keywrap.NewKeyLine()
	control, _ := keywrap.Parse(line)
	nodeKEK, err := control.Derive("partition/" + partition)
	if err != nil {
		t.Fatal(err)
	}
	set := certtest.NewSet(t)
	leaf, chain := set.Leaf(t, certtest.Options{DNSNames: []string{"app.example.com"}})
	env, err := control.Seal("crt_1", 1, leaf.KeyDER(t))
	if err != nil {
		t.Fatal(err)
	}
	if env, err = control.Rewrap(env, "crt_1", 1, nodeKEK); err != nil {
		t.Fatal(err)
	}
	return &certv1.SyncedCertificate{Id: "crt_1", ChainPem: chain, Domains: []string{"app.example.com"}, AppIds: []string{appID},
		NotAfter: timestamppb.New(leaf.Cert.NotAfter),
		Key:      &certv1.WrappedKey{KekId: env.KEKID, WrappedDataKey: env.WrappedDataKey, Ciphertext: env.Ciphertext, KeyVersion: 1}}, nodeKEK, set, leaf
}
