package xdp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tcpExt reads the namespace's TcpExt counters (nstat's names without the
// prefix) from a thread inside it.
func tcpExt(t *testing.T, ns string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	inNS(t, ns, func() error {
		fh, err := os.Open("/proc/thread-self/net/netstat")
		if err != nil {
			return err
		}
		defer fh.Close()
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			names := strings.Fields(sc.Text())
			if !sc.Scan() {
				break
			}
			vals := strings.Fields(sc.Text())
			if len(names) == 0 || names[0] != "TcpExt:" || len(vals) != len(names) {
				continue
			}
			for i := 1; i < len(names); i++ {
				v, _ := strconv.ParseUint(vals[i], 10, 64)
				out[names[i]] = v
			}
		}
		return sc.Err()
	})
	return out
}

func readSysctlIn(t *testing.T, ns string) string {
	t.Helper()
	var v string
	inNS(t, ns, func() error {
		b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_syncookies")
		v = strings.TrimSpace(string(b))
		return err
	})
	return v
}

// synAcks counts the SYN-ACKs from ipX or ip6X arriving on vg in ns G.
type synAcks struct {
	fd      int
	lastSeq uint32 // the sequence number (cookie) of the last one counted
}

func (tn *testNet) synAckCounter(t *testing.T) *synAcks {
	s := &synAcks{}
	inNS(t, tn.nsG, func() error {
		ifc, err := net.InterfaceByName("vg")
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		// The kernel's own SYN-ACKs leave vx with the TCP checksum to
		// fill in (veth offload): auxdata tells them apart.
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			unix.Close(fd)
			return err
		}
		// Room for the whole flood's replies.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
			unix.Close(fd)
			return err
		}
		tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
		s.fd = fd
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	t.Cleanup(func() { unix.Close(s.fd) })
	return s
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// count reads until the socket is quiet for 200 ms and checks each SYN-ACK
// from 10.0.0.1:port to 10.0.0.2:40000: both checksums, ack = 12345+1.
func (s *synAcks) count(t *testing.T, port uint16) (n int, mss map[uint16]int) {
	t.Helper()
	mss = map[uint16]int{}
	buf, oob := make([]byte, 2048), make([]byte, 256)
	for {
		m, oobn, _, _, err := unix.Recvmsg(s.fd, buf, oob, 0)
		if err != nil {
			if err == unix.EAGAIN || err == unix.EINTR {
				return n, mss
			}
			t.Fatal(err)
		}
		fr := buf[:m] // SOCK_RAW on AF_PACKET keeps the Ethernet header
		if len(fr) < 14+40 {
			continue
		}
		var th, pseudo []byte
		switch ip := fr[14:]; {
		case fr[12] == 0x08 && fr[13] == 0x00:
			if ip[9] != 6 || string(ip[12:16]) != string(ipX.AsSlice()) {
				continue
			}
			th = ip[20 : int(ip[2])<<8|int(ip[3])]
			if csum(ip[:20]) != 0 {
				t.Errorf("SYN-ACK %d: bad IP checksum", n)
			}
			pseudo = append(append([]byte{}, ip[12:20]...), 0, 6, byte(len(th)>>8), byte(len(th)))
		case fr[12] == 0x86 && fr[13] == 0xdd:
			if ip[6] != 6 || string(ip[8:24]) != string(ip6X.AsSlice()) {
				continue
			}
			th = ip[40 : 40+(int(ip[4])<<8|int(ip[5]))]
			pseudo = append(append([]byte{}, ip[8:40]...), 0, 0, byte(len(th)>>8), byte(len(th)), 0, 0, 0, 6)
		default:
			continue
		}
		if th[13] != 0x12 || uint16(th[0])<<8|uint16(th[1]) != port {
			continue
		}
		if csumNotReady(oob[:oobn]) {
			mss[0xffff]++ // not checked; ours come from XDP complete
		} else if csum(append(pseudo, th...)) != 0 {
			t.Errorf("SYN-ACK %d: bad TCP checksum", n)
		}
		s.lastSeq = uint32(th[4])<<24 | uint32(th[5])<<16 | uint32(th[6])<<8 | uint32(th[7])
		if ack := uint32(th[8])<<24 | uint32(th[9])<<16 | uint32(th[10])<<8 | uint32(th[11]); ack != 12346 {
			t.Errorf("SYN-ACK %d: ack %d, want 12346", n, ack)
		}
		if len(th) == 24 && th[20] == 2 && th[21] == 4 {
			mss[uint16(th[22])<<8|uint16(th[23])]++
		} else {
			mss[0]++
		}
		n++
	}
}

func csumNotReady(oob []byte) bool {
	msgs, _ := unix.ParseSocketControlMessage(oob)
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= 4 {
			status := uint32(m.Data[0]) | uint32(m.Data[1])<<8 | uint32(m.Data[2])<<16 | uint32(m.Data[3])<<24
			return status&unix.TP_STATUS_CSUMNOTREADY != 0
		}
	}
	return false
}

// tcp6 is a TCP segment over IPv6 from src to ip6X with a correct checksum.
func (g *gen) tcp6(src netip.Addr, dport uint16, flags byte, seq, ack uint32, opts []byte) []byte {
	h := tcp(40000, dport, flags, byte(5+len(opts)/4))
	binary.BigEndian.PutUint32(h[4:], seq)
	binary.BigEndian.PutUint32(h[8:], ack)
	h = append(h, opts...)
	s, d := src.As16(), ip6X.As16()
	pseudo := append(append(s[:], d[:]...), 0, 0, 0, byte(len(h)), 0, 0, 0, 6)
	binary.BigEndian.PutUint16(h[16:], csum(append(pseudo, h...)))
	return g.eth(0x86dd, ip6(src, ip6X, 6, h))
}

// synWithMSS is the generator's SYN with an MSS option (doff 6).
func (g *gen) synWithMSS(src string, dport uint16, mss uint16) []byte {
	h := tcp(40000, dport, 0x02, 6)
	h = append(h, 2, 4, byte(mss>>8), byte(mss))
	// A correct TCP checksum: the SYNs under the limit reach the kernel.
	s := netip.MustParseAddr(src).As4()
	d := ipX.As4()
	pseudo := append(append(s[:], d[:]...), 0, 6, 0, byte(len(h)))
	c := csum(append(pseudo, h...))
	h[16], h[17] = byte(c>>8), byte(c)
	return g.eth(0x0800, ip4(netip.MustParseAddr(src), ipX, 6, h, v4opt{}))
}

func TestSYNCookies(t *testing.T) {
	tn := newTestNet(t)
	// No allow list: the flood and the client share 10.0.0.2.
	f := attachTest(t, tn, Options{})
	// veth sends an XDP_TX frame to its peer only when the peer runs XDP
	// too: a filter passing everything on vg.
	attachPeer(t, tn)
	before := readSysctlIn(t, tn.nsX)
	if err := f.Apply(Policy{SYN: RateLimit{1, 5}, SYNCookies: true}); err != nil {
		t.Fatal(err)
	}
	if e := f.SYNCookieError(); e != "" {
		t.Fatalf("SYNCookieError() = %q", e)
	}
	if v := readSysctlIn(t, tn.nsX); v != "2" {
		t.Fatalf("tcp_syncookies in the filter's namespace = %s, want 2", v)
	}
	var ln net.Listener
	inNS(t, tn.nsX, func() error {
		var err error
		ln, err = net.Listen("tcp4", "10.0.0.1:0")
		return err
	})
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	g := tn.gen(t)
	peer := tn.synAckCounter(t)

	ext0 := tcpExt(t, tn.nsX)
	c := f.check(t)
	start := time.Now()
	g.send(t, g.synWithMSS("10.0.0.2", port, 1460), 1000)
	elapsed := time.Since(start)
	exact := elapsed < time.Second
	if exact {
		c.expect(map[string]uint64{"syn_cookie_sent": 995}, "syn_rate", "syn_cookie_ack_ok")
	} else {
		t.Logf("sending took %s: the bucket refilled, no exact count", elapsed)
	}
	sent := c.delta()["syn_cookie_sent"]
	// The 5 of the burst reach the kernel, which answers with its own
	// cookies (tcp_syncookies=2): SYN-ACKs to the same port too.
	n, mss := peer.count(t, port)
	ext1 := tcpExt(t, tn.nsX)
	kernel := ext1["SyncookiesSent"] - ext0["SyncookiesSent"]
	if kernel != 5 && exact {
		t.Errorf("the kernel sent %d cookies itself, want the 5 SYNs of the burst only", kernel)
	}
	if n != int(sent+kernel) {
		t.Errorf("the peer got %d SYN-ACKs, want the filter's %d and the kernel's %d (MSS %v)", n, sent, kernel, mss)
	}
	if mss[0xffff] != int(kernel) {
		t.Errorf("%d SYN-ACKs without their TCP checksum, want the kernel's %d", mss[0xffff], kernel)
	}
	if mss[1460] != n {
		t.Errorf("SYN-ACK MSS options %v, want all 1460", mss)
	}
	if d := ext1["ListenOverflows"] - ext0["ListenOverflows"]; d != 0 {
		t.Errorf("ListenOverflows +%d", d)
	}

	// A real client from the same source, over the limit: its SYN gets
	// the filter's cookie, its ACK passes and the listener accepts it.
	// Burst 1 from now on: the bucket (5 s ahead after the burst) keeps
	// the source over the limit for seconds, however slow this machine.
	if err := f.Apply(Policy{SYN: RateLimit{1, 1}, SYNCookies: true}); err != nil {
		t.Fatal(err)
	}
	accepted := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			accepted <- err
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(3 * time.Second))
		b := make([]byte, 5)
		if _, err := io.ReadFull(conn, b); err != nil {
			accepted <- err
			return
		}
		_, err = conn.Write([]byte("pong:" + string(b)))
		accepted <- err
	}()
	c = f.check(t)
	var reply string
	inNS(t, tn.nsG, func() error {
		conn, err := net.DialTimeout("tcp4", ln.Addr().String(), 3*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := conn.Write([]byte("hello")); err != nil {
			return err
		}
		b := make([]byte, 10)
		if _, err := io.ReadFull(conn, b); err != nil {
			return fmt.Errorf("reading the reply: %w", err)
		}
		reply = string(b)
		return nil
	})
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	if reply != "pong:hello" {
		t.Errorf("reply %q", reply)
	}
	c.expect(map[string]uint64{"syn_cookie_sent": 1, "syn_cookie_ack_ok": 1}, "syn_rate")
	ext2 := tcpExt(t, tn.nsX)
	if d := ext2["SyncookiesRecv"] - ext1["SyncookiesRecv"]; d != 1 {
		t.Errorf("the kernel validated %d cookies, want the client's 1", d)
	}
	if d := ext2["SyncookiesFailed"] - ext1["SyncookiesFailed"]; d != 0 {
		t.Errorf("SyncookiesFailed +%d", d)
	}

	// Off again: SYNs over the limit are dropped, the sysctl is back.
	if err := f.Apply(Policy{SYN: RateLimit{1, 5}}); err != nil {
		t.Fatal(err)
	}
	if v := readSysctlIn(t, tn.nsX); v != before {
		t.Errorf("tcp_syncookies %s after turning the cookies off, want %s", v, before)
	}
	c = f.check(t)
	g.send(t, g.synWithMSS("10.0.0.2", port, 1460), 20)
	c.expect(map[string]uint64{"syn_rate": 20}, "syn_cookie_sent", "syn_cookie_ack_ok")

	// The node cannot set the sysctl: the switch stays off and says why.
	saved := f.sysctlErr
	f.sysctlErr = errors.New("read-only file system")
	if err := f.Apply(Policy{SYN: RateLimit{1, 5}, SYNCookies: true}); err != nil {
		t.Fatal(err)
	}
	if e := f.SYNCookieError(); !strings.Contains(e, "SYN cookies off") || !strings.Contains(e, "read-only") {
		t.Errorf("SYNCookieError() = %q", e)
	}
	c = f.check(t)
	g.send(t, g.synWithMSS("10.0.0.2", port, 1460), 20)
	c.expect(map[string]uint64{"syn_rate": 20}, "syn_cookie_sent")
	f.sysctlErr = saved

	// On, then Close restores it.
	if err := f.Apply(Policy{SYN: RateLimit{1, 5}, SYNCookies: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if v := readSysctlIn(t, tn.nsX); v != before {
		t.Errorf("tcp_syncookies %s after Close, want %s", v, before)
	}
	if err := f.Apply(Policy{SYNCookies: true}); err == nil {
		t.Error("SYNCookies without a SYN limit: no error")
	}
}

func attachPeer(t *testing.T, tn *testNet) {
	t.Helper()
	inNS(t, tn.nsG, func() error {
		p, err := Attach([]string{"vg"}, Options{})
		if err == nil {
			t.Cleanup(func() { p.Close() })
		}
		return err
	})
}

// TestSYNCookiesIPv6: the generator's side has no IPv6 stack, so it plays
// the client itself: 1,000 SYNs, then the ACK of the cookie it got back,
// which the listener accepts.
func TestSYNCookiesIPv6(t *testing.T) {
	tn := newTestNet(t)
	f := attachTest(t, tn, Options{})
	attachPeer(t, tn)
	if err := f.Apply(Policy{SYN: RateLimit{1, 5}, SYNCookies: true}); err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	inNS(t, tn.nsX, func() error {
		var err error
		ln, err = net.Listen("tcp6", "[fd00::1]:0")
		return err
	})
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	g := tn.gen(t)
	peer := tn.synAckCounter(t)
	src := netip.MustParseAddr("fd00::2")

	ext0 := tcpExt(t, tn.nsX)
	c := f.check(t)
	start := time.Now()
	g.send(t, g.tcp6(src, port, 0x02, 12345, 0, []byte{2, 4, 0x05, 0x8c}), 1000) // MSS 1420
	if time.Since(start) < time.Second {
		c.expect(map[string]uint64{"syn_cookie_sent": 995}, "syn_rate", "syn_cookie_ack_ok")
	}
	sent := c.delta()["syn_cookie_sent"]
	// The kernel's 5 SYN-ACKs wait for a neighbour the peer never answers.
	n, mss := peer.count(t, port)
	// 1420 is in the kernel's IPv6 cookie MSS table (1220, 1420, 1440, 8940).
	if n != int(sent) || mss[1420] != n {
		t.Errorf("the peer got %d SYN-ACKs (MSS %v), want the filter's %d with MSS 1420", n, mss, sent)
	}
	if d := tcpExt(t, tn.nsX)["SyncookiesSent"] - ext0["SyncookiesSent"]; d != 5 && sent == 995 {
		t.Errorf("the kernel sent %d cookies itself, want the 5 SYNs of the burst only", d)
	}

	accepted := make(chan net.Addr, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- conn.RemoteAddr()
		conn.Close()
	}()
	c = f.check(t)
	g.send(t, g.tcp6(src, port, 0x10, 12346, peer.lastSeq+1, nil), 1)
	select {
	case addr := <-accepted:
		if addr == nil || addr.String() != "[fd00::2]:40000" {
			t.Fatalf("accepted %v, want [fd00::2]:40000", addr)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the listener did not accept the cookie's ACK")
	}
	c.expect(map[string]uint64{"syn_cookie_ack_ok": 1}, "syn_cookie_sent", "syn_rate")
	// A cookie from another time (its top byte is the minute counter) is
	// not counted; the low bits are the MSS index, so +1 there would be
	// a valid cookie too.
	c = f.check(t)
	g.send(t, g.tcp6(src, port, 0x10, 12346, peer.lastSeq+1+0x80000000, nil), 1)
	c.expect(map[string]uint64{"passed": 1}, "syn_cookie_ack_ok")
}
