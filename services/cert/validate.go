package cert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/domainname"
)

// Parsed is a validated certificate and key pair. KeyDER (PKCS#8) is the
// only clear copy of the private key; callers seal it and clear it.
type Parsed struct {
	Leaf     *x509.Certificate
	ChainPEM string // leaf and intermediates, normalized PEM (roots left out unless the leaf is one)
	KeyDER   []byte
	KeyType  certv1.KeyType
	Domains  []string
}

// Fingerprint is the hex SHA-256 of the leaf's DER.
func (p *Parsed) Fingerprint() string {
	s := sha256.Sum256(p.Leaf.Raw)
	return hex.EncodeToString(s[:])
}

// ParseOptions tune ParseUpload.
type ParseOptions struct {
	Now time.Time
	// SystemRoots accepts chains that verify to the system trust store, as
	// well as chains that end at a self-signed certificate they contain.
	SystemRoots bool
}

const maxPEM = 1 << 20

// ParseUpload validates an uploaded chain and private key: PEM blocks of the
// right kind, a supported key (RSA >= 2048 bits, ECDSA P-256/384/521,
// Ed25519) matching the leaf, a chain that verifies for server auth, a leaf
// valid at opts.Now, and at least one DNS SAN. Field names in violations are
// chain_pem and key_pem.
func ParseUpload(chainPEM, keyPEM string, opts ParseOptions) (*Parsed, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	certs, err := parseChain(chainPEM)
	if err != nil {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "chain_pem", Reason: err.Error()})
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "key_pem", Reason: err.Error()})
	}
	leaf := certs[0]
	p := &Parsed{Leaf: leaf}
	if p.KeyType, err = checkKey(key); err != nil {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "key_pem", Reason: err.Error()})
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "key_pem", Reason: "does not match the leaf certificate's public key"})
	}
	var vs []apierr.FieldViolation
	if opts.Now.Before(leaf.NotBefore) {
		vs = append(vs, apierr.FieldViolation{Field: "chain_pem", Reason: fmt.Sprintf("leaf is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))})
	}
	if !opts.Now.Before(leaf.NotAfter) {
		vs = append(vs, apierr.FieldViolation{Field: "chain_pem", Reason: fmt.Sprintf("leaf expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339))})
	}
	if p.Domains, err = domainsOf(leaf); err != nil {
		vs = append(vs, apierr.FieldViolation{Field: "chain_pem", Reason: err.Error()})
	}
	if len(vs) > 0 {
		return nil, apierr.Invalid(vs...)
	}
	kept, err := verifyChain(certs, opts)
	if err != nil {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "chain_pem", Reason: err.Error()})
	}
	var buf bytes.Buffer
	for _, c := range kept {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	p.ChainPEM = buf.String()
	if p.KeyDER, err = x509.MarshalPKCS8PrivateKey(key); err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return p, nil
}

func parseChain(s string) ([]*x509.Certificate, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("is required")
	}
	if len(s) > maxPEM {
		return nil, fmt.Errorf("is larger than %d bytes", maxPEM)
	}
	var certs []*x509.Certificate
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("block %d is %q, want CERTIFICATE (the key goes in key_pem)", len(certs)+1, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %v", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("no PEM CERTIFICATE block found")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, fmt.Errorf("unexpected text after certificate %d", len(certs))
	}
	return certs, nil
}

func parseKey(s string) (crypto.Signer, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("is required")
	}
	if len(s) > maxPEM {
		return nil, fmt.Errorf("is larger than %d bytes", maxPEM)
	}
	b, rest := pem.Decode([]byte(s))
	if b == nil {
		return nil, fmt.Errorf("no PEM block found")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, fmt.Errorf("holds more than one PEM block; give exactly one private key")
	}
	if _, enc := b.Headers["Proc-Type"]; enc {
		return nil, fmt.Errorf("is encrypted; upload the decrypted key")
	}
	var (
		k   any
		err error
	)
	switch b.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("is encrypted; upload the decrypted key")
	default:
		return nil, fmt.Errorf("block is %q, want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY", b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Type, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key type %T is not supported", k)
	}
	return signer, nil
}

func checkKey(k crypto.Signer) (certv1.KeyType, error) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return 0, fmt.Errorf("RSA key has %d bits, want at least 2048", k.N.BitLen())
		}
		return certv1.KeyType_KEY_TYPE_RSA, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return certv1.KeyType_KEY_TYPE_ECDSA, nil
		}
		return 0, fmt.Errorf("ECDSA curve %s is not supported (P-256, P-384, P-521)", k.Curve.Params().Name)
	case ed25519.PrivateKey:
		return certv1.KeyType_KEY_TYPE_ED25519, nil
	}
	return 0, fmt.Errorf("key type %T is not supported", k)
}

// domainsOf returns the leaf's DNS SANs, normalized, wildcards kept.
func domainsOf(leaf *x509.Certificate) ([]string, error) {
	if len(leaf.DNSNames) == 0 {
		return nil, fmt.Errorf("leaf has no DNS subject alternative name")
	}
	out := make([]string, 0, len(leaf.DNSNames))
	for _, n := range leaf.DNSNames {
		d, err := domainname.Normalize(n)
		if err != nil {
			return nil, fmt.Errorf("leaf SAN %q: %v", n, err)
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out, nil
}

// verifyChain checks certs[0] chains up for server auth and returns the
// certificates to serve: the leaf and its intermediates.
func verifyChain(certs []*x509.Certificate, opts ParseOptions) ([]*x509.Certificate, error) {
	roots := x509.NewCertPool()
	if opts.SystemRoots {
		sys, err := x509.SystemCertPool()
		if err == nil {
			roots = sys
		}
	}
	inter := x509.NewCertPool()
	kept := []*x509.Certificate{certs[0]}
	selfSigned := 0
	for i, c := range certs {
		if isSelfSigned(c) {
			roots.AddCert(c)
			selfSigned++
			continue
		}
		if i > 0 {
			inter.AddCert(c)
			kept = append(kept, c)
		}
	}
	if selfSigned == 0 && !opts.SystemRoots {
		return nil, fmt.Errorf("does not end at a self-signed root: include the root, or set system_roots to trust the system store")
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: opts.Now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("does not verify: %v", err)
	}
	return kept, nil
}

func isSelfSigned(c *x509.Certificate) bool {
	// CheckSignature, not CheckSignatureFrom: a self-signed leaf is no CA.
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}
