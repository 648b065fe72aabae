package certcmd

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx/clitest"
	"github.com/strata-edge/strata/pkg/certtest"
	"github.com/strata-edge/strata/pkg/keywrap"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	certsvc "github.com/strata-edge/strata/services/cert"
)

type factory struct {
	clitest.Env
	c certv1connect.CertServiceClient
}

func (f *factory) CertClient() (certv1connect.CertServiceClient, error) { return f.c, nil }

// AppNames: no config service here, tables show app ids (the names are
// tested against strata dev in internal/cli).
func (f *factory) AppNames(context.Context) map[string]string { return nil }

// newFactory serves a cert service (ACME when acme is not nil) on an
// embedded JetStream.
func newFactory(t *testing.T, acme *certsvc.ACMEOptions) *factory {
	return newFactoryWith(t, acme, nil)
}

// newFactoryWith is newFactory with the app domains attach checks.
func newFactoryWith(t *testing.T, acme *certsvc.ACMEOptions, domains certsvc.AppDomains) *factory {
	t.Helper()
	store, js := clitest.Store(t)
	line, _ := keywrap.NewKeyLine()
	kek, _ := keywrap.Parse(line)
	opts := certsvc.Options{Store: store, KEK: kek, Domains: domains}
	if acme != nil {
		opts.JetStream, opts.ACME = js, acme
	}
	svc, err := certsvc.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := clitest.Serve(t, svc)
	return &factory{c: certv1connect.NewCertServiceClient(srv.Client(), srv.URL)}
}

func (f *factory) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return f.Run(Commands(f), args...)
}

func TestCertCommands(t *testing.T) {
	f := newFactory(t, nil)
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
	id := strings.TrimSpace(must("cert", "upload", "--cert", certFile, "--key", keyFile, "--name", "www", "--app", "app_1"))
	if !regexp.MustCompile(`^crt_[0-9a-z]+$`).MatchString(id) {
		t.Fatalf("upload printed %q, want the certificate id alone", id)
	}
	out := must("cert", "show", id)
	for _, want := range []string{"www.example.com, *.example.org", "active", "app_1", "ECDSA"} {
		if !strings.Contains(out, want) {
			t.Fatalf("show after upload lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "PRIVATE KEY") {
		t.Fatal("output shows the key")
	}
	if _, err := f.run(t, "cert", "upload", "--cert", certFile, "--key", otherKey); err == nil || !strings.Contains(err.Error(), "key_pem") {
		t.Fatalf("mismatched key: %v", err)
	}
	if err := os.Chmod(otherKey, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.run(t, "cert", "upload", "--cert", certFile, "--key", otherKey); err == nil || !strings.Contains(err.Error(), "--key: "+otherKey+": mode 0644") {
		t.Fatalf("key file others may read: %v", err)
	}
	if _, err := f.run(t, "cert", "upload", "--cert", certFile); err == nil || !strings.Contains(err.Error(), "--key") {
		t.Fatalf("missing --key: %v", err)
	}
	if out := must("cert", "attach", "www", "--app", "app_2"); out != "attached certificate www ("+id+") to app app_2\n" {
		t.Fatalf("attach printed %q", out)
	}
	if out := must("cert", "list", "--app", "app_2"); !regexp.MustCompile(`(?m)^ID .* LAST-ERROR$\n\S+ +www .* -$`).MatchString(out) {
		t.Fatalf("list --app (an uploaded certificate has no last error):\n%s", out)
	}
	if out := must("cert", "detach", "www", "--app", "app_2"); out != "detached certificate www ("+id+") from app app_2\n" {
		t.Fatalf("detach printed %q", out)
	}
	if out := must("cert", "list", "--app", "app_2"); strings.Contains(out, "www") {
		t.Fatalf("still attached:\n%s", out)
	}
	out = must("cert", "show", strings.TrimSpace(must("cert", "request", "--app", "app_1", "--domain", "api.example.com")))
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
	f.AsJSON = true
	if out := must("cert", "show", "www"); !strings.Contains(out, `"fingerprint_sha256"`) {
		t.Fatalf("show -o json:\n%s", out)
	}
	f.AsJSON = false
	must("cert", "delete", "www")
	if _, err := f.run(t, "cert", "show", "www"); err == nil {
		t.Fatal("show after delete succeeded")
	}
}

// A managed certificate whose issuance failed shows it in `cert list`: the
// attempt and the start of the CA's error, shortened; `cert show` has all.
func TestCertListShowsLastError(t *testing.T) {
	const caError = "directory down for maintenance, come back after the weekend please; this sentence is long"
	ca := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, caError, http.StatusServiceUnavailable)
	}))
	t.Cleanup(ca.Close)
	f := newFactory(t, &certsvc.ACMEOptions{Directory: ca.URL + "/directory", Interval: 50 * time.Millisecond, RetryBase: time.Hour})
	if _, err := f.run(t, "cert", "request", "--app", "app_1", "--domain", "api.example.com", "--name", "api"); err != nil {
		t.Fatalf("request: %v", err)
	}
	var row string
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		out, err := f.run(t, "cert", "list")
		if err != nil {
			return err
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, " api ") && strings.Contains(l, "attempt 1: ") {
				row = l
				return nil
			}
		}
		return fmt.Errorf("no failed attempt listed yet:\n%s", out)
	})
	t.Logf("list row: %s", row)
	cell := row[strings.Index(row, "attempt 1: "):]
	if !strings.Contains(cell, "503") && !strings.Contains(cell, "directory") {
		t.Fatalf("LAST-ERROR %q does not say what failed", cell)
	}
	if len([]rune(cell)) > len("attempt 1: ")+lastErrorWidth || strings.Contains(cell, "this sentence is long") {
		t.Fatalf("LAST-ERROR %q is not shortened", cell)
	}
	out, err := f.run(t, "cert", "show", "api")
	if err != nil || !regexp.MustCompile(`last error:\s+.*\(attempt 1\)`).MatchString(out) {
		t.Fatalf("show: %v\n%s", err, out)
	}
}

// TestCertJSONGolden: the cert commands' -o json output, pinned in
// testdata/json (refresh with -update).
func TestCertJSONGolden(t *testing.T) {
	f := newFactory(t, nil)
	dir := t.TempDir()
	set := certtest.NewSet(t)
	leaf, chain := set.Leaf(t, certtest.Options{DNSNames: []string{"www.example.com"}})
	certFile, keyFile := filepath.Join(dir, "chain.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, []byte(chain), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(leaf.KeyPEM(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	f.GoldenSteps(t, func() []*cobra.Command { return Commands(f) }, []clitest.Step{
		{Name: "cert-upload", Args: []string{"cert", "upload", "--cert", certFile, "--key", keyFile, "--name", "www", "--app", "app_1"}},
		{Name: "cert-attach", Args: []string{"cert", "attach", "www", "--app", "app_2"}},
		{Name: "cert-list", Args: []string{"cert", "list"}},
		{Name: "cert-show", Args: []string{"cert", "show", "www"}},
		{Name: "cert-detach", Args: []string{"cert", "detach", "www", "--app", "app_2"}},
		{Name: "cert-request", Args: []string{"cert", "request", "--app", "app_1", "--domain", "api.example.com", "--name", "api"}},
		{Name: "cert-delete", Args: []string{"cert", "delete", "www"}},
	})
	hmacFile := filepath.Join(dir, "hmac")
	if err := os.WriteFile(hmacFile, []byte("c2VjcmV0LWhtYWMta2V5LWZvci10aGlzLWRpcmVjdG9yeQ\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const acme = "https://acme.example/v2/DV90"
	f.GoldenSteps(t, func() []*cobra.Command { return Commands(f) }, []clitest.Step{
		{Name: "cert-acme-account-set", Args: []string{"cert", "acme-account", "set", "--directory", acme, "--eab-kid", "kid-1", "--eab-hmac-file", hmacFile}},
		{Name: "cert-acme-account-list", Args: []string{"cert", "acme-account", "list"}},
		{Name: "cert-acme-account-clear", Args: []string{"cert", "acme-account", "set", "--directory", acme, "--clear"}},
	})
}

type appDomains map[string][]string

func (d appDomains) AppDomains(_ context.Context, id string) ([]string, error) { return d[id], nil }

// TestAttachNeedsACoveredDomain: attach (and upload --app) of a certificate
// naming none of the app's domains is refused, naming both, unless --force;
// one covered domain (a wildcard covers one label) is enough.
func TestAttachNeedsACoveredDomain(t *testing.T) {
	f := newFactoryWith(t, nil, appDomains{"app_shop": {"shop.example.com", "www.shop.example.com"}, "app_blog": {"blog.example.org"}})
	dir := t.TempDir()
	set := certtest.NewSet(t)
	leaf, chain := set.Leaf(t, certtest.Options{DNSNames: []string{"*.example.org"}})
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := os.WriteFile(certFile, []byte(chain), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(leaf.KeyPEM(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := f.run(t, "cert", "upload", "--cert", certFile, "--key", keyFile, "--name", "org", "--app", "app_shop")
	if err == nil || !strings.Contains(err.Error(), `none of the domains of app "app_shop" (shop.example.com, www.shop.example.com)`) {
		t.Fatalf("upload --app of an uncovering certificate: %v", err)
	}
	out, err := f.run(t, "cert", "upload", "--cert", certFile, "--key", keyFile, "--name", "org", "--app", "app_blog")
	if err != nil {
		t.Fatalf("upload --app of a covering certificate: %v", err)
	}
	id := strings.TrimSpace(out)
	_, err = f.run(t, "cert", "attach", id, "--app", "app_shop")
	if err == nil || !strings.Contains(err.Error(), "the certificate names *.example.org, none of the domains") || !strings.Contains(err.Error(), "force") {
		t.Fatalf("attach of an uncovering certificate: %v", err)
	}
	if _, err := f.run(t, "cert", "attach", id, "--app", "app_shop", "--force"); err != nil {
		t.Fatalf("attach --force: %v", err)
	}
	// A managed certificate is attached too: the same check.
	_, err = f.run(t, "cert", "request", "--app", "app_shop", "--domain", "api.example.org")
	if err == nil || !strings.Contains(err.Error(), `the certificate names api.example.org, none of the domains of app "app_shop"`) {
		t.Fatalf("request for domains outside the app: %v", err)
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		names  []string
		domain string
		want   bool
	}{
		{[]string{"a.example.com"}, "a.example.com", true},
		{[]string{"A.Example.com"}, "a.example.com", true},
		{[]string{"*.example.com"}, "a.example.com", true},
		{[]string{"*.example.com"}, "example.com", false},
		{[]string{"*.example.com"}, "a.b.example.com", false},
		{[]string{"*.example.com"}, "*.example.com", true},
		{[]string{"a.example.com"}, "*.example.com", false},
		{[]string{"b.example.com", "*.example.org"}, "x.example.org", true},
	}
	for _, tt := range tests {
		if got := certsvc.Covers(tt.names, tt.domain); got != tt.want {
			t.Errorf("Covers(%v, %q) = %v, want %v", tt.names, tt.domain, got, tt.want)
		}
	}
}
