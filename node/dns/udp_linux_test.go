package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

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

// A batch mixes senders and datagrams that get no reply (responses are
// dropped): every reply must reach the client that asked, answering its
// question, over IPv4 and IPv6, with several sockets on the port and with
// several loops on one socket, and with datagrams steered to the socket of
// the receiving CPU.
func TestUDPBatchRepliesToEachSender(t *testing.T) {
	for _, tc := range []struct {
		host             string
		sockets, workers int
		steer            bool // UDPSteerCPU and UDPPin
	}{{"127.0.0.1", 1, 1, false}, {"::1", 1, 1, false}, {"127.0.0.1", 3, 1, false}, {"127.0.0.1", 1, 2, false},
		{"127.0.0.1", 2, 1, true}, {"::1", 3, 1, true}} {
		host := tc.host
		t.Run(fmt.Sprintf("%s/sockets=%d/workers=%d/steer=%v", host, tc.sockets, tc.workers, tc.steer), func(t *testing.T) {
			l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(host)})
			if err != nil {
				t.Skipf("no %s: %v", host, err)
			}
			l.Close()
			z, err := ParseZoneFile(strings.NewReader(benchZone), "bench.zone", "example.test.")
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(Options{UDPAddr: net.JoinHostPort(host, "0"), UDPSockets: tc.sockets, UDPWorkers: tc.workers,
				UDPSteerCPU: tc.steer, UDPPin: tc.steer, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Update(&syncv1.Snapshot{Version: 1, Zones: []*dnsv1.Zone{z}}); err != nil {
				t.Fatal(err)
			}
			if err := s.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Stop(context.Background()) })
			dst := s.UDPAddr().(*net.UDPAddr).AddrPort()

			const clients, perClient = 4, 40
			names := []string{"www.example.test.", "nope.example.test.", "h1.example.test.", "cdn.example.test."}
			conns := make([]*net.UDPConn, clients)
			for c := range conns {
				if conns[c], err = net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(host)}); err != nil {
					t.Fatal(err)
				}
				defer conns[c].Close()
			}
			// interleave the clients' queries so batches mix senders; a
			// response datagram (QR set) after each query gets no reply
			for i := range perClient {
				for c, conn := range conns {
					m := new(mdns.Msg).SetQuestion(names[(i+c)%len(names)], mdns.TypeA)
					m.Id = uint16(c<<8 | i)
					wire, _ := m.Pack()
					if _, err := conn.WriteToUDPAddrPort(wire, dst); err != nil {
						t.Fatal(err)
					}
					m.Response = true
					junk, _ := m.Pack()
					if _, err := conn.WriteToUDPAddrPort(junk, dst); err != nil {
						t.Fatal(err)
					}
				}
			}
			buf := make([]byte, udpBufSize)
			for c, conn := range conns {
				if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
					t.Fatal(err)
				}
				seen := map[uint16]bool{}
				for range perClient {
					n, _, err := conn.ReadFromUDPAddrPort(buf)
					if err != nil {
						t.Fatalf("client %d after %d replies: %v", c, len(seen), err)
					}
					r := new(mdns.Msg)
					if err := r.Unpack(buf[:n]); err != nil {
						t.Fatal(err)
					}
					i := int(r.Id & 0xff)
					if int(r.Id>>8) != c || i >= perClient || seen[r.Id] {
						t.Fatalf("client %d got reply id %#x", c, r.Id)
					}
					seen[r.Id] = true
					if want := names[(i+c)%len(names)]; r.Question[0].Name != want {
						t.Fatalf("client %d id %#x: question %s, want %s", c, r.Id, r.Question[0].Name, want)
					}
				}
			}
		})
	}
}
