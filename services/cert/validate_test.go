package cert

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/pkg/certtest"
)

func TestParseUpload(t *testing.T) {
	set := certtest.NewSet(t)
	ec, ecChain := set.Leaf(t, certtest.Options{DNSNames: []string{"www.example.com"}})
	rsaLeaf, rsaChain := set.Leaf(t, certtest.Options{DNSNames: []string{"a.example.com"}, KeyType: certtest.RSA})
	multi, multiChain := set.Leaf(t, certtest.Options{DNSNames: []string{"*.Example.org", "example.org", "shop.example.net"}})
	self := certtest.New(t, nil, certtest.Options{CN: "self", DNSNames: []string{"self.test"}})
	expired, expChain := set.Leaf(t, certtest.Options{DNSNames: []string{"old.example.com"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	future, futChain := set.Leaf(t, certtest.Options{DNSNames: []string{"new.example.com"}, NotBefore: time.Now().Add(time.Hour)})
	noSAN, noSANChain := set.Leaf(t, certtest.Options{CN: "nosan"})
	other := certtest.NewSet(t)
	foreign, _ := other.Leaf(t, certtest.Options{DNSNames: []string{"x.example.com"}})
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	weakLeaf := certtest.New(t, nil, certtest.Options{DNSNames: []string{"weak.test"}, Key: weak})
	rsaPKCS1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaLeaf.Key.(*rsa.PrivateKey))}))

	tests := []struct {
		name          string
		chain, key    string
		wantErr       string // substring; empty = valid
		wantDomains   []string
		wantKey       certv1.KeyType
		wantChainCert int
	}{
		{name: "ecdsa full chain", chain: ecChain, key: ec.KeyPEM(t), wantDomains: []string{"www.example.com"}, wantKey: certv1.KeyType_KEY_TYPE_ECDSA, wantChainCert: 2},
		{name: "rsa pkcs8", chain: rsaChain, key: rsaLeaf.KeyPEM(t), wantDomains: []string{"a.example.com"}, wantKey: certv1.KeyType_KEY_TYPE_RSA, wantChainCert: 2},
		{name: "rsa pkcs1", chain: rsaChain, key: rsaPKCS1, wantDomains: []string{"a.example.com"}, wantKey: certv1.KeyType_KEY_TYPE_RSA, wantChainCert: 2},
		{name: "wildcard multi-domain", chain: multiChain, key: multi.KeyPEM(t), wantDomains: []string{"*.example.org", "example.org", "shop.example.net"}, wantKey: certv1.KeyType_KEY_TYPE_ECDSA, wantChainCert: 2},
		{name: "self-signed leaf", chain: self.PEM, key: self.KeyPEM(t), wantDomains: []string{"self.test"}, wantKey: certv1.KeyType_KEY_TYPE_ECDSA, wantChainCert: 1},
		{name: "key of another cert", chain: ecChain, key: rsaLeaf.KeyPEM(t), wantErr: "key_pem: does not match"},
		{name: "expired", chain: expChain, key: expired.KeyPEM(t), wantErr: "chain_pem: leaf expired"},
		{name: "not yet valid", chain: futChain, key: future.KeyPEM(t), wantErr: "chain_pem: leaf is not valid before"},
		{name: "no SAN", chain: noSANChain, key: noSAN.KeyPEM(t), wantErr: "no DNS subject alternative name"},
		{name: "no root", chain: certtest.Chain(ec, set.Intermediate), key: ec.KeyPEM(t), wantErr: "does not end at a self-signed root"},
		{name: "wrong issuer", chain: certtest.Chain(foreign, set.Intermediate, set.Root), key: foreign.KeyPEM(t), wantErr: "chain_pem: does not verify"},
		{name: "key in chain field", chain: ecChain + ec.KeyPEM(t), key: ec.KeyPEM(t), wantErr: "want CERTIFICATE"},
		{name: "empty chain", chain: "", key: ec.KeyPEM(t), wantErr: "chain_pem: is required"},
		{name: "empty key", chain: ecChain, key: "", wantErr: "key_pem: is required"},
		{name: "garbage chain", chain: "hello", key: ec.KeyPEM(t), wantErr: "no PEM CERTIFICATE block"},
		{name: "two keys", chain: ecChain, key: ec.KeyPEM(t) + ec.KeyPEM(t), wantErr: "more than one PEM block"},
		{name: "encrypted key", chain: ecChain, key: "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", wantErr: "is encrypted"},
		{name: "weak rsa", chain: weakLeaf.PEM, key: weakLeaf.KeyPEM(t), wantErr: "1024 bits"},
		{name: "trailing text", chain: ecChain + "junk", key: ec.KeyPEM(t), wantErr: "unexpected text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseUpload(tt.chain, tt.key, ParseOptions{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Domains, tt.wantDomains) || p.KeyType != tt.wantKey {
				t.Fatalf("domains %v key %v", p.Domains, p.KeyType)
			}
			if n := strings.Count(p.ChainPEM, "BEGIN CERTIFICATE"); n != tt.wantChainCert {
				t.Fatalf("chain holds %d certificates, want %d", n, tt.wantChainCert)
			}
			if _, err := x509.ParsePKCS8PrivateKey(p.KeyDER); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func FuzzParseUpload(f *testing.F) {
	set := certtest.NewSet(f)
	leaf, chain := set.Leaf(f, certtest.Options{DNSNames: []string{"fuzz.example.com"}})
	f.Add(chain, leaf.KeyPEM(f))
	f.Add("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "-----BEGIN EC PRIVATE KEY-----\nAA==\n-----END EC PRIVATE KEY-----\n")
	now := time.Now()
	f.Fuzz(func(t *testing.T, chain, key string) {
		p, err := ParseUpload(chain, key, ParseOptions{Now: now})
		if err != nil {
			return
		}
		if len(p.Domains) == 0 || len(p.KeyDER) == 0 || p.ChainPEM == "" {
			t.Fatalf("accepted upload without domains, key or chain: %+v", p)
		}
	})
}
