//go:build linux

package udpproxy

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readBatch is how many client datagrams one recvmmsg reads (16 buffers of
// 64 KiB per listener).
const readBatch = 16

// batchReader reads client datagrams with recvmmsg: one system call for
// every datagram queued (up to readBatch), no allocation. Headers, buffers
// and address slots are made once (the same shape as node/dns's mmsgConn).
type batchReader struct {
	rc    syscall.RawConn
	hdrs  []unix.Mmsghdr
	iov   []unix.Iovec
	names []unix.RawSockaddrInet6
	bufs  [][]byte
	n     int
	errno syscall.Errno
	f     func(fd uintptr) bool // bound once: a closure per call would allocate
}

func newBatchReader(c *net.UDPConn) *batchReader {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	b := &batchReader{
		rc:    rc,
		hdrs:  make([]unix.Mmsghdr, readBatch),
		iov:   make([]unix.Iovec, readBatch),
		names: make([]unix.RawSockaddrInet6, readBatch),
		bufs:  make([][]byte, readBatch),
	}
	for i := range readBatch {
		b.bufs[i] = make([]byte, MaxDatagram)
		b.iov[i].Base = &b.bufs[i][0]
		b.iov[i].SetLen(MaxDatagram)
		b.hdrs[i].Hdr.Iov = &b.iov[i]
		b.hdrs[i].Hdr.SetIovlen(1)
		b.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	b.f = b.recvmmsg
	return b
}

// read waits for at least one datagram and returns how many it read.
func (b *batchReader) read() (int, error) {
	for i := range b.hdrs {
		b.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		b.hdrs[i].Hdr.Flags = 0
	}
	if err := b.rc.Read(b.f); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, os.NewSyscallError("recvmmsg", b.errno)
	}
	return b.n, nil
}

func (b *batchReader) recvmmsg(fd uintptr) bool {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)), unix.MSG_DONTWAIT, 0, 0)
		if e != unix.EINTR {
			b.n, b.errno = int(r), e
			return e != unix.EAGAIN
		}
	}
}

// packet is datagram i, nil when it was truncated (cannot happen with
// 64 KiB buffers, checked anyway).
func (b *batchReader) packet(i int) []byte {
	if b.hdrs[i].Hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil
	}
	return b.bufs[i][:b.hdrs[i].Len]
}

// from is the sender of datagram i (IPv4-mapped addresses unmapped; the
// invalid AddrPort for an unknown family).
func (b *batchReader) from(i int) netip.AddrPort {
	sa := &b.names[i]
	p := (*[2]byte)(unsafe.Pointer(&sa.Port)) // network byte order
	port := uint16(p[0])<<8 | uint16(p[1])
	switch sa.Family {
	case unix.AF_INET:
		v4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(v4.Addr), port)
	case unix.AF_INET6:
		a := netip.AddrFrom16(sa.Addr).Unmap()
		if sa.Scope_id != 0 {
			a = a.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10)) // rare: link-local senders
		}
		return netip.AddrPortFrom(a, port)
	}
	return netip.AddrPort{}
}
