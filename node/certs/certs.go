// Package certs is the edge node's certificate table: an SNI index built once
// per snapshot from the snapshot's certificates, whose private keys arrive
// wrapped for the partition's node key-encryption key and are unwrapped in
// memory only (never written anywhere in clear).
//
// Lookup is exact name first, then the most specific wildcard
// (pkg/domainname.Index). When two certificates cover the same name, the one
// that expires last wins.
package certs

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/domainname"
	"github.com/strata-edge/strata/pkg/keywrap"
)

// PreloadLimit is how many new certificates Update opens right away; beyond
// it they are opened at their first handshake, so a node with 100,000
// certificates neither spends seconds per snapshot nor holds every parsed
// key in memory.
const PreloadLimit = 1000

// Table serves certificates by SNI. Update swaps the index atomically;
// GetCertificate may run concurrently with it.
type Table struct {
	kek  *keywrap.Keyring
	log  *slog.Logger
	cur  atomic.Pointer[Index]
	ocsp *stapler // nil: no stapling
}

// New returns an empty table. kek is the node's key ring (the partition's
// node KEK); without it no key can be opened and every certificate is
// skipped.
func New(kek *keywrap.Keyring, log *slog.Logger) *Table {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	t := &Table{kek: kek, log: log}
	t.cur.Store(&Index{})
	t.ocsp = newStapler(OCSPOptions{}, log, t.alive)
	return t
}

// SetOCSP replaces the OCSP stapling options (ocsp.go); call it before the
// first Update.
func (t *Table) SetOCSP(o OCSPOptions) { t.ocsp = newStapler(o, t.log, t.alive) }

// alive reports whether e is in the current index (a dropped certificate
// stops refreshing its staple).
func (t *Table) alive(e *entry) bool { return t.cur.Load().byObj[e.sc] == e }

// Update builds the index of snap's certificates, reusing the entries of
// the current index for objects the snapshot shares (snapshots share
// unchanged objects), opens up to PreloadLimit new ones, and swaps it in.
// Certificates that fail to open are left out and named in the returned
// error; the others are served.
func (t *Table) Update(snap *syncv1.Snapshot) error {
	prev := t.cur.Load()
	idx, err := Build(t.kek, snap.GetCertificates(), prev, PreloadLimit)
	idx.ocsp = t.ocsp
	t.cur.Store(idx)
	for sc, e := range idx.byObj { // fetch staples of new opened ones now
		if c := e.loaded.Load(); c != nil && prev.reuse(sc) != e {
			t.ocsp.kick(e, c)
		}
	}
	if err != nil {
		t.log.Error("certs: some certificates are not served", "version", snap.GetVersion(), "err", err)
	}
	return err
}

// Len is the number of certificates indexed.
func (t *Table) Len() int { return t.cur.Load().Len() }

// GetCertificate is tls.Config.GetCertificate: the certificate for the
// ClientHello's server name, or nil (the listener's default) when none
// matches or it cannot be opened.
func (t *Table) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	c, err := t.cur.Load().Lookup(hello.ServerName)
	if err != nil {
		t.log.Error("certs: certificate cannot be opened", "sni", hello.ServerName, "err", err)
		return nil, nil
	}
	return c, nil
}

// entry is one certificate, opened at most once.
type entry struct {
	sc   *certv1.SyncedCertificate
	once sync.Once
	cert *tls.Certificate
	err  error
	// loaded is cert once opened, readable without the once (Update).
	loaded atomic.Pointer[tls.Certificate]
	ocsp   ocspState
}

func (e *entry) open(kek *keywrap.Keyring) (*tls.Certificate, error) {
	e.once.Do(func() {
		e.cert, e.err = Load(kek, e.sc)
		if e.err == nil {
			e.loaded.Store(e.cert)
		}
	})
	return e.cert, e.err
}

// Index is an immutable SNI index.
type Index struct {
	kek   *keywrap.Keyring
	names domainname.Index[*entry]
	byObj map[*certv1.SyncedCertificate]*entry
	ocsp  *stapler
}

// Len is the number of certificates in the index.
func (x *Index) Len() int { return len(x.byObj) }

// Lookup returns the certificate for a server name (any case, trailing dot
// allowed), opening it on first use; nil when no certificate covers it.
func (x *Index) Lookup(serverName string) (*tls.Certificate, error) {
	name := strings.TrimSuffix(serverName, ".")
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			name = strings.ToLower(name)
			break
		}
	}
	e, ok := x.names.Lookup(name)
	if !ok {
		return nil, nil
	}
	c, err := e.open(x.kek)
	if err != nil {
		return nil, err
	}
	return x.ocsp.serve(e, c), nil
}

// Build makes an index of certs. prev, optional, is the previous index:
// entries for the same objects are reused, opened or not. Up to preload new
// entries are opened now; failures leave the certificate out and are
// returned.
func Build(kek *keywrap.Keyring, certs []*certv1.SyncedCertificate, prev *Index, preload int) (*Index, error) {
	idx := &Index{kek: kek, byObj: make(map[*certv1.SyncedCertificate]*entry, len(certs))}
	best := make(map[string]*entry, len(certs))
	var errs []error
	for _, sc := range certs {
		e := prev.reuse(sc)
		if e == nil {
			e = &entry{sc: sc}
			if preload > 0 {
				preload--
				if _, err := e.open(kek); err != nil {
					errs = append(errs, err)
					continue
				}
			}
		}
		if e.err != nil {
			continue
		}
		idx.byObj[sc] = e
		for _, d := range sc.GetDomains() {
			if cur, ok := best[d]; !ok || sc.GetNotAfter().AsTime().After(cur.sc.GetNotAfter().AsTime()) {
				best[d] = e
			}
		}
	}
	for name, e := range best {
		if err := idx.names.Add(name, e); err != nil {
			errs = append(errs, fmt.Errorf("certs: domain %q: %w", name, err))
		}
	}
	return idx, errors.Join(errs...)
}

func (x *Index) reuse(sc *certv1.SyncedCertificate) *entry {
	if x == nil {
		return nil
	}
	return x.byObj[sc]
}

// Load opens a synced certificate: parses its chain and unwraps its key in
// memory.
func Load(kek *keywrap.Keyring, sc *certv1.SyncedCertificate) (*tls.Certificate, error) {
	if kek == nil {
		return nil, fmt.Errorf("certs: certificate %s: node has no key-encryption key", sc.GetId())
	}
	var chain [][]byte
	rest := []byte(sc.GetChainPem())
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			chain = append(chain, b.Bytes)
		}
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("certs: certificate %s: chain_pem holds no certificate", sc.GetId())
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fmt.Errorf("certs: certificate %s: leaf: %w", sc.GetId(), err)
	}
	k := sc.GetKey()
	der, err := kek.Open(keywrap.Envelope{KEKID: k.GetKekId(), WrappedDataKey: k.GetWrappedDataKey(), Ciphertext: k.GetCiphertext()}, sc.GetId(), k.GetKeyVersion())
	if err != nil {
		return nil, fmt.Errorf("certs: certificate %s: key: %w", sc.GetId(), err)
	}
	defer clear(der)
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("certs: certificate %s: key: %w", sc.GetId(), err)
	}
	pub, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("certs: certificate %s: key type %T cannot sign", sc.GetId(), key)
	}
	if eq, ok := pub.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("certs: certificate %s: key does not match the leaf", sc.GetId())
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}
