package certcmd

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	"github.com/strata-edge/strata/pkg/certtest"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/keywrap"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	certsvc "github.com/strata-edge/strata/services/cert"
)

type factory struct {
	c    certv1connect.CertServiceClient
	out  bytes.Buffer
	json bool
}

func (f *factory) CertClient() (certv1connect.CertServiceClient, error) { return f.c, nil }
func (f *factory) Timeout() time.Duration                               { return 10 * time.Second }
func (f *factory) JSON() bool                                           { return f.json }
func (f *factory) Stdout() io.Writer                                    { return &f.out }

func newFactory(t *testing.T) *factory {
	t.Helper()
	ctx := context.Background()
	js, err := jetstream.New(natstest.Connect(t, natstest.RunServer(t)))
	if err != nil {
		t.Fatal(err)
	}
	store, err := eventstore.NewJetStream(ctx, js, eventstore.JetStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	line, _ := keywrap.NewKeyLine()
	kek, _ := keywrap.Parse(line)
	svc, err := certsvc.New(certsvc.Options{Store: store, KEK: kek})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(ctx) })
	mux := http.NewServeMux()
	mux.Handle(svc.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &factory{c: certv1connect.NewCertServiceClient(srv.Client(), srv.URL)}
}

func (f *factory) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "strata", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(Commands(f)...)
	root.SetArgs(args)
	f.out.Reset()
	err := root.ExecuteContext(context.Background())
	return f.out.String(), err
}

func TestCertCommands(t *testing.T) {
	f := newFactory(t)
	dir := t.TempDir()
	set := certtest.NewSet(t)
	leaf, chain := set.Leaf(t, certtest.Options{DNSNames: []string{"www.example.com", "*.example.org"}})
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certFile, keyFile := write("chain.pem", chain), write("key.pem", leaf.KeyPEM(t))
	otherKey := write("other.pem", set.Root.KeyPEM(t))
	must := func(args ...string) string {
		t.Helper()
		out, err := f.run(t, args...)
		if err != nil {
			t.Fatalf("strata %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	out := must("cert", "upload", "--cert", certFile, "--key", keyFile, "--name", "www", "--app", "app_1")
	for _, want := range []string{"www.example.com, *.example.org", "active", "app_1", "ECDSA"} {
		if !strings.Contains(out, want) {
			t.Fatalf("upload output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "PRIVATE KEY") {
		t.Fatal("output shows the key")
	}
	if _, err := f.run(t, "cert", "upload", "--cert", certFile, "--key", otherKey); err == nil || !strings.Contains(err.Error(), "key_pem") {
		t.Fatalf("mismatched key: %v", err)
	}
	if _, err := f.run(t, "cert", "upload", "--cert", certFile); err == nil || !strings.Contains(err.Error(), "--key") {
		t.Fatalf("missing --key: %v", err)
	}
	must("cert", "attach", "www", "--app", "app_2")
	if out := must("cert", "list", "--app", "app_2"); !strings.Contains(out, "www") {
		t.Fatalf("list --app:\n%s", out)
	}
	must("cert", "detach", "www", "--app", "app_2")
	if out := must("cert", "list", "--app", "app_2"); strings.Contains(out, "www") {
		t.Fatalf("still attached:\n%s", out)
	}
	out = must("cert", "request", "--app", "app_1", "--domain", "api.example.com")
	if !strings.Contains(out, "pending (managed)") {
		t.Fatalf("request:\n%s", out)
	}
	if _, err := f.run(t, "cert", "request", "--app", "app_1"); err == nil || !strings.Contains(err.Error(), "domains") {
		t.Fatalf("request without domains: %v", err)
	}
	if !regexp.MustCompile(`challenge:\s+http-01`).MatchString(out) {
		t.Fatalf("request shows no challenge:\n%s", out)
	}
	// --challenge reaches the service: DNS-01 needs a served zone (this
	// service knows none), wildcards refuse HTTP-01, bad values stay local.
	if _, err := f.run(t, "cert", "request", "--app", "app_1", "--domain", "api.example.com", "--challenge", "dns-01"); err == nil ||
		!strings.Contains(err.Error(), "not inside a DNS zone") {
		t.Fatalf("dns-01 outside any zone: %v", err)
	}
	if _, err := f.run(t, "cert", "request", "--app", "app_1", "--domain", "*.example.com", "--challenge", "HTTP-01"); err == nil ||
		!strings.Contains(err.Error(), "domains[0]") {
		t.Fatalf("wildcard with http-01: %v", err)
	}
	if _, err := f.run(t, "cert", "request", "--app", "app_1", "--domain", "api.example.com", "--challenge", "tls-alpn-01"); err == nil ||
		!strings.Contains(err.Error(), "--challenge") {
		t.Fatalf("unknown challenge: %v", err)
	}
	f.json = true
	if out := must("cert", "show", "www"); !strings.Contains(out, `"fingerprintSha256"`) {
		t.Fatalf("show -o json:\n%s", out)
	}
	f.json = false
	must("cert", "delete", "www")
	if _, err := f.run(t, "cert", "show", "www"); err == nil {
		t.Fatal("show after delete succeeded")
	}
}
