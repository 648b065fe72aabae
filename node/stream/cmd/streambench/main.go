// Command streambench is the node side of scripts/bench-stream.sh: the
// node's own stream runtime (node/stream) with one TCP stream app per
// -route, and optionally its forward-proxy runtime (node/forward) with one
// SOCKS5 app, both built from a snapshot exactly as the node applies one.
//
//	streambench -route 127.0.0.1:18390=127.0.0.1:18381 [-route ...]
//	            [-socks 127.0.0.1:18392 -user U -pass P] [-pprof 127.0.0.1:6060]
package main

import (
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/forward"
	"github.com/strata-edge/strata/node/stream"
	"github.com/strata-edge/strata/pkg/passhash"
)

type routes []string

func (r *routes) String() string     { return strings.Join(*r, ",") }
func (r *routes) Set(v string) error { *r = append(*r, v); return nil }

func main() {
	var rs routes
	flag.Var(&rs, "route", "LISTEN=UPSTREAM (host:port each); repeatable")
	socks := flag.String("socks", "", "SOCKS5 listen address (host:port) of a forward-proxy app")
	user := flag.String("user", "bench", "SOCKS5 user name")
	pass := flag.String("pass", "", "SOCKS5 password")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address (host:port), e.g. 127.0.0.1:6060")
	flag.Parse()
	if *pprofAddr != "" {
		pl, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			log.Fatalf("-pprof: %v", err)
		}
		go http.Serve(pl, nil)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	snap := &syncv1.Snapshot{PartitionId: "bench", Version: 1}
	host := ""
	for i, r := range rs {
		listen, up, ok := strings.Cut(r, "=")
		h, port := splitPort(listen)
		if !ok || port == 0 {
			log.Fatalf("-route %q: want LISTEN=UPSTREAM", r)
		}
		host = h
		snap.Apps = append(snap.Apps, &configv1.App{
			Id: fmt.Sprintf("stream-%d", i), Name: fmt.Sprintf("stream-%d", i), PartitionIds: []string{"bench"},
			Upstreams: []*configv1.Upstream{{Id: "u", Name: "origin", Servers: []*configv1.Server{{Address: up, Weight: 1}}}},
			Role: &configv1.App_Stream{Stream: &configv1.StreamApp{
				Listeners: []*configv1.StreamListener{{Port: port, Protocol: configv1.StreamProtocol_STREAM_PROTOCOL_TCP}},
				Upstream:  "origin",
			}},
		})
	}
	st := stream.New(stream.Options{Host: host, Logger: logger})
	commit, _, err := st.Prepare(snap)
	if err != nil {
		log.Fatal(err)
	}
	commit()

	if *socks != "" {
		h, port := splitPort(*socks)
		if *pass == "" {
			log.Fatal("-socks needs -pass")
		}
		fwd, err := forward.New(forward.Options{Host: h, Logger: logger})
		if err != nil {
			log.Fatal(err)
		}
		fsnap := &syncv1.Snapshot{PartitionId: "bench", Version: 1, Apps: []*configv1.App{{
			Id: "socks", Name: "socks", PartitionIds: []string{"bench"},
			Role: &configv1.App_ForwardProxy{ForwardProxy: &configv1.ForwardProxyApp{
				Socks5Ports: []uint32{port},
				Credentials: []*configv1.ProxyCredential{{Username: *user, PasswordHash: passhash.Hash(*pass, passhash.Default)}},
				Egress:      &configv1.EgressPolicy{AllowPrivate: true},
			}},
		}}}
		fcommit, _, err := fwd.Prepare(fsnap)
		if err != nil {
			log.Fatal(err)
		}
		fcommit()
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}

func splitPort(addr string) (string, uint32) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		log.Fatalf("%q: %v", addr, err)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		log.Fatalf("%q: bad port", addr)
	}
	return h, uint32(n)
}
