// Package certtest makes X.509 certificates and keys for tests: a root CA,
// intermediates and leaves with chosen names, key types and validity.
package certtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// KeyType selects the key of a generated certificate.
type KeyType int

const (
	ECDSA KeyType = iota // P-256
	RSA                  // 2048 bits
)

// Cert is a generated certificate with its key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	PEM  string // the certificate alone
}

// KeyPEM is the key as PKCS#8 PEM.
func (c *Cert) KeyPEM(t testing.TB) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// KeyDER is the key as PKCS#8 DER.
func (c *Cert) KeyDER(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// Options describe a certificate; zero values give a one-year ECDSA leaf
// valid from an hour ago.
type Options struct {
	CN        string
	DNSNames  []string
	IsCA      bool
	KeyType   KeyType
	NotBefore time.Time
	NotAfter  time.Time
	Key       crypto.Signer // reuse a key instead of generating one
	// OCSPServer, optional, is the leaf's OCSP responder URL (AIA).
	OCSPServer []string
}

func newKey(t testing.TB, kt KeyType) crypto.Signer {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	if kt == RSA {
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// New makes a certificate signed by parent, or self-signed when parent is nil.
func New(t testing.TB, parent *Cert, o Options) *Cert {
	t.Helper()
	key := o.Key
	if key == nil {
		key = newKey(t, o.KeyType)
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = o.NotBefore.Add(365 * 24 * time.Hour)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: o.CN},
		DNSNames:     o.DNSNames,
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		OCSPServer:   o.OCSPServer,
	}
	if o.IsCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	signer, issuer := key, tmpl
	if parent != nil {
		signer, issuer = parent.Key, parent.Cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Cert{Cert: c, Key: key, PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// Chain is the concatenated PEM of certs, in order.
func Chain(certs ...*Cert) string {
	var b strings.Builder
	for _, c := range certs {
		b.WriteString(c.PEM)
	}
	return b.String()
}

// Set is a root CA, an intermediate, and leaves they sign.
type Set struct {
	Root, Intermediate *Cert
}

// NewSet makes a root and an intermediate CA.
func NewSet(t testing.TB) *Set {
	t.Helper()
	root := New(t, nil, Options{CN: "Test Root", IsCA: true})
	inter := New(t, root, Options{CN: "Test Intermediate", IsCA: true})
	return &Set{Root: root, Intermediate: inter}
}

// Leaf makes a leaf for names signed by the intermediate and returns it with
// its full chain PEM (leaf, intermediate, root).
func (s *Set) Leaf(t testing.TB, o Options) (*Cert, string) {
	t.Helper()
	if o.CN == "" && len(o.DNSNames) > 0 {
		o.CN = o.DNSNames[0]
	}
	l := New(t, s.Intermediate, o)
	return l, Chain(l, s.Intermediate, s.Root)
}
