package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// TestDevHTTPSRedirect: through a real node (strata dev routing its
// listeners as ports 80 and 443), an app with --https-redirect and HSTS
// answers plain HTTP with 301 to the HTTPS URL and serves HTTPS from its
// upstream with Strict-Transport-Security: no loop.
func TestDevHTTPSRedirect(t *testing.T) {
	root := t.TempDir()
	p := startProc(t, "dev", "--data", filepath.Join(root, "dev"),
		"--api-addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:-1", "--leaf-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0",
		"--http-port", "80", "--https-port", "443")
	api, plain, secure := p.Value(t, "api"), p.Value(t, "http"), p.Value(t, "https")
	c := newCLI(t, "STRATA_API="+api, "STRATA_TOKEN="+readFile(t, filepath.Join(root, "dev", "admin.token")))

	web := upstream(t, "web")
	const host = "shop.example.com"
	app := c.OK("app", "create", "--name", "shop", "--domain", host, "--http-port", "80", "--https-port", "443",
		"--https-redirect", "--hsts-max-age", "600")
	c.OK("upstream", "create", "--app", app, "--name", "web", "--server", strings.TrimPrefix(web.URL, "http://"))
	c.OK("release", "create", "--app", app)

	client := &http.Client{
		Timeout:       5 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: host}}, //nolint:gosec // self-signed
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	fetch := func(base string) (*http.Response, string, error) {
		req, _ := http.NewRequest(http.MethodGet, base+"/cart?id=7", nil)
		req.Host = host
		res, err := client.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res, string(b), err
	}
	natstest.CheckFor(t, 45*time.Second, 50*time.Millisecond, func() error {
		res, _, err := fetch(plain)
		if err != nil {
			return err
		}
		if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "https://"+host+"/cart?id=7" {
			return fmt.Errorf("http: %d Location %q, want 301 to https://%s/cart?id=7", res.StatusCode, res.Header.Get("Location"), host)
		}
		return nil
	})
	res, body, err := fetch(secure)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || body != "web" {
		t.Fatalf("https: %d %q, want 200 from the upstream", res.StatusCode, body)
	}
	if h := res.Header.Get("Strict-Transport-Security"); h != "max-age=600" {
		t.Errorf("https Strict-Transport-Security %q, want max-age=600", h)
	}
	p.Interrupt(t, 20*time.Second)
}
