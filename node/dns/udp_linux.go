//go:build linux

package dns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsgConn moves batches of datagrams with recvmmsg/sendmmsg on the socket's
// file descriptor. Every header, iovec, buffer and address slot is allocated
// once and a reply reuses the sender's sockaddr as the kernel wrote it, so
// a batch costs two system calls and no allocation (x/net's ReadBatch parses
// a *net.UDPAddr per datagram and WriteBatch marshals it back).
type mmsgConn struct {
	rc syscall.RawConn

	in     []unix.Mmsghdr
	inIov  []unix.Iovec
	names  []unix.RawSockaddrInet6 // room for either family
	inBuf  [][]byte
	out    []unix.Mmsghdr
	outIov []unix.Iovec
	outBuf [][]byte

	// the callbacks' inputs and results; bound once so RawConn.Read/Write
	// get the same func value every time (a closure would allocate).
	n, first, last int
	errno          syscall.Errno
	recvF, sendF   func(fd uintptr) bool
}

// listenUDPShared opens n UDP sockets on one address with SO_REUSEPORT (a
// port 0 in addr is the one the first socket gets).
//
// The first socket binds without SO_REUSEPORT and sets it once bound: a
// port held by another process's SO_REUSEPORT group (any socket of the same
// user) is then "address already in use", as without the option, instead
// of a silent join that splits the queries between two servers. A port 0
// bind with the option set may even pick such a port (Linux skips only
// ports it could not share), which made two test servers answer each
// other's queries.
func listenUDPShared(addr *net.UDPAddr, n int) ([]*net.UDPConn, error) {
	reusePort := func(rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}
	first, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, err
	}
	conns := []*net.UDPConn{first}
	fail := func(err error) ([]*net.UDPConn, error) {
		for _, c := range conns {
			c.Close()
		}
		return nil, err
	}
	rc, err := first.SyscallConn()
	if err != nil {
		return fail(err)
	}
	if err := reusePort(rc); err != nil {
		return fail(fmt.Errorf("SO_REUSEPORT: %w", err))
	}
	addr = first.LocalAddr().(*net.UDPAddr)
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error { return reusePort(rc) }}
	for len(conns) < n {
		pc, err := lc.ListenPacket(context.Background(), "udp", addr.String())
		if err != nil {
			return fail(err)
		}
		conns = append(conns, pc.(*net.UDPConn))
	}
	return conns, nil
}

func newBatchConn(c *net.UDPConn, batch int) (batchConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("dns: udp raw conn: %w", err)
	}
	m := &mmsgConn{
		rc:     rc,
		in:     make([]unix.Mmsghdr, batch),
		inIov:  make([]unix.Iovec, batch),
		names:  make([]unix.RawSockaddrInet6, batch),
		inBuf:  make([][]byte, batch),
		out:    make([]unix.Mmsghdr, batch),
		outIov: make([]unix.Iovec, batch),
		outBuf: make([][]byte, batch),
	}
	for i := range batch {
		m.inBuf[i] = make([]byte, udpBufSize)
		m.outBuf[i] = make([]byte, udpBufSize)
		m.inIov[i].Base = &m.inBuf[i][0]
		m.inIov[i].SetLen(udpBufSize)
		m.in[i].Hdr.Iov = &m.inIov[i]
		m.in[i].Hdr.SetIovlen(1)
		m.in[i].Hdr.Name = (*byte)(unsafe.Pointer(&m.names[i]))
		m.outIov[i].Base = &m.outBuf[i][0]
		m.out[i].Hdr.Iov = &m.outIov[i]
		m.out[i].Hdr.SetIovlen(1)
	}
	m.recvF, m.sendF = m.recvmmsg, m.sendmmsg
	return m, nil
}

// recv waits for at least one datagram and returns how many it read.
func (m *mmsgConn) recv() (int, error) {
	for i := range m.in {
		m.in[i].Hdr.Namelen = unix.SizeofSockaddrInet6
	}
	if err := m.rc.Read(m.recvF); err != nil {
		return 0, err
	}
	if m.errno != 0 {
		return 0, os.NewSyscallError("recvmmsg", m.errno)
	}
	return m.n, nil
}

// The socket is non-blocking: on EAGAIN the callback returns false and the
// runtime's poller waits for readiness (writability) before calling again.
func (m *mmsgConn) recvmmsg(fd uintptr) bool {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&m.in[0])), uintptr(len(m.in)), unix.MSG_DONTWAIT, 0, 0)
		if e != unix.EINTR {
			m.n, m.errno = int(r), e
			return e != unix.EAGAIN
		}
	}
}

func (m *mmsgConn) sendmmsg(fd uintptr) bool {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&m.out[m.first])), uintptr(m.last-m.first), unix.MSG_DONTWAIT, 0, 0)
		if e != unix.EINTR {
			m.n, m.errno = int(r), e
			return e != unix.EAGAIN
		}
	}
}

func (m *mmsgConn) packet(i int) []byte {
	if m.in[i].Hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil // larger than any query we answer: drop
	}
	return m.inBuf[i][:m.in[i].Len]
}

func (m *mmsgConn) reply(k int) []byte { return m.outBuf[k] }

func (m *mmsgConn) queue(k, i, n int) {
	m.out[k].Hdr.Name = m.in[i].Hdr.Name
	m.out[k].Hdr.Namelen = m.in[i].Hdr.Namelen
	m.outIov[k].SetLen(n)
}

// flush sends replies [0, k). A datagram the kernel refuses (the error is
// about that one message) is skipped so the rest of the batch still goes.
func (m *mmsgConn) flush(k int) error {
	for m.first = 0; m.first < k; {
		m.last = k
		if err := m.rc.Write(m.sendF); err != nil {
			return err
		}
		if m.errno != 0 {
			m.first++
			continue
		}
		m.first += m.n
	}
	return nil
}

func (m *mmsgConn) from(i int) netip.AddrPort {
	sa := &m.names[i]
	p := (*[2]byte)(unsafe.Pointer(&sa.Port)) // network byte order
	port := uint16(p[0])<<8 | uint16(p[1])
	switch sa.Family {
	case unix.AF_INET:
		v4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(v4.Addr), port)
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}
