package cert

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	"github.com/strata-edge/strata/pkg/certtest"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/keywrap"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

type env struct {
	ctx     context.Context
	nats    *server.Server
	js      jetstream.JetStream
	store   eventstore.Store
	kek     *keywrap.Keyring
	kekLine string
	svc     *Service
	client  certv1connect.CertServiceClient
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	s := natstest.RunServer(t)
	js, err := jetstream.New(natstest.Connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	store, err := eventstore.NewJetStream(ctx, js, eventstore.JetStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	line, _ := keywrap.NewKeyLine()
	kek, err := keywrap.Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{ctx: ctx, nats: s, js: js, store: store, kek: kek, kekLine: line}
	e.svc = e.start(t, kek)
	return e
}

func (e *env) start(t *testing.T, kek *keywrap.Keyring) *Service {
	t.Helper()
	svc, err := New(Options{Store: e.store, JetStream: e.js, KEK: kek})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	mux := http.NewServeMux()
	mux.Handle(svc.Handler())
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e.client = certv1connect.NewCertServiceClient(srv.Client(), srv.URL, connect.WithGRPC())
	return svc
}

func TestUploadAttachSync(t *testing.T) {
	e := newEnv(t)
	set := certtest.NewSet(t)
	leaf, chain := set.Leaf(t, certtest.Options{DNSNames: []string{"*.example.com", "example.com"}})
	up, err := e.client.UploadCertificate(e.ctx, &certv1.UploadCertificateRequest{Name: "main", ChainPem: chain, KeyPem: leaf.KeyPEM(t), AppIds: []string{"app_a"}})
	if err != nil {
		t.Fatal(err)
	}
	c := up.Certificate
	if c.Name != "main" || c.State != certv1.CertificateState_CERTIFICATE_STATE_ACTIVE || len(c.AppIds) != 1 || c.Domains[0] != "*.example.com" {
		t.Fatalf("uploaded %v", c)
	}
	if _, err := e.client.UploadCertificate(e.ctx, &certv1.UploadCertificateRequest{Name: "main", ChainPem: chain, KeyPem: leaf.KeyPEM(t)}); connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "name") {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := e.client.UploadCertificate(e.ctx, &certv1.UploadCertificateRequest{ChainPem: chain, KeyPem: set.Root.KeyPEM(t)}); connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "key_pem") {
		t.Fatalf("mismatched key: %v", err)
	}
	got, err := e.client.GetCertificate(e.ctx, &certv1.GetCertificateRequest{Certificate: "main"})
	if err != nil || got.Certificate.Id != c.Id {
		t.Fatalf("get by name: %v %v", got, err)
	}
	stale := got.Version
	if _, err := e.client.AttachCertificate(e.ctx, &certv1.AttachCertificateRequest{Certificate: c.Id, AppId: "app_b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.DetachCertificate(e.ctx, &certv1.DetachCertificateRequest{Certificate: c.Id, AppId: "app_a", ExpectedVersion: &stale}); connect.CodeOf(err) != connect.CodeAborted {
		t.Fatalf("stale version: %v", err)
	}
	list, err := e.client.ListCertificates(e.ctx, &certv1.ListCertificatesRequest{AppId: "app_b"})
	if err != nil || len(list.Certificates) != 1 {
		t.Fatalf("list by app: %v %v", list, err)
	}

	// Nodes of partition p1 can open the key they get; nodes of p2 cannot.
	synced, err := e.svc.Synced("p1", []string{"app_b"})
	if err != nil || len(synced) != 1 {
		t.Fatalf("synced: %v %v", synced, err)
	}
	p1, _ := NodeKeyring(e.kek, "p1")
	p2, _ := NodeKeyring(e.kek, "p2")
	k := synced[0].Key
	der, err := p1.Open(FromProto(k), synced[0].Id, k.KeyVersion)
	if err != nil || !bytes.Equal(der, leaf.KeyDER(t)) {
		t.Fatalf("node open: %v", err)
	}
	if _, err := p2.Open(FromProto(k), synced[0].Id, k.KeyVersion); err == nil {
		t.Fatal("another partition's node opened the key")
	}
	if none, _ := e.svc.Synced("p1", []string{"app_z"}); len(none) != 0 {
		t.Fatalf("unattached app got %d certificates", len(none))
	}

	if _, err := e.client.DeleteCertificate(e.ctx, &certv1.DeleteCertificateRequest{Certificate: c.Id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.GetCertificate(e.ctx, &certv1.GetCertificateRequest{Certificate: c.Id}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("after delete: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	e := newEnv(t)
	set := certtest.NewSet(t)
	leaf, chain := set.Leaf(t, certtest.Options{DNSNames: []string{"r.example.com"}})
	up, _, err := e.svc.Upload(e.ctx, &certv1.UploadCertificateRequest{ChainPem: chain, KeyPem: leaf.KeyPEM(t), AppIds: []string{"app"}})
	if err != nil {
		t.Fatal(err)
	}
	// A replica restarted with a new primary KEK and the old one readable.
	newLine, _ := keywrap.NewKeyLine()
	oldPrimary := e.kek.Primary()
	rotating, err := keywrap.Parse(newLine + "\n" + e.kekLine)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Stop(e.ctx)
	svc := e.start(t, rotating)
	n, err := svc.RotateKeys(e.ctx)
	if err != nil || n != 1 {
		t.Fatalf("rotated %d, %v", n, err)
	}
	r, _ := svc.Model().get(up.Id)
	if r.key.KekId == oldPrimary || r.key.KekId != rotating.Primary() {
		t.Fatalf("key still under %s", r.key.KekId)
	}
	onlyNew, _ := keywrap.Parse(newLine)
	if der, err := onlyNew.Open(FromProto(r.key), up.Id, r.keyVersion); err != nil || !bytes.Equal(der, leaf.KeyDER(t)) {
		t.Fatalf("open with the new KEK alone: %v", err)
	}
	if n, err := svc.RotateKeys(e.ctx); err != nil || n != 0 {
		t.Fatalf("second rotation: %d %v", n, err)
	}
}

// TestNoClearKeys uploads RSA and ECDSA keys and scans every stored event and
// every file of the JetStream store for the keys in clear: PEM markers and
// the raw DER of each key.
func TestNoClearKeys(t *testing.T) {
	e := newEnv(t)
	set := certtest.NewSet(t)
	var ders [][]byte
	for i, kt := range []certtest.KeyType{certtest.ECDSA, certtest.RSA} {
		leaf, chain := set.Leaf(t, certtest.Options{DNSNames: []string{"k" + string(rune('a'+i)) + ".example.com"}, KeyType: kt})
		if _, _, err := e.svc.Upload(e.ctx, &certv1.UploadCertificateRequest{ChainPem: chain, KeyPem: leaf.KeyPEM(t), AppIds: []string{"app"}}); err != nil {
			t.Fatal(err)
		}
		ders = append(ders, leaf.KeyDER(t), innerKey(t, leaf))
	}
	events, err := e.store.ReadAll(e.ctx, 0, 1000)
	if err != nil || len(events) == 0 {
		t.Fatalf("read events: %d %v", len(events), err)
	}
	for _, ev := range events {
		checkNoKey(t, "event "+ev.Type, ev.Data, ders)
	}
	files := 0
	err = filepath.WalkDir(e.nats.StoreDir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		checkNoKey(t, path, b, ders)
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("scanned %d files: %v", files, err)
	}
}

func checkNoKey(t *testing.T, where string, b []byte, ders [][]byte) {
	t.Helper()
	if bytes.Contains(b, []byte("PRIVATE KEY")) {
		t.Errorf("%s: holds a PEM private key marker", where)
	}
	for _, d := range ders {
		if bytes.Contains(b, d) {
			t.Errorf("%s: holds a private key's DER in clear", where)
		}
	}
}

// innerKey is the key without its PKCS#8 wrapping: the ECDSA scalar or the
// PKCS#1 DER of an RSA key.
func innerKey(t *testing.T, c *certtest.Cert) []byte {
	switch k := c.Key.(type) {
	case *ecdsa.PrivateKey:
		return k.D.Bytes()
	case *rsa.PrivateKey:
		return x509.MarshalPKCS1PrivateKey(k)
	}
	t.Fatalf("key type %T", c.Key)
	return nil
}
