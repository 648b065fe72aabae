package provider

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
)

// selfSigned is a fresh self-signed chain and key for domain, PEM.
func selfSigned(t *testing.T, domain string) (chain, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: domain},
		DNSNames: []string{domain}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
}

func getCert(name string) (*certv1.Certificate, error) {
	res, err := api.cert.GetCertificate(bg, &certv1.GetCertificateRequest{Certificate: name})
	return res.GetCertificate(), err
}

func certApp(name string) string {
	return fmt.Sprintf(`
resource "strata_app" "site" {
  name    = %q
  domains = ["%s.example"]
}
`, name, name)
}

func TestCertificateUpload(t *testing.T) {
	acc(t)
	chain, key := selfSigned(t, "tf-cert.example")
	cfg := func(apps string) string {
		return certApp("tf-cert") + fmt.Sprintf(`
resource "strata_certificate" "up" {
  name      = "tf-cert-up"
  chain_pem = <<EOT
%sEOT
  key_pem   = <<EOT
%sEOT
  app_ids   = [%s]
}`, chain, key, apps)
	}
	is := func(attached bool) func(*terraform.State) error {
		return func(s *terraform.State) error {
			c, err := getCert("tf-cert-up")
			if err != nil {
				return err
			}
			if err := want("domains", c.GetDomains(), []string{"tf-cert.example"}); err != nil {
				return err
			}
			if err := want("fingerprint", stAttr(s, "strata_certificate.up", "fingerprint_sha256"), c.GetFingerprintSha256()); err != nil {
				return err
			}
			apps := []string{}
			if attached {
				apps = []string{stAttr(s, "strata_app.site", "id")}
			}
			if c.GetManaged() {
				return fmt.Errorf("uploaded certificate is managed")
			}
			return want("app_ids", c.GetAppIds(), apps)
		}
	}
	detach := func() error {
		c, err := getCert("tf-cert-up")
		if err != nil {
			return err
		}
		_, err = api.cert.DetachCertificate(bg, &certv1.DetachCertificateRequest{Certificate: c.GetId(), AppId: c.GetAppIds()[0]})
		return err
	}
	test(t, func(*terraform.State) error {
		if c, err := getCert("tf-cert-up"); err == nil {
			return fmt.Errorf("certificate %s still there after destroy", c.GetId())
		}
		return nil
	},
		step(cfg(""), is(false)),
		step(cfg("strata_app.site.id"), is(true)),
		importStep("strata_certificate.up", stateID("strata_certificate.up"), "key_pem"),
		driftStep(cfg("strata_app.site.id"), "strata_certificate.up", detach, is(true)),
		conflictStep(cfg(""), detach),
	)
}

// The ACME path: the request is validated by the API (domains the app does
// not serve are refused) and created pending; issuance goes to a directory
// on a closed local port, so nothing leaves the machine.
func TestCertificateManaged(t *testing.T) {
	acc(t)
	cfg := func(domain string) string {
		return certApp("tf-acme") + fmt.Sprintf(`
resource "strata_certificate" "acme" {
  name           = "tf-cert-acme"
  domains        = [%q]
  app_ids        = [strata_app.site.id]
  acme_directory = "http://127.0.0.1:1/directory"
}`, domain)
	}
	test(t, func(*terraform.State) error {
		if _, err := getCert("tf-cert-acme"); err == nil {
			return fmt.Errorf("managed certificate still there after destroy")
		}
		return nil
	},
		resource.TestStep{Config: cfg("other.example"), ExpectError: regexp.MustCompile(`invalid_argument`)},
		step(cfg("tf-acme.example"), func(s *terraform.State) error {
			c, err := getCert("tf-cert-acme")
			if err != nil {
				return err
			}
			if !c.GetManaged() || c.GetAcmeDirectory() != "http://127.0.0.1:1/directory" {
				return fmt.Errorf("certificate managed %v, directory %q", c.GetManaged(), c.GetAcmeDirectory())
			}
			if err := want("challenge", stAttr(s, "strata_certificate.acme", "challenge"), "http_01"); err != nil {
				return err
			}
			return want("app_ids", c.GetAppIds(), []string{stAttr(s, "strata_app.site", "id")})
		}),
		importStep("strata_certificate.acme", stateID("strata_certificate.acme")),
	)
}
