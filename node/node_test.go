package node_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/node/syncagent"
	"github.com/strata-edge/strata/pkg/natsauth"
	"github.com/strata-edge/strata/pkg/natsauth/natsauthtest"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

const partition = "p1"

func logger() *slog.Logger {
	if os.Getenv("STRATA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func TestOptionsValidation(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	other, _ := nkeys.CreateUser()
	otherPub, _ := other.PublicKey()
	auth, err := natsauth.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	otherJWT, err := auth.NodeUser("n1", partition, otherPub)
	if err != nil {
		t.Fatal(err)
	}
	valid := func() node.Options {
		return node.Options{DataDir: t.TempDir(), HubLeafURLs: []string{"nats-leaf://127.0.0.1:7422"},
			NodeID: "n1", PartitionID: partition, HTTPAddr: "127.0.0.1:0"}
	}
	tests := []struct {
		name   string
		change func(*node.Options)
		want   string
	}{
		{"no data dir", func(o *node.Options) { o.DataDir = "" }, "Options.DataDir: required"},
		{"no hub", func(o *node.Options) { o.HubLeafURLs = nil }, "Options.HubLeafURLs: at least one"},
		{"bad scheme", func(o *node.Options) { o.HubLeafURLs = []string{"http://hub:7422"} }, `HubLeafURLs[0] "http://hub:7422": scheme "http"`},
		{"no host", func(o *node.Options) { o.HubLeafURLs = []string{"tls://"} }, "host: required"},
		{"no node id", func(o *node.Options) { o.NodeID = "" }, "Options.NodeID: required"},
		{"partition with dot", func(o *node.Options) { o.PartitionID = "a.b" }, `Options.PartitionID "a.b"`},
		{"no listener", func(o *node.Options) { o.HTTPAddr = "" }, "HTTPAddr, HTTPSAddr: set at least one"},
		{"seed without jwt", func(o *node.Options) { o.Credentials = &node.Credentials{Seed: seed} }, "JWT and Seed: both required"},
		{"bad seed", func(o *node.Options) { o.Credentials = &node.Credentials{JWT: otherJWT, Seed: []byte("SUxyz")} }, "Seed: not an nkey seed"},
		{"jwt of another key", func(o *node.Options) { o.Credentials = &node.Credentials{JWT: otherJWT, Seed: seed} }, "JWT: issued for " + otherPub},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := valid()
			tc.change(&o)
			_, err := node.New(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := node.New(valid()); err != nil {
		t.Fatalf("valid options: %v", err)
	}
}

// publisher plays the config service for one partition's stable track.
type publisher struct {
	t       *testing.T
	js      jetstream.JetStream
	obs     jetstream.ObjectStore
	version uint64
	apps    map[string]*configv1.App
}

func newPublisher(t *testing.T, nc *nats.Conn) *publisher {
	t.Helper()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: natsutil.SyncStream, Subjects: []string{natsutil.SyncSubjects}, Storage: jetstream.FileStorage,
	}); err != nil {
		t.Fatalf("sync stream: %v", err)
	}
	obs, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: natsutil.SnapshotBucket(partition)})
	if err != nil {
		t.Fatalf("snapshot bucket: %v", err)
	}
	return &publisher{t: t, js: js, obs: obs, apps: map[string]*configv1.App{}}
}

// release publishes a delta upserting apps, then the snapshot.
func (p *publisher) release(apps ...*configv1.App) uint64 {
	p.t.Helper()
	d := &syncv1.Delta{PartitionId: partition, FromVersion: p.version, ToVersion: p.version + 3, Schema: natsutil.SyncSchema}
	for _, a := range apps {
		d.Upserts = append(d.Upserts, store.Resource(a, d.ToVersion))
	}
	p.version = d.ToVersion
	snap := &syncv1.Snapshot{PartitionId: partition, Version: p.version}
	for _, a := range apps {
		p.apps[a.GetId()] = a
	}
	for _, a := range p.apps {
		snap.Apps = append(snap.Apps, a)
	}
	return p.send(d, snap)
}

// send publishes delta d on the stable track, then snap as its snapshot,
// and returns the version it reaches.
func (p *publisher) send(d *syncv1.Delta, snap *syncv1.Snapshot) uint64 {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	data, _ := proto.Marshal(d)
	if _, err := p.js.Publish(ctx, natsutil.DeltaSubject(partition, false), data,
		jetstream.WithMsgID(fmt.Sprintf("%s.stable.%d", partition, d.ToVersion))); err != nil {
		p.t.Fatalf("publish delta: %v", err)
	}
	data, _ = proto.Marshal(store.BundleOf(snap))
	v := strconv.FormatUint(p.version, 10)
	if _, err := p.obs.Put(ctx, jetstream.ObjectMeta{Name: natsutil.SnapshotKey(false),
		Metadata: map[string]string{syncagent.SnapshotVersionMeta: v}}, bytes.NewReader(data)); err != nil {
		p.t.Fatalf("put snapshot: %v", err)
	}
	return p.version
}

// upstream answers every request with its name.
func upstream(t *testing.T, name string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) }))
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

func app(addr string) *configv1.App {
	return &configv1.App{Id: "web", Name: "web", Domains: []string{"app.example.com"},
		Upstreams: []*configv1.Upstream{{Id: "web-up", Name: "main", Servers: []*configv1.Server{{Address: addr, Weight: 1}}}}}
}

// get requests http://app.example.com/ through the node's proxy.
func get(n *node.Node) (string, error) {
	req, _ := http.NewRequest("GET", "http://"+n.ProxyHTTPAddr()+"/", nil)
	req.Host = "app.example.com"
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return string(b), nil
}

// runHub starts a hub with a leaf port and returns it with its leaf URL.
func runHub(t *testing.T) (*server.Server, string) {
	t.Helper()
	hub := natstest.RunServerWith(t, natsutil.ServerOptions{LeafPort: -1})
	leafURL, err := natsutil.LeafURL(hub)
	if err != nil {
		t.Fatal(err)
	}
	return hub, leafURL
}

func startNode(t *testing.T, o node.Options) *node.Node {
	t.Helper()
	o.NodeID, o.ClusterID, o.PartitionID = "n1", "c1", partition
	o.HTTPAddr = "127.0.0.1:0"
	o.Logger = logger()
	n, err := node.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopNode(t, n) })
	return n
}

func stopNode(t *testing.T, n *node.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
}

func waitServes(t *testing.T, n *node.Node, version uint64, body string) {
	t.Helper()
	natstest.CheckFor(t, 20*time.Second, 5*time.Millisecond, func() error {
		if v := n.Version(); v != version {
			return fmt.Errorf("node runs version %d, want %d", v, version)
		}
		got, err := get(n)
		if err != nil || got != body {
			return fmt.Errorf("GET = %q, %v; want %q", got, err, body)
		}
		return nil
	})
}

// A node serves what the hub publishes, follows releases, and after a
// restart with the hub gone serves the stored config at once.
func TestNodeServesStoredConfigWithoutHub(t *testing.T) {
	hub, leafURL := runHub(t)
	p := newPublisher(t, natstest.Connect(t, hub))
	a, b := upstream(t, "A"), upstream(t, "B")
	v1 := p.release(app(a))
	dir := t.TempDir()
	n := startNode(t, node.Options{DataDir: dir, HubLeafURLs: []string{leafURL}})
	waitServes(t, n, v1, "A")
	select {
	case <-n.Synced():
	case <-time.After(10 * time.Second):
		t.Fatal("node not synced")
	}
	v2 := p.release(app(b))
	waitServes(t, n, v2, "B")
	stopNode(t, n)

	hub.Shutdown()
	hub.WaitForShutdown()
	n2 := startNode(t, node.Options{DataDir: dir, HubLeafURLs: []string{leafURL}})
	if v := n2.Version(); v != v2 {
		t.Fatalf("restarted node runs version %d, want the stored %d", v, v2)
	}
	if got, err := get(n2); err != nil || got != "B" {
		t.Fatalf("restarted node without hub: GET = %q, %v; want B", got, err)
	}
}

// With node credentials issued by the control plane (operator mode hub,
// least-privilege user), the node syncs and reports its status; the
// credentials file is private.
func TestNodeWithCredentials(t *testing.T) {
	auth, err := natsauth.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	hub := natsauthtest.RunHub(t, auth)
	control := hub.ControlConn(t)
	p := newPublisher(t, control)
	statuses := make(chan *syncv1.NodeStatus, 64)
	sub, err := control.Subscribe(natsutil.NodeStatusSubject("n1"), func(m *nats.Msg) {
		st := &syncv1.NodeStatus{}
		if proto.Unmarshal(m.Data, st) == nil {
			select {
			case statuses <- st:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	control.Flush()

	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	userJWT, err := auth.NodeUser("n1", partition, pub)
	if err != nil {
		t.Fatal(err)
	}
	a, b := upstream(t, "A"), upstream(t, "B")
	v1 := p.release(app(a)) // the node's first config comes from the snapshot
	dir := t.TempDir()
	n := startNode(t, node.Options{DataDir: dir, HubLeafURLs: []string{hub.LeafURL},
		Credentials: &node.Credentials{JWT: userJWT, Seed: seed}, Heartbeat: 50 * time.Millisecond})
	waitServes(t, n, v1, "A")
	v2 := p.release(app(b)) // then deltas
	waitServes(t, n, v2, "B")

	deadline := time.After(10 * time.Second)
	for st := (*syncv1.NodeStatus)(nil); st.GetVersion() != v2; {
		select {
		case st = <-statuses:
		case <-deadline:
			t.Fatalf("no status with version %d reached the hub", v2)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, node.CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Fatalf("credentials file mode %o, want 600", mode)
	}
}

// A tls:// hub URL makes the leaf link use TLS, verified with the given CA.
func TestNodeTLSLink(t *testing.T) {
	caPool, serverTLS := testTLS(t)
	hub := natstest.RunServerWith(t, natsutil.ServerOptions{
		LeafPort:  -1,
		Configure: func(o *server.Options) { o.LeafNode.TLSConfig = serverTLS },
	})
	leafURL, err := natsutil.LeafURL(hub)
	if err != nil {
		t.Fatal(err)
	}
	tlsURL := "tls://" + strings.TrimPrefix(leafURL, "nats-leaf://")
	p := newPublisher(t, natstest.Connect(t, hub))
	v := p.release(app(upstream(t, "A")))
	n := startNode(t, node.Options{DataDir: t.TempDir(), HubLeafURLs: []string{tlsURL},
		TLSConfig: &tls.Config{RootCAs: caPool, MinVersion: tls.VersionTLS12}})
	// The hub requires TLS on its leaf port: serving v proves the link
	// verified the hub's certificate against the given CA.
	waitServes(t, n, v, "A")
}

// testTLS makes a CA and a server certificate for 127.0.0.1.
func testTLS(t *testing.T) (*x509.CertPool, *tls.Config) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "hub"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
}

// FuzzHubURL: New accepts a hub URL only with a leaf scheme and a host.
func FuzzHubURL(f *testing.F) {
	for _, s := range []string{"nats-leaf://127.0.0.1:7422", "tls://hub:7422", "wss://hub/leaf", "http://hub", "tls://", "::", "nats://[::1]:7422"} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := node.New(node.Options{DataDir: dir, HubLeafURLs: []string{raw}, NodeID: "n1", PartitionID: partition, HTTPAddr: "127.0.0.1:0"})
		if err != nil {
			if !strings.Contains(err.Error(), "HubLeafURLs[0]") {
				t.Fatalf("error does not name the field: %v", err)
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil {
			t.Fatalf("accepted %q, which does not parse: %v", raw, perr)
		}
		if u.Host == "" || !slices.Contains([]string{"nats-leaf", "nats", "tls", "ws", "wss"}, u.Scheme) {
			t.Fatalf("accepted %q (scheme %q host %q)", raw, u.Scheme, u.Host)
		}
	})
}

// The hub restarts (same address, same JetStream store) while the node runs:
// the leaf link comes back and the node follows the next release.
func TestNodeFollowsAcrossHubRestart(t *testing.T) {
	dir := t.TempDir()
	start := func(port, leafPort int) *server.Server {
		s, err := natsutil.StartServer(natsutil.ServerOptions{Port: port, LeafPort: leafPort, StoreDir: dir, NoLog: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hub := start(-1, -1)
	leafURL, err := natsutil.LeafURL(hub)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(leafURL)
	leafPort, _ := strconv.Atoi(u.Port())
	port := hub.Addr().(*net.TCPAddr).Port
	nc := natstest.Connect(t, hub)
	p := newPublisher(t, nc)
	v := p.release(app(upstream(t, "A")))
	n := startNode(t, node.Options{DataDir: t.TempDir(), HubLeafURLs: []string{leafURL}})
	waitServes(t, n, v, "A")

	nc.Close()
	hub.Shutdown()
	hub.WaitForShutdown()
	hub = start(port, leafPort)
	t.Cleanup(func() {
		hub.Shutdown()
		hub.WaitForShutdown()
	})
	p2 := newPublisher(t, natstest.Connect(t, hub))
	p2.version, p2.apps = p.version, p.apps
	v = p2.release(app(upstream(t, "B")))
	waitServes(t, n, v, "B")
}
