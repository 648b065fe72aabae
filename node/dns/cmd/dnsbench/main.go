// Command dnsbench serves one zone file with the node's DNS server, for
// scripts/bench-dns.sh (side by side with Knot via ../shared/bench/dns.sh).
//
//	go run ./node/dns/cmd/dnsbench -zone /tmp/bench-dns-zone/example.test.zone -addr 127.0.0.1:15400
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/dns"
)

func main() {
	zoneFile := flag.String("zone", "", "zone file (required)")
	origin := flag.String("origin", "example.test.", "zone origin")
	addr := flag.String("addr", "127.0.0.1:15400", "UDP and TCP listen address")
	workers := flag.Int("workers", 0, "goroutines on each UDP socket (0: the server default, 1)")
	sockets := flag.Int("sockets", 0, "UDP sockets sharing the port with SO_REUSEPORT (0: the server default, GOMAXPROCS)")
	batch := flag.Int("batch", 0, "datagrams per recvmmsg/sendmmsg (0: the server default, 32)")
	steer := flag.Bool("steer", false, "steer datagrams to the socket of the receiving CPU (reuseport BPF)")
	pin := flag.Bool("pin", false, "lock UDP loop i to CPU i")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile here until exit")
	flag.Parse()
	if *zoneFile == "" {
		log.Fatal("-zone: required")
	}
	f, err := os.Open(*zoneFile)
	if err != nil {
		log.Fatal(err)
	}
	z, err := dns.ParseZoneFile(f, *zoneFile, *origin)
	f.Close()
	if err != nil {
		log.Fatal(err)
	}
	s, err := dns.New(dns.Options{UDPAddr: *addr, TCPAddr: *addr, UDPWorkers: *workers, Batch: *batch, UDPSockets: *sockets, UDPSteerCPU: *steer, UDPPin: *pin, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Update(&syncv1.Snapshot{Version: 1, Zones: []*dnsv1.Zone{z}}); err != nil {
		log.Fatal(err)
	}
	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := s.Start(ctx); err != nil {
		log.Fatal(err)
	}
	<-ctx.Done()
	_ = s.Stop(context.Background())
}
