package xdp

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
)

func pfx(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// counterCheck takes counter deltas against a baseline.
type counterCheck struct {
	t    *testing.T
	f    *Filter
	base map[string]uint64
}

func (f *Filter) check(t *testing.T) *counterCheck {
	return &counterCheck{t: t, f: f, base: f.Counters()}
}

func (c *counterCheck) delta() map[string]uint64 {
	now := c.f.Counters()
	d := map[string]uint64{}
	for k, v := range now {
		d[k] = v - c.base[k]
	}
	return d
}

// expect waits until the deltas of the named counters reach want (frames
// are processed in softirq right after the send, so briefly), then checks
// that they are exactly want and that the others named in zero stayed 0.
// "passed" is a lower bound: ARP from the peer's stack passes too.
func (c *counterCheck) expect(want map[string]uint64, zero ...string) {
	c.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		d := c.delta()
		done := true
		for k, v := range want {
			if d[k] < v {
				done = false
			}
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(30 * time.Millisecond) // nothing more may arrive
	d := c.delta()
	for k, v := range want {
		if d[k] != v && !(k == "passed" && d[k] > v) {
			c.t.Errorf("counter %s: +%d, want +%d (all deltas %v)", k, d[k], v, d)
		}
	}
	for _, k := range zero {
		if d[k] != 0 {
			c.t.Errorf("counter %s: +%d, want +0 (all deltas %v)", k, d[k], d)
		}
	}
}

func attachTest(t *testing.T, tn *testNet, opts Options) *Filter {
	t.Helper()
	var f *Filter
	inNS(t, tn.nsX, func() error {
		var err error
		f, err = Attach([]string{"vx"}, opts)
		return err
	})
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFilter(t *testing.T) {
	tn := newTestNet(t)
	f := attachTest(t, tn, Options{Allow: pfx("10.0.0.2/32"), SweepInterval: 50 * time.Millisecond})
	st := f.Status()
	if len(st) != 1 || st[0].Name != "vx" || st[0].Mode != "native" || st[0].Error != "" {
		t.Fatalf("Status() = %+v, want vx native (veth has driver XDP)", st)
	}
	progID, err := f.ProgramID()
	if err != nil {
		t.Fatal(err)
	}
	if out := run(t, "ip", "-n", tn.nsX, "-d", "link", "show", "vx"); !strings.Contains(out, "xdp") {
		t.Fatalf("ip link shows no XDP program on vx:\n%s", out)
	}
	g := tn.gen(t)

	t.Run("deny", func(t *testing.T) {
		if err := f.Apply(Policy{Deny: pfx("10.99.0.0/16", "2001:db8:99::/48", "::ffff:10.98.7.0/120")}); err != nil {
			t.Fatal(err)
		}
		c := f.check(t)
		g.send(t, g.udp4("10.99.3.4", 9), 100)
		g.send(t, g.udp6("2001:db8:99::5", 9), 50)
		g.send(t, g.udp4("10.98.7.9", 9), 7) // the IPv4-mapped prefix is 10.98.7.0/24
		g.send(t, g.udp4("10.97.0.1", 9), 20)
		g.send(t, g.udp6("2001:db8:98::5", 9), 20)
		// One tag of 802.1Q is looked through.
		g.send(t, g.vlan(5, 0x0800, ip4(netip.MustParseAddr("10.99.0.1"), ipX, 17, udp(1, 9, nil), v4opt{})), 3)
		c.expect(map[string]uint64{"denied_cidr": 160, "passed": 40}, "allow_listed", "blocked_ttl")
	})

	t.Run("allow wins and reaches the socket", func(t *testing.T) {
		if err := f.Apply(Policy{Deny: pfx("10.99.0.0/16"), Allow: pfx("10.99.1.0/24")}); err != nil {
			t.Fatal(err)
		}
		var conn *net.UDPConn
		inNS(t, tn.nsX, func() error {
			var err error
			conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1)})
			return err
		})
		defer conn.Close()
		port := uint16(conn.LocalAddr().(*net.UDPAddr).Port)
		c := f.check(t)
		g.send(t, g.udp4("10.99.1.7", port), 30)
		g.send(t, g.udp4("10.99.2.7", port), 30)
		c.expect(map[string]uint64{"allow_listed": 30, "denied_cidr": 30}, "passed")
		got := 0
		buf := make([]byte, 100)
		for {
			conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			_, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				break
			}
			if !from.IP.Equal(net.IPv4(10, 99, 1, 7)) {
				t.Errorf("datagram from %s: only the allow-listed source may pass", from)
			}
			got++
		}
		if got != 30 {
			t.Errorf("the socket got %d datagrams from the allow-listed source, want 30", got)
		}
	})

	t.Run("SYN flood limited while a client connects", func(t *testing.T) {
		if err := f.Apply(Policy{SYN: RateLimit{PacketsPerSecond: 1, Burst: 5}}); err != nil {
			t.Fatal(err)
		}
		var ln net.Listener
		inNS(t, tn.nsX, func() error {
			var err error
			ln, err = net.Listen("tcp4", "10.0.0.1:0")
			return err
		})
		defer ln.Close()
		accepted := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				c.Close()
			}
			accepted <- err
		}()
		port := uint16(ln.Addr().(*net.TCPAddr).Port)
		c := f.check(t)
		start := time.Now()
		g.send(t, g.syn4("10.50.0.1", port), 1000)
		// A SYN+ACK and a bare ACK are not SYNs: not limited.
		g.send(t, g.eth(0x0800, ip4(netip.MustParseAddr("10.50.0.1"), ipX, 6, tcp(1, port, 0x12, 5), v4opt{})), 10)
		g.send(t, g.eth(0x0800, ip4(netip.MustParseAddr("10.50.0.1"), ipX, 6, tcp(1, port, 0x10, 5), v4opt{})), 10)
		elapsed := time.Since(start)
		// A normal client (not allow-listed: 10.0.0.3 on vg) during the flood.
		run(t, "ip", "-n", tn.nsG, "addr", "add", "10.0.0.3/24", "dev", "vg")
		inNS(t, tn.nsG, func() error {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 3)}, Timeout: 3 * time.Second}
			conn, err := d.Dial("tcp4", ln.Addr().String())
			if err != nil {
				return err
			}
			return conn.Close()
		})
		select {
		case err := <-accepted:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("the client's connection was not accepted during the SYN flood")
		}
		if elapsed < time.Second {
			c.expect(map[string]uint64{"syn_rate": 995})
		} else {
			t.Logf("sending took %s: the bucket refilled, no exact count", elapsed)
			if d := c.delta()["syn_rate"]; d < 990 || d > 995 {
				t.Errorf("syn_rate +%d, want about 995", d)
			}
		}
		if d := c.delta()["passed"]; d < 25 {
			t.Errorf("passed +%d, want at least the 5 SYNs in the burst, 20 non-SYNs and the handshake", d)
		}
	})

	t.Run("DNS and ICMP rates", func(t *testing.T) {
		if err := f.Apply(Policy{DNS: RateLimit{1, 3}, ICMP: RateLimit{1, 2}}); err != nil {
			t.Fatal(err)
		}
		c := f.check(t)
		start := time.Now()
		g.send(t, g.udp4("10.60.0.1", 53), 100)
		g.send(t, g.udp6("2001:db8:60::1", 53), 5)
		g.send(t, g.udp6("2001:db8:60::2", 53), 5) // the same /64: the same bucket
		g.send(t, g.udp4("10.60.0.1", 54), 10)     // not DNS
		g.send(t, g.eth(0x0800, ip4(netip.MustParseAddr("10.61.0.1"), ipX, 1, echo(8), v4opt{})), 50)
		g.send(t, g.eth(0x0800, ip4(netip.MustParseAddr("10.61.0.1"), ipX, 1, echo(0), v4opt{})), 5) // replies are not limited
		g.send(t, g.eth(0x86dd, ip6(netip.MustParseAddr("2001:db8:61::1"), ip6X, 58, echo(128))), 20)
		if time.Since(start) < time.Second { // else the buckets refilled
			c.expect(map[string]uint64{"dns_rate": 97 + 7, "icmp_rate": 48 + 18, "passed": 3 + 3 + 10 + 2 + 5 + 2}, "syn_rate")
		} else if d := c.delta(); d["dns_rate"] < 100 || d["icmp_rate"] < 60 {
			t.Errorf("sending took %s; dns_rate +%d, icmp_rate +%d: want about 104 and 66", time.Since(start), d["dns_rate"], d["icmp_rate"])
		}
		// Turned off, nothing is limited.
		if err := f.Apply(Policy{}); err != nil {
			t.Fatal(err)
		}
		c = f.check(t)
		g.send(t, g.udp4("10.60.0.1", 53), 20)
		c.expect(map[string]uint64{"passed": 20}, "dns_rate")
	})

	t.Run("malformed and fragments", func(t *testing.T) {
		src, short := netip.MustParseAddr("10.70.0.1"), []byte{1, 2, 3}
		frames := [][]byte{
			g.eth(0x0800, ip4(src, ipX, 17, udp(1, 9, nil), v4opt{ihl: 3})), // IHL below 5
			g.eth(0x0800, ip4(src, ipX, 6, short, v4opt{})),                 // TCP cut short
			g.eth(0x0800, ip4(src, ipX, 6, tcp(1, 80, 0x02, 2), v4opt{})),   // TCP data offset 2
			g.eth(0x0800, ip4(src, ipX, 17, short, v4opt{})),                // UDP cut short
			g.eth(0x0800, []byte{0x45, 0, 0}),                               // IPv4 header cut short
			g.eth(0x86dd, ip6(netip.MustParseAddr("2001:db8:70::1"), ip6X, 58, short)),
			// Four destination-options headers, one more than the walk reads.
			g.eth(0x86dd, ip6(netip.MustParseAddr("2001:db8:70::1"), ip6X, 60, slices.Concat(
				[]byte{60, 0, 1, 4, 0, 0, 0, 0}, []byte{60, 0, 1, 4, 0, 0, 0, 0}, []byte{60, 0, 1, 4, 0, 0, 0, 0},
				[]byte{6, 0, 1, 4, 0, 0, 0, 0}, tcp(1, 80, 0x02, 5)))),
		}
		frags := [][]byte{
			g.eth(0x0800, ip4(src, ipX, 17, udp(1, 9, []byte("01234567")), v4opt{fragOff: 0x2000})), // MF, first
			g.eth(0x0800, ip4(src, ipX, 17, []byte("01234567"), v4opt{fragOff: 1})),                 // later
			g.eth(0x86dd, ip6(netip.MustParseAddr("2001:db8:70::1"), ip6X, 44, append([]byte{17, 0, 0, 1, 0, 0, 0, 7}, udp(1, 9, nil)...))),
		}
		for _, drop := range []bool{false, true} {
			if err := f.Apply(Policy{DropMalformed: drop, DropFragments: drop}); err != nil {
				t.Fatal(err)
			}
			c := f.check(t)
			for _, fr := range frames {
				g.send(t, fr, 2)
			}
			for _, fr := range frags {
				g.send(t, fr, 3)
			}
			if drop {
				c.expect(map[string]uint64{"malformed": 14, "fragment": 9}, "passed")
			} else {
				// Counted as malformed but passed; fragments pass uncounted.
				c.expect(map[string]uint64{"malformed": 14, "passed": 9}, "fragment")
			}
		}
	})

	t.Run("timed block expires", func(t *testing.T) {
		if err := f.Apply(Policy{Deny: pfx("10.80.0.0/16")}); err != nil {
			t.Fatal(err)
		}
		if err := f.Block(pfx("10.77.0.0/24", "2001:db8:77::/64", "10.80.1.0/24"), 400*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		// A wider, longer block: the /24 inside it takes its deadline.
		if err := f.Block(pfx("10.77.0.0/16"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if b := f.Blocks(); len(b) != 4 {
			t.Errorf("Blocks() = %v, want 4", b)
		}
		if err := f.Block(nil, time.Second); err == nil {
			t.Error("Block with no prefix: no error")
		}
		if err := f.Block(pfx("10.1.0.0/16"), 0); err == nil {
			t.Error("Block with ttl 0: no error")
		}
		c := f.check(t)
		g.send(t, g.udp4("10.77.0.5", 9), 10)
		g.send(t, g.udp6("2001:db8:77::5", 9), 10)
		g.send(t, g.udp4("10.80.1.5", 9), 5) // inside the permanent deny
		c.expect(map[string]uint64{"blocked_ttl": 20, "denied_cidr": 5})
		// 10.77.0.0/16 for an hour still drops 10.77.0.5 after the /24's 400 ms.
		time.Sleep(500 * time.Millisecond)
		c = f.check(t)
		g.send(t, g.udp4("10.77.0.5", 9), 10)
		g.send(t, g.udp6("2001:db8:77::5", 9), 10)
		g.send(t, g.udp4("10.80.1.5", 9), 5)
		c.expect(map[string]uint64{"blocked_ttl": 10, "passed": 10, "denied_cidr": 5})
		time.Sleep(200 * time.Millisecond) // a sweep
		b := f.Blocks()
		if _, ok := b[netip.MustParsePrefix("10.77.0.0/16")]; len(b) != 1 || !ok {
			t.Errorf("Blocks() = %v, want only 10.77.0.0/16 left", b)
		}
		f.mu.Lock()
		n := len(f.denyCur)
		f.mu.Unlock()
		if n != 2 { // 10.80.0.0/16 and 10.77.0.0/16: the expired /24 and /64 are gone
			t.Errorf("deny tries hold %d entries after the sweep, want 2", n)
		}

		// A block inside a permanent deny takes over when the policy drops
		// the deny.
		if err := f.Apply(Policy{Deny: pfx("10.81.0.0/16")}); err != nil {
			t.Fatal(err)
		}
		if err := f.Block(pfx("10.81.1.0/24"), time.Hour); err != nil {
			t.Fatal(err)
		}
		c = f.check(t)
		g.send(t, g.udp4("10.81.1.1", 9), 4)
		c.expect(map[string]uint64{"denied_cidr": 4}, "blocked_ttl")
		if err := f.Apply(Policy{}); err != nil {
			t.Fatal(err)
		}
		c = f.check(t)
		g.send(t, g.udp4("10.81.1.1", 9), 4)
		g.send(t, g.udp4("10.81.2.1", 9), 4)
		c.expect(map[string]uint64{"blocked_ttl": 4, "passed": 4}, "denied_cidr")
	})

	t.Run("policy updates never reload the program", func(t *testing.T) {
		id, err := f.ProgramID()
		if err != nil {
			t.Fatal(err)
		}
		if id != progID {
			t.Fatalf("program id %d, was %d at Attach", id, progID)
		}
		out := run(t, "ip", "-n", tn.nsX, "-d", "link", "show", "vx")
		if !strings.Contains(out, "id "+strconv.Itoa(int(progID))) {
			t.Fatalf("vx does not run program %d:\n%s", progID, out)
		}
	})

	t.Run("bad policies", func(t *testing.T) {
		for _, p := range []Policy{
			{Deny: []netip.Prefix{{}}},
			{SYN: RateLimit{PacketsPerSecond: 10}},
			{DNS: RateLimit{PacketsPerSecond: MaxRate + 1, Burst: 1}},
		} {
			if err := f.Apply(p); err == nil {
				t.Errorf("Apply(%+v): no error", p)
			}
		}
	})

	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "ip", "-n", tn.nsX, "-d", "link", "show", "vx"); strings.Contains(out, "prog/xdp") {
		t.Fatalf("XDP still attached after Close:\n%s", out)
	}
	if err := f.Apply(Policy{}); err == nil {
		t.Error("Apply after Close: no error")
	}
}

func TestAttachErrors(t *testing.T) {
	if _, err := Attach(nil, Options{}); err == nil {
		t.Error("Attach with no interface: no error")
	}
	if _, err := Attach([]string{"a/b"}, Options{}); err == nil {
		t.Error("Attach with a bad name: no error")
	}
	tn := newTestNet(t)
	inNS(t, tn.nsX, func() error {
		_, err := Attach([]string{"nosuch0"}, Options{})
		if err == nil || !strings.Contains(err.Error(), "nosuch0") {
			return errors.New("Attach to a missing interface: want an error naming it, got " + errString(err))
		}
		// One good interface of two: attached, the other's error in Status.
		f, err := Attach([]string{"vx", "nosuch0"}, Options{Mode: ModeGeneric})
		if err != nil {
			return err
		}
		defer f.Close()
		st := f.Status()
		if st[0].Mode != "generic" || st[1].Error == "" {
			return errors.New("Status: want vx generic and nosuch0 with an error, got " + fmtStatus(st))
		}
		return nil
	})
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

func fmtStatus(st []IfaceStatus) string {
	var b strings.Builder
	for _, s := range st {
		b.WriteString(s.Name + ":" + s.Mode + ":" + s.Error + " ")
	}
	return b.String()
}

// TestSynCookieHelpers records whether the kernel offers the SYN cookie
// helpers to XDP (the filter's SYNCookies uses the IPv4 pair; TestSYNCookies).
func TestSynCookieHelpers(t *testing.T) {
	needRoot(t)
	for _, h := range []asm.BuiltinFunc{asm.FnTcpRawGenSyncookieIpv4, asm.FnTcpRawCheckSyncookieIpv4} {
		err := features.HaveProgramHelper(ebpf.XDP, h)
		t.Logf("%s from XDP: %v", h, errString(err))
	}
}
