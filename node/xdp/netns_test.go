package xdp

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testNet is two network namespaces joined by a veth pair: the filter runs on
// vx in ns X (which has the listeners), the packet generator writes frames
// with AF_PACKET on vg in ns G.
type testNet struct {
	nsX, nsG string
	macX     net.HardwareAddr
	macG     net.HardwareAddr
}

var (
	ipX  = netip.MustParseAddr("10.0.0.1")
	ipG  = netip.MustParseAddr("10.0.0.2")
	ip6X = netip.MustParseAddr("fd00::1")
)

var nsSeq atomic.Int32

// needRoot skips without root or network namespaces, and fails instead
// under CI=true, where they are expected.
func needRoot(t testing.TB) {
	t.Helper()
	skip := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s", why)
		}
		t.Skip(why)
	}
	if os.Geteuid() != 0 {
		skip("the XDP tests need root (network namespaces, BPF)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		skip("the XDP tests need iproute2's ip")
	}
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newTestNet(t testing.TB) *testNet {
	t.Helper()
	needRoot(t)
	n := nsSeq.Add(1)
	tn := &testNet{
		nsX: fmt.Sprintf("strata-xdp-%d-%d-x", os.Getpid(), n),
		nsG: fmt.Sprintf("strata-xdp-%d-%d-g", os.Getpid(), n),
	}
	if out, err := exec.Command("ip", "netns", "add", tn.nsX).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ip netns add: %v %s", err, out)
		}
		t.Skipf("no network namespaces here: ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", tn.nsX).Run() })
	run(t, "ip", "netns", "add", tn.nsG)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", tn.nsG).Run() })
	// No IPv6 stack on the generator's side: its neighbour discovery and MLD
	// frames would reach the filter between the test's own (which AF_PACKET
	// writes, IPv6 ones included).
	run(t, "ip", "netns", "exec", tn.nsG, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	run(t, "ip", "-n", tn.nsX, "link", "add", "vx", "type", "veth", "peer", "name", "vg", "netns", tn.nsG)
	run(t, "ip", "-n", tn.nsX, "addr", "add", "10.0.0.1/24", "dev", "vx")
	run(t, "ip", "-n", tn.nsX, "addr", "add", "fd00::1/64", "dev", "vx", "nodad")
	run(t, "ip", "-n", tn.nsG, "addr", "add", "10.0.0.2/24", "dev", "vg")
	for _, ns := range []string{tn.nsX, tn.nsG} {
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	run(t, "ip", "-n", tn.nsX, "link", "set", "vx", "up")
	run(t, "ip", "-n", tn.nsG, "link", "set", "vg", "up")
	// Spoofed sources must reach the sockets: no reverse-path filter.
	run(t, "ip", "netns", "exec", tn.nsX, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.vx.rp_filter=0")
	inNS(t, tn.nsX, func() error {
		ifc, err := net.InterfaceByName("vx")
		tn.macX = ifc.HardwareAddr
		return err
	})
	inNS(t, tn.nsG, func() error {
		ifc, err := net.InterfaceByName("vg")
		tn.macG = ifc.HardwareAddr
		return err
	})
	return tn
}

// inNS runs fn on an OS thread moved into the namespace. Sockets fn opens
// stay in it; the thread is thrown away afterwards (the goroutine exits
// still locked).
func inNS(t testing.TB, ns string, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		t.Fatalf("in netns %s: %v", ns, err)
	}
}

// gen writes raw Ethernet frames on vg.
type gen struct {
	fd       int
	src, dst net.HardwareAddr
}

func (tn *testNet) gen(t testing.TB) *gen {
	g := &gen{src: tn.macG, dst: tn.macX}
	inNS(t, tn.nsG, func() error {
		ifc, err := net.InterfaceByName("vg")
		if err != nil {
			return err
		}
		// Protocol 0: this socket only sends.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifc.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		g.fd = fd
		return nil
	})
	t.Cleanup(func() { unix.Close(g.fd) })
	return g
}

func (g *gen) send(t testing.TB, frame []byte, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := unix.Write(g.fd, frame); err != nil {
			if err == unix.ENOBUFS {
				time.Sleep(time.Millisecond)
				i--
				continue
			}
			t.Fatalf("sending frame %d: %v", i, err)
		}
	}
}

// Frame builders. Only the IPv4 header checksum is computed: the filter
// reads no other, and the frames meant for sockets are UDP over IPv4 with
// the checksum 0 (none).

func (g *gen) eth(etype uint16, payload []byte) []byte {
	b := append(append(append([]byte{}, g.dst...), g.src...), byte(etype>>8), byte(etype))
	return append(b, payload...)
}

func (g *gen) vlan(id uint16, etype uint16, payload []byte) []byte {
	b := append(append(append([]byte{}, g.dst...), g.src...), 0x81, 0x00, byte(id>>8), byte(id), byte(etype>>8), byte(etype))
	return append(b, payload...)
}

func csum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

type v4opt struct {
	fragOff uint16 // flags and offset word as sent
	ihl     int    // 0 means 5
}

func ip4(src, dst netip.Addr, proto byte, payload []byte, o v4opt) []byte {
	ihl := o.ihl
	if ihl == 0 {
		ihl = 5
	}
	h := make([]byte, 20)
	h[0] = 0x40 | byte(ihl)
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(h[6:], o.fragOff)
	h[8] = 64
	h[9] = proto
	s, d := src.As4(), dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	binary.BigEndian.PutUint16(h[10:], csum(h))
	return append(h, payload...)
}

func ip6(src, dst netip.Addr, next byte, payload []byte) []byte {
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	h[6] = next
	h[7] = 64
	s, d := src.As16(), dst.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(h, payload...)
}

func udp(sport, dport uint16, data []byte) []byte {
	h := make([]byte, 8)
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(data)))
	return append(h, data...)
}

func tcp(sport, dport uint16, flags byte, doff byte) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint32(h[4:], 12345)
	h[12] = doff << 4
	h[13] = flags
	binary.BigEndian.PutUint16(h[14:], 65535)
	return h
}

func echo(typ byte) []byte { return []byte{typ, 0, 0, 0, 0, 1, 0, 1, 'p', 'i', 'n', 'g'} }

func (g *gen) udp4(src string, dport uint16) []byte {
	return g.eth(0x0800, ip4(netip.MustParseAddr(src), ipX, 17, udp(40000, dport, []byte("hello")), v4opt{}))
}

func (g *gen) udp6(src string, dport uint16) []byte {
	return g.eth(0x86dd, ip6(netip.MustParseAddr(src), ip6X, 17, udp(40000, dport, []byte("hello"))))
}

func (g *gen) syn4(src string, dport uint16) []byte {
	return g.eth(0x0800, ip4(netip.MustParseAddr(src), ipX, 6, tcp(40000, dport, 0x02, 5), v4opt{}))
}
