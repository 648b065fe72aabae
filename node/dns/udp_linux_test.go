package dns

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

// BenchmarkServeUDP runs the whole UDP path over loopback: a client sends a
// burst of 32 harness queries, the server reads them with one recvmmsg,
// answers on the fast path and writes with one sendmmsg, the client reads
// the replies. allocs/op counts every goroutine, client included; the
// server's share is zero.
func BenchmarkServeUDP(b *testing.B) {
	z, err := ParseZoneFile(strings.NewReader(benchZone), "bench.zone", "example.test.")
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{UDPAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Update(&syncv1.Snapshot{Version: 1, Zones: []*dnsv1.Zone{z}}); err != nil {
		b.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Stop(context.Background()) })
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	dst := s.UDPAddr().(*net.UDPAddr).AddrPort()
	qs := harnessQueries(b)
	buf := make([]byte, udpBufSize)
	const burst = 32
	b.ReportAllocs()
	for b.Loop() {
		for i := range burst {
			if _, err := c.WriteToUDPAddrPort(qs[i%len(qs)], dst); err != nil {
				b.Fatal(err)
			}
		}
		if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			b.Fatal(err)
		}
		for range burst {
			if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*burst), "ns/query")
}
