//go:build linux

package dns

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/strata-edge/strata/node/internal/mmsg"
)

// mmsgConn moves batches of datagrams with recvmmsg (mmsg.Reader) and
// sendmmsg on the socket's file descriptor. A reply reuses the sender's
// sockaddr as the kernel wrote it, so a batch costs two system calls and no
// allocation.
type mmsgConn struct {
	*mmsg.Reader
	rc     syscall.RawConn
	out    []unix.Mmsghdr
	outIov []unix.Iovec
	outBuf [][]byte

	// sendmmsg's inputs and results; bound once so RawConn.Write gets the
	// same func value every time (a closure would allocate).
	n, first, last int
	errno          syscall.Errno
	sendF          func(fd uintptr) bool
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
	r, err := mmsg.NewReader(c, batch, udpBufSize)
	if err != nil {
		return nil, fmt.Errorf("dns: udp raw conn: %w", err)
	}
	m := &mmsgConn{
		Reader: r,
		rc:     rc,
		out:    make([]unix.Mmsghdr, batch),
		outIov: make([]unix.Iovec, batch),
		outBuf: make([][]byte, batch),
	}
	for i := range batch {
		m.outBuf[i] = make([]byte, udpBufSize)
		m.outIov[i].Base = &m.outBuf[i][0]
		m.out[i].Hdr.Iov = &m.outIov[i]
		m.out[i].Hdr.SetIovlen(1)
	}
	m.sendF = m.sendmmsg
	return m, nil
}

func (m *mmsgConn) sendmmsg(fd uintptr) bool {
	var done bool
	m.n, m.errno, done = mmsg.Call(unix.SYS_SENDMMSG, fd, m.out[m.first:m.last])
	return done
}

func (m *mmsgConn) reply(k int) []byte { return m.outBuf[k] }

func (m *mmsgConn) queue(k, i, n int) {
	m.out[k].Hdr.Name, m.out[k].Hdr.Namelen = m.Name(i)
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
