package certs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/certtest"
	"github.com/strata-edge/strata/pkg/keywrap"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/strata-edge/strata/node/internal/nettest"
)

func nodeKEK(t testing.TB) *keywrap.Keyring {
	t.Helper()
	line, _ := keywrap.NewKeyLine()
	control, err := keywrap.Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := control.Derive("partition/p1")
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// synced wraps c's key for kek the way the cert service does.
func synced(t testing.TB, kek *keywrap.Keyring, id string, c *certtest.Cert, chain string) *certv1.SyncedCertificate {
	t.Helper()
	env, err := kek.Seal(id, 1, c.KeyDER(t))
	if err != nil {
		t.Fatal(err)
	}
	return &certv1.SyncedCertificate{
		Id: id, ChainPem: chain, Domains: c.Cert.DNSNames, NotAfter: timestamppb.New(c.Cert.NotAfter),
		Key: &certv1.WrappedKey{KekId: env.KEKID, WrappedDataKey: env.WrappedDataKey, Ciphertext: env.Ciphertext, KeyVersion: 1},
	}
}

func TestLookup(t *testing.T) {
	kek := nodeKEK(t)
	set := certtest.NewSet(t)
	exact, exactChain := set.Leaf(t, certtest.Options{DNSNames: []string{"www.example.com"}})
	wild, wildChain := set.Leaf(t, certtest.Options{DNSNames: []string{"*.example.com", "example.com"}})
	deep, deepChain := set.Leaf(t, certtest.Options{DNSNames: []string{"*.eu.example.com"}})
	older, olderChain := set.Leaf(t, certtest.Options{DNSNames: []string{"shop.example.net"}, NotAfter: time.Now().Add(24 * time.Hour)})
	newer, newerChain := set.Leaf(t, certtest.Options{DNSNames: []string{"shop.example.net"}})
	broken := synced(t, kek, "broken", exact, exactChain)
	broken.Key.Ciphertext[len(broken.Key.Ciphertext)-1] ^= 1
	tbl := New(kek, nil)
	err := tbl.Update(&syncv1.Snapshot{Version: 1, Certificates: []*certv1.SyncedCertificate{
		synced(t, kek, "exact", exact, exactChain), synced(t, kek, "wild", wild, wildChain), synced(t, kek, "deep", deep, deepChain),
		synced(t, kek, "older", older, olderChain), synced(t, kek, "newer", newer, newerChain), broken,
	}})
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("Update err = %v, want the broken certificate named", err)
	}
	if tbl.Len() != 5 {
		t.Fatalf("Len = %d, want 5 (broken one skipped)", tbl.Len())
	}
	tests := []struct {
		sni  string
		want *certtest.Cert
	}{
		{"www.example.com", exact},
		{"WWW.Example.COM.", exact},
		{"api.example.com", wild},
		{"example.com", wild},
		{"a.eu.example.com", deep},
		{"shop.example.net", newer},
		{"other.test", nil},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.sni, func(t *testing.T) {
			c, err := tbl.GetCertificate(&tls.ClientHelloInfo{ServerName: tt.sni})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if c != nil {
					t.Fatalf("got %v, want none", c.Leaf.DNSNames)
				}
				return
			}
			if c == nil || !c.Leaf.Equal(tt.want.Cert) {
				t.Fatalf("got %v, want %v", c, tt.want.Cert.DNSNames)
			}
		})
	}
}

func TestUpdateReusesUnchanged(t *testing.T) {
	kek := nodeKEK(t)
	set := certtest.NewSet(t)
	a, aChain := set.Leaf(t, certtest.Options{DNSNames: []string{"a.example.com"}})
	b, bChain := set.Leaf(t, certtest.Options{DNSNames: []string{"b.example.com"}})
	sa := synced(t, kek, "a", a, aChain)
	tbl := New(kek, nil)
	if err := tbl.Update(&syncv1.Snapshot{Certificates: []*certv1.SyncedCertificate{sa}}); err != nil {
		t.Fatal(err)
	}
	first, _ := tbl.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.example.com"})
	if err := tbl.Update(&syncv1.Snapshot{Certificates: []*certv1.SyncedCertificate{sa, synced(t, kek, "b", b, bChain)}}); err != nil {
		t.Fatal(err)
	}
	again, _ := tbl.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.example.com"})
	if first != again {
		t.Fatal("unchanged certificate was opened again")
	}
	if err := tbl.Update(&syncv1.Snapshot{}); err != nil || tbl.Len() != 0 {
		t.Fatalf("after removing all: %d, %v", tbl.Len(), err)
	}
}

func TestWrongPartitionKey(t *testing.T) {
	set := certtest.NewSet(t)
	a, aChain := set.Leaf(t, certtest.Options{DNSNames: []string{"a.example.com"}})
	sc := synced(t, nodeKEK(t), "a", a, aChain)
	if _, err := Load(nodeKEK(t), sc); err == nil {
		t.Fatal("a node with another KEK opened the key")
	}
	if _, err := Load(nil, sc); err == nil {
		t.Fatal("a node without a KEK loaded a certificate")
	}
}

// TestHandshake runs real TLS 1.2 and 1.3 handshakes with ALPN and session
// resumption against a listener using the table.
func TestHandshake(t *testing.T) {
	kek := nodeKEK(t)
	set := certtest.NewSet(t)
	ec, ecChain := set.Leaf(t, certtest.Options{DNSNames: []string{"ec.example.com"}})
	rsaLeaf, rsaChain := set.Leaf(t, certtest.Options{DNSNames: []string{"rsa.example.com"}, KeyType: certtest.RSA})
	tbl := New(kek, nil)
	if err := tbl.Update(&syncv1.Snapshot{Certificates: []*certv1.SyncedCertificate{synced(t, kek, "ec", ec, ecChain), synced(t, kek, "rsa", rsaLeaf, rsaChain)}}); err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ServerConfig(tbl.GetCertificate, nil))
	if err != nil {
		t.Fatal(err)
	}
	nettest.Serve(t, ln, func(c net.Conn) {
		if err := c.(*tls.Conn).Handshake(); err == nil {
			c.Write([]byte("ok"))
		}
	})
	roots := x509.NewCertPool()
	roots.AddCert(set.Root.Cert)
	cache := tls.NewLRUClientSessionCache(8)
	for _, tt := range []struct {
		sni     string
		version uint16
		alpn    string
	}{
		{"ec.example.com", tls.VersionTLS13, "h2"},
		{"rsa.example.com", tls.VersionTLS12, "http/1.1"},
		{"ec.example.com", tls.VersionTLS12, "h2"},
	} {
		name := fmt.Sprintf("%s tls%x %s", tt.sni, tt.version, tt.alpn)
		t.Run(name, func(t *testing.T) {
			cfg := &tls.Config{ServerName: tt.sni, RootCAs: roots, MinVersion: tt.version, MaxVersion: tt.version, NextProtos: []string{tt.alpn}, ClientSessionCache: cache}
			resumed := false
			for range 2 {
				c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 2)
				_, err = io.ReadFull(c, buf)
				st := c.ConnectionState()
				c.Close()
				if err != nil {
					t.Fatal(err)
				}
				if st.NegotiatedProtocol != tt.alpn || st.Version != tt.version {
					t.Fatalf("negotiated %q version %x", st.NegotiatedProtocol, st.Version)
				}
				resumed = st.DidResume
			}
			if !resumed {
				t.Fatal("second connection did not resume the session")
			}
		})
	}
	// Unknown names get the fallback certificate (none here: handshake fails).
	if _, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "nope.example.com", RootCAs: roots}); err == nil {
		t.Fatal("handshake for an unknown name succeeded")
	}
}

// BenchmarkBuild100k builds the SNI index of 100,000 certificates (each with
// its own wrapped key, sharing one chain; opened lazily, as Table.Update does
// beyond PreloadLimit) and reports the heap the index holds.
func BenchmarkBuild100k(b *testing.B) {
	const n = 100_000
	kek := nodeKEK(b)
	set := certtest.NewSet(b)
	leaf, chain := set.Leaf(b, certtest.Options{DNSNames: []string{"x.example.com"}})
	der := leaf.KeyDER(b)
	certs := make([]*certv1.SyncedCertificate, n)
	for i := range certs {
		id := fmt.Sprintf("crt_%06d", i)
		env, err := kek.Seal(id, 1, der)
		if err != nil {
			b.Fatal(err)
		}
		certs[i] = &certv1.SyncedCertificate{Id: id, NotAfter: timestamppb.New(leaf.Cert.NotAfter), ChainPem: chain, Domains: []string{fmt.Sprintf("h%d.example.com", i), fmt.Sprintf("*.w%d.example.org", i)},
			Key: &certv1.WrappedKey{KekId: env.KEKID, WrappedDataKey: env.WrappedDataKey, Ciphertext: env.Ciphertext, KeyVersion: 1}}
	}
	b.ResetTimer()
	var idx *Index
	for range b.N {
		var err error
		if idx, err = Build(kek, certs, nil, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var before, after runtime.MemStats
	idx = nil
	runtime.GC()
	runtime.ReadMemStats(&before)
	idx, _ = Build(kek, certs, nil, 0)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-heap")
	start := time.Now()
	if _, err := Build(kek, certs, idx, 0); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms-rebuild-unchanged")
	if c, err := idx.Lookup("a.w99999.example.org"); c == nil || err != nil {
		b.Fatalf("lookup: %v", err)
	}
	runtime.KeepAlive(idx)
}
