package xdp

import (
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
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

	// Baseline: no filter, the frames go up to UDP (a closed port).
	flood("no filter (UDP stack)", func() uint64 {
		var sent uint64 // every frame counts: nothing drops them early
		return sent
	})
	results[0].dropped = results[0].sent

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

	t.Logf("flood of %s from 2 AF_PACKET senders on %d CPUs (shared machine: CPU figures are noisy):", dur, cpus())
	t.Logf("%-30s %10s %10s %12s %14s %12s", "", "sent/s", "dropped/s", "busy ns/pkt", "softirq ns/pkt", "prog ns/pkt")
	for _, r := range results {
		s := dur.Seconds()
		t.Logf("%-30s %10.0f %10.0f %12.0f %14.0f %12.1f", r.name, float64(r.sent)/s, float64(r.dropped)/s,
			r.busyNs/float64(max(r.dropped, 1)), r.softirqNs/float64(max(r.dropped, 1)), r.progNs)
	}
	if len(results) == 4 {
		nft, nat := results[1], results[2]
		t.Logf("ratio XDP native / nftables: dropped/s %.2fx, busy CPU per packet %.2fx",
			float64(nat.dropped)/float64(max(nft.dropped, 1)),
			(nat.busyNs/float64(max(nat.dropped, 1)))/(nft.busyNs/float64(max(nft.dropped, 1))))
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
