package xdp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/proxy"
)

// TestDropBenchmark measures, in one run, what dropping a flood from a
// denied prefix costs: the program alone (BPF_PROG_TEST_RUN, ns per packet
// on one CPU), then a flood over the veth pair dropped by the XDP filter
// (native and generic) and by an nftables netdev ingress drop rule on the
// same interface: packets dropped per second and CPU per packet (all CPUs'
// busy time from /proc/stat over the packets; the generator's own cost is
// in every row alike). go tool task bench-xdp; figures in docs/ddos.md.
func TestDropBenchmark(t *testing.T) {
	if os.Getenv("STRATA_BENCH_XDP") == "" {
		t.Skip("set STRATA_BENCH_XDP=1 (go tool task bench-xdp)")
	}
	tn := newTestNet(t)
	dur := 3 * time.Second
	if s := os.Getenv("STRATA_BENCH_XDP_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 60 {
			t.Fatalf("STRATA_BENCH_XDP_SECONDS %q: want 1..60", s)
		}
		dur = time.Duration(n) * time.Second
	}
	g := tn.gen(t)
	denied := g.udp4("10.99.0.1", 9)
	passed := g.udp4("10.98.0.1", 9)
	syn := g.syn4("10.50.0.1", 80)
	policy := Policy{Deny: pfx("10.99.0.0/16"), SYN: RateLimit{PacketsPerSecond: 1, Burst: 1}, DNS: RateLimit{1000, 100}}

	// The program alone.
	{
		f := attachTest(t, tn, Options{Mode: ModeGeneric})
		if err := f.Apply(policy); err != nil {
			t.Fatal(err)
		}
		// A deny list of 100,000 /32s besides the /16 matched, as a real
		// one would be (an LPM trie's lookup grows with the prefix length,
		// not with the count).
		big := make([]netip.Prefix, 0, 100_001)
		big = append(big, policy.Deny...)
		for i := 0; i < 100_000; i++ {
			big = append(big, netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)}), 32))
		}
		start := time.Now()
		if err := f.Apply(Policy{Deny: big, SYN: policy.SYN, DNS: policy.DNS}); err != nil {
			t.Fatal(err)
		}
		t.Logf("Apply of 100,001 deny prefixes: %s", time.Since(start).Round(time.Millisecond))
		start = time.Now()
		if err := f.Apply(Policy{Deny: big[:100_000], SYN: policy.SYN, DNS: policy.DNS}); err != nil {
			t.Fatal(err)
		}
		t.Logf("Apply with one prefix fewer (diffed): %s", time.Since(start).Round(time.Microsecond))
		for _, c := range []struct {
			name  string
			frame []byte
		}{{"denied (drop)", denied}, {"passed (UDP, no limit hit)", passed}, {"SYN over the rate (drop)", syn}} {
			const repeat = 2_000_000
			ret, per, err := f.objs.StrataXdp.Benchmark(c.frame, repeat, nil)
			if err != nil {
				t.Fatalf("BPF_PROG_TEST_RUN: %v", err)
			}
			t.Logf("program alone, %-28s: %6.1f ns/packet = %5.1f Mpps per CPU (action %d)", c.name, float64(per.Nanoseconds()), 1e3/float64(per.Nanoseconds()), ret)
		}
		// The full capacity: 1,000,000 IPv4 prefixes (the /16 and 999,999
		// /32s); one more is refused before any map write.
		full := make([]netip.Prefix, 0, MaxDenyEntries+1)
		full = append(full, policy.Deny...)
		for i := 0; len(full) < MaxDenyEntries; i++ {
			full = append(full, netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)}), 32))
		}
		start = time.Now()
		if err := f.Apply(Policy{Deny: full}); err != nil {
			t.Fatalf("Apply of %d deny prefixes: %v", len(full), err)
		}
		t.Logf("Apply of %d deny prefixes (from 100,000): %s", len(full), time.Since(start).Round(time.Millisecond))
		ret, per, err := f.objs.StrataXdp.Benchmark(denied, 1_000_000, nil)
		if err != nil || ret != 1 {
			t.Fatalf("denied frame with the full list: action %d, %v", ret, err)
		}
		t.Logf("program alone, denied with 1,000,000 prefixes: %.1f ns/packet", float64(per.Nanoseconds()))
		if err := f.Block(pfx("102.0.0.0/24"), time.Minute); err == nil {
			t.Fatal("Block beside 1,000,000 IPv4 deny prefixes: no error")
		}
		if err := f.Apply(Policy{Deny: full[:MaxDenyEntries-1]}); err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		if err := f.Block(pfx("102.0.0.0/24"), time.Minute); err != nil {
			t.Fatal(err)
		}
		t.Logf("Block of one prefix beside 999,999 deny prefixes: %s", time.Since(start).Round(time.Microsecond))
		full = append(full, netip.MustParsePrefix("101.0.0.1/32"))
		if err := f.Apply(Policy{Deny: full}); err == nil {
			t.Fatal("Apply of 1,000,001 IPv4 deny prefixes: no error")
		}
		f.Close()
	}

	type result struct {
		name              string
		sent, dropped     uint64
		busyNs, softirqNs float64
		progNs            float64 // the XDP program's own run time per packet (BPF stats)
	}
	var results []result
	flood := func(name string, count func() uint64) {
		before := count()
		c0 := readCPU(t)
		var sent atomic.Uint64
		var wg sync.WaitGroup
		stop := time.Now().Add(dur)
		for i := 0; i < 2; i++ {
			gi := tn.gen(t)
			unix.SetsockoptInt(gi.fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				var n uint64
				for time.Now().Before(stop) {
					for j := 0; j < 256; j++ {
						if _, err := unix.Write(gi.fd, denied); err == nil {
							n++
						}
					}
				}
				sent.Add(n)
			}()
		}
		wg.Wait()
		time.Sleep(50 * time.Millisecond)
		c1 := readCPU(t)
		r := result{name: name, sent: sent.Load(), dropped: count() - before,
			busyNs: c1.busy - c0.busy, softirqNs: c1.softirq - c0.softirq}
		results = append(results, r)
	}

	// Rounds alternate the layers so that the shared machine's load swings
	// hit all of them; the medians are reported.
	const rounds = 3
	for round := 0; round < rounds; round++ {
		// Baseline: no filter, the frames go up to UDP (a closed port).
		flood("no filter (UDP stack)", func() uint64 { return 0 })
		results[len(results)-1].dropped = results[len(results)-1].sent

		// nftables: netdev ingress on vx, the earliest hook nft has.
		if _, err := exec.LookPath("nft"); err != nil {
			t.Logf("nft missing (apt-get install nftables): no nftables row")
		} else {
			rules := "table netdev strata_bench {\n chain in {\n  type filter hook ingress device \"vx\" priority -500; policy accept;\n  ip saddr 10.99.0.0/16 counter drop\n }\n}\n"
			cmd := exec.Command("ip", "netns", "exec", tn.nsX, "nft", "-f", "-")
			cmd.Stdin = strings.NewReader(rules)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("nft: %v %s", err, out)
			}
			re := regexp.MustCompile(`counter packets (\d+)`)
			flood("nftables netdev ingress drop", func() uint64 {
				out := run(t, "ip", "netns", "exec", tn.nsX, "nft", "list", "table", "netdev", "strata_bench")
				m := re.FindStringSubmatch(out)
				if m == nil {
					t.Fatalf("no counter in\n%s", out)
				}
				n, _ := strconv.ParseUint(m[1], 10, 64)
				return n
			})
			run(t, "ip", "netns", "exec", tn.nsX, "nft", "delete", "table", "netdev", "strata_bench")
		}
		for _, mode := range []Mode{ModeNative, ModeGeneric} {
			f := attachTest(t, tn, Options{Mode: mode})
			if err := f.Apply(policy); err != nil {
				t.Fatal(err)
			}
			stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
			if err != nil {
				t.Fatalf("enabling BPF run-time stats: %v", err)
			}
			s0, _ := f.objs.StrataXdp.Stats()
			flood("XDP "+f.Status()[0].Mode+" drop", func() uint64 { return f.Counters()["denied_cidr"] })
			s1, _ := f.objs.StrataXdp.Stats()
			stats.Close()
			if s0 != nil && s1 != nil && s1.RunCount > s0.RunCount {
				results[len(results)-1].progNs = float64(s1.Runtime-s0.Runtime) / float64(s1.RunCount-s0.RunCount)
			}
			f.Close()
		}
	}

	type row struct{ dropped, busy, softirq, prog float64 }
	var order []string
	byName := map[string][]row{}
	for _, r := range results {
		if _, ok := byName[r.name]; !ok {
			order = append(order, r.name)
		}
		n := float64(max(r.dropped, 1))
		byName[r.name] = append(byName[r.name], row{float64(r.dropped) / dur.Seconds(), r.busyNs / n, r.softirqNs / n, r.progNs})
	}
	median := func(rs []row, f func(row) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	t.Logf("flood of %s per round from 2 AF_PACKET senders on %d CPUs, median of %d rounds (shared machine: CPU figures are noisy):", dur, cpus(), rounds)
	t.Logf("%-30s %10s %12s %14s %12s   dropped/s of each round", "", "dropped/s", "busy ns/pkt", "softirq ns/pkt", "prog ns/pkt")
	med := map[string]row{}
	for _, name := range order {
		rs := byName[name]
		m := row{median(rs, func(r row) float64 { return r.dropped }), median(rs, func(r row) float64 { return r.busy }),
			median(rs, func(r row) float64 { return r.softirq }), median(rs, func(r row) float64 { return r.prog })}
		med[name] = m
		var each []string
		for _, r := range rs {
			each = append(each, strconv.FormatFloat(r.dropped, 'f', 0, 64))
		}
		t.Logf("%-30s %10.0f %12.0f %14.0f %12.1f   %s", name, m.dropped, m.busy, m.softirq, m.prog, strings.Join(each, " "))
	}
	nft, okN := med["nftables netdev ingress drop"]
	nat, okX := med["XDP native drop"]
	gen, okG := med["XDP generic drop"]
	if okN && okX && okG {
		t.Logf("ratio XDP native / nftables: dropped/s %.2fx, busy CPU per packet %.2fx; XDP generic / nftables: %.2fx, %.2fx",
			nat.dropped/nft.dropped, nat.busy/nft.busy, gen.dropped/nft.dropped, gen.busy/nft.busy)
	}
}

type cpuTimes struct{ busy, softirq float64 } // ns, all CPUs

func readCPU(t *testing.T) cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	// cpu user nice system idle iowait irq softirq steal, in USER_HZ (100/s)
	var v [8]float64
	for i := range v {
		v[i], _ = strconv.ParseFloat(f[i+1], 64)
	}
	tick := 1e7 // ns per USER_HZ tick
	return cpuTimes{busy: (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * tick, softirq: v[6] * tick}
}

func cpus() int {
	b, _ := os.ReadFile("/proc/stat")
	return strings.Count(string(b), "\ncpu")
}

// TestSynFloodBenchmark measures new-connection HTTP throughput from a
// clients in the peer namespace (64 source addresses, as many users) while
// one AF_PACKET sender floods the listener with 150,000 SYNs/s (paced, so
// that it leaves the 2 CPUs to the rest) from 64 spoofed sources:
// without a filter (the kernel's SYN cookies take the flood), with the
// per-source SYN limit (above each client's rate, far below each flooding
// source's), with that limit answering SYN cookies, and with the flood's
// prefix denied. The clients talk to the node's proxy (node/proxy, one app)
// in front of a net/http origin. One connection per request, so every
// request needs a handshake. All on 2 shared CPUs: the sender takes CPU in
// every flood row.
func TestSynFloodBenchmark(t *testing.T) {
	if os.Getenv("STRATA_BENCH_XDP") == "" {
		t.Skip("set STRATA_BENCH_XDP=1 (go tool task bench-xdp)")
	}
	tn := newTestNet(t)
	dur := 3 * time.Second
	// The origin is in the host's namespace: the proxy's upstream
	// connections are made on whatever thread runs them, outside nsX.
	origin, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })}
	go srv.Serve(origin)
	t.Cleanup(func() { srv.Close() })
	// The proxy listens in the namespace: its socket is made on this thread.
	px, err := proxy.New(proxy.Options{HTTPAddr: "10.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	inNS(t, tn.nsX, func() error { return px.Start(t.Context()) })
	t.Cleanup(func() { px.Stop(context.Background()) })
	if err := px.Update(&syncv1.Snapshot{Version: 1, Apps: []*configv1.App{{Id: "a", Name: "a", Domains: []string{"bench.strata.test"},
		Upstreams: []*configv1.Upstream{{Id: "u", Name: "main", Servers: []*configv1.Server{{Address: origin.Addr().String(), Weight: 1}}}}}}}); err != nil {
		t.Fatal(err)
	}
	port := uint16(px.HTTPAddr().(*net.TCPAddr).Port)
	addr := px.HTTPAddr().String()
	var locals []*net.TCPAddr
	for i := 0; i < 64; i++ {
		ip := net.IPv4(10, 0, 0, byte(100+i))
		run(t, "ip", "-n", tn.nsG, "addr", "add", ip.String()+"/24", "dev", "vg")
		locals = append(locals, &net.TCPAddr{IP: ip})
	}

	// clients runs 4 workers, each on a thread in ns G, for dur.
	clients := func() (reqs, fails uint64) {
		var ok, bad atomic.Uint64
		var wg sync.WaitGroup
		stop := time.Now().Add(dur)
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				inNS(t, tn.nsG, func() error {
					buf := make([]byte, 512)
					for k := 0; time.Now().Before(stop); k++ {
						d := net.Dialer{Timeout: time.Second, LocalAddr: locals[k%len(locals)]}
						c, err := d.Dial("tcp4", addr)
						if err != nil {
							bad.Add(1)
							continue
						}
						c.SetDeadline(time.Now().Add(time.Second))
						_, err = io.WriteString(c, "GET / HTTP/1.0\r\nHost: bench.strata.test\r\n\r\n")
						n := 0
						for err == nil {
							var k int
							k, err = c.Read(buf[n:])
							n += k
						}
						c.Close()
						if err == io.EOF && strings.HasSuffix(string(buf[:n]), "ok") {
							ok.Add(1)
						} else {
							bad.Add(1)
						}
					}
					return nil
				})
			}()
		}
		wg.Wait()
		return ok.Load(), bad.Load()
	}
	// flood runs a SYN sender at floodPPS until stop is closed.
	const floodPPS = 150_000
	flood := func(stop chan struct{}) *sync.WaitGroup {
		var wg sync.WaitGroup
		for i := 0; i < 1; i++ {
			g := tn.gen(t)
			unix.SetsockoptInt(g.fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
			frames := make([][]byte, 64)
			for j := range frames {
				frames[j] = g.syn4(fmt.Sprintf("10.50.0.%d", j), port)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				for j := 0; ; j++ {
					if j%1000 == 0 {
						select {
						case <-stop:
							return
						default:
						}
						if ahead := time.Duration(j)*time.Second/floodPPS - time.Since(start); ahead > 0 {
							time.Sleep(ahead)
						}
					}
					unix.Write(g.fd, frames[j%len(frames)])
				}
			}()
		}
		return &wg
	}
	row := func(name string, withFlood bool, f *Filter) {
		var stop chan struct{}
		var wg *sync.WaitGroup
		var c0 map[string]uint64
		if f != nil {
			c0 = f.Counters()
		}
		if withFlood {
			stop = make(chan struct{})
			wg = flood(stop)
		}
		reqs, fails := clients()
		if withFlood {
			close(stop)
			wg.Wait()
		}
		extra := ""
		if f != nil {
			c1 := f.Counters()
			extra = fmt.Sprintf(" (XDP dropped %d SYNs over the rate, %d denied, %d answered with cookies)", c1["syn_rate"]-c0["syn_rate"], c1["denied_cidr"]-c0["denied_cidr"], c1["syn_cookie_sent"]-c0["syn_cookie_sent"])
		}
		t.Logf("%-42s %8.0f requests/s, %d failed%s", name, float64(reqs)/dur.Seconds(), fails, extra)
	}
	row("no flood, no filter", false, nil)
	row("SYN flood, no filter (kernel SYN cookies)", true, nil)
	for _, mode := range []Mode{ModeNative, ModeGeneric} {
		f := attachTest(t, tn, Options{Mode: mode})
		m := f.Status()[0].Mode
		if err := f.Apply(Policy{SYN: RateLimit{PacketsPerSecond: 500, Burst: 1000}}); err != nil {
			t.Fatal(err)
		}
		row("SYN flood, XDP "+m+" SYN limit 500/s", true, f)
		if err := f.Apply(Policy{SYN: RateLimit{PacketsPerSecond: 500, Burst: 1000}, SYNCookies: true}); err != nil {
			t.Fatal(err)
		}
		row("SYN flood, XDP "+m+" SYN limit + cookies", true, f)
		if err := f.Apply(Policy{Deny: pfx("10.50.0.0/16")}); err != nil {
			t.Fatal(err)
		}
		row("SYN flood, XDP "+m+" deny 10.50.0.0/16", true, f)
		row("no flood, XDP "+m+" attached", false, f)
		f.Close()
	}
}
