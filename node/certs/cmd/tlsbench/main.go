// Command tlsbench measures TLS termination for scripts/bench-tls.sh.
//
//	tlsbench serve -cert c.pem -key k.pem -addr 127.0.0.1:15443
//	    serves HTTPS like an edge node's TLS listener: the certificate,
//	    wrapped for a node KEK and opened by node/certs' SNI table, on
//	    net/http with certs.ServerConfig (TLS 1.2/1.3, ALPN, tickets);
//	    every request gets a 1 KiB body. Clients without SNI (wrk dials
//	    by IP) get the same certificate as the fallback, like nginx.
//	tlsbench load -addr 127.0.0.1:15443 -sni bench.example.com -c 16 -d 10s
//	    full handshakes (no resumption) from c goroutines for d, then
//	    prints "handshakes/s N".
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/certs"
	"github.com/strata-edge/strata/pkg/keywrap"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: tlsbench serve|load [flags]")
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "load":
		load(os.Args[2:])
	default:
		log.Fatalf("unknown mode %q", os.Args[1])
	}
}

func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	certFile := fs.String("cert", "", "PEM chain")
	keyFile := fs.String("key", "", "PEM key")
	addr := fs.String("addr", "127.0.0.1:15443", "listen address")
	fs.Parse(args)
	chain, err := os.ReadFile(*certFile)
	check(err)
	keyPEM, err := os.ReadFile(*keyFile)
	check(err)
	pair, err := tls.X509KeyPair(chain, keyPEM)
	check(err)
	der, err := x509.MarshalPKCS8PrivateKey(pair.PrivateKey)
	check(err)
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	check(err)
	line, err := keywrap.NewKeyLine()
	check(err)
	kek, err := keywrap.Parse(line)
	check(err)
	env, err := kek.Seal("crt_bench", 1, der)
	check(err)
	table := certs.New(kek, nil)
	check(table.Update(&syncv1.Snapshot{Certificates: []*certv1.SyncedCertificate{{
		Id: "crt_bench", ChainPem: string(chain), Domains: leaf.DNSNames,
		Key: &certv1.WrappedKey{KekId: env.KEKID, WrappedDataKey: env.WrappedDataKey, Ciphertext: env.Ciphertext, KeyVersion: 1},
	}}}))
	body := []byte(strings.Repeat("x", 1024))
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write(body)
		}),
		TLSConfig:         certs.ServerConfig(table.GetCertificate, &pair), // fallback for clients without SNI (wrk by IP), as nginx does
		ReadHeaderTimeout: 10 * time.Second,
	}
	ln, err := net.Listen("tcp", *addr)
	check(err)
	log.Printf("serving %v on %s", leaf.DNSNames, ln.Addr())
	check(srv.ServeTLS(ln, "", ""))
}

func load(args []string) {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:15443", "server")
	sni := fs.String("sni", "bench.example.com", "server name")
	conc := fs.Int("c", 16, "concurrent connections")
	dur := fs.Duration("d", 10*time.Second, "duration")
	tls13 := fs.Bool("tls13", true, "TLS 1.3 (false: TLS 1.2)")
	fs.Parse(args)
	cfg := &tls.Config{ServerName: *sni, InsecureSkipVerify: true, ClientSessionCache: nil, NextProtos: []string{"http/1.1"}}
	if *tls13 {
		cfg.MinVersion = tls.VersionTLS13
	} else {
		cfg.MaxVersion = tls.VersionTLS12
	}
	var n, errs atomic.Int64
	deadline := time.Now().Add(*dur)
	var wg sync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", *addr, cfg)
				if err != nil {
					errs.Add(1)
					continue
				}
				c.Close()
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("handshakes/s %.0f errors %d\n", float64(n.Load())/dur.Seconds(), errs.Load())
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
