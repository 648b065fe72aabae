//go:build linux

package mmsg

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reader reads datagrams with recvmmsg on the socket's file descriptor.
// Every header, iovec, buffer and address slot is allocated once, so a batch
// costs one system call and no allocation (x/net's ReadBatch parses a
// *net.UDPAddr per datagram).
type Reader struct {
	rc    syscall.RawConn
	hdrs  []unix.Mmsghdr
	iov   []unix.Iovec
	names []unix.RawSockaddrInet6 // room for either family
	bufs  [][]byte
	n     int
	errno syscall.Errno
	f     func(fd uintptr) bool // bound once: a closure per call would allocate
}

// NewReader makes a Reader of batch slots of size bytes each.
func NewReader(c *net.UDPConn, batch, size int) (*Reader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &Reader{
		rc:    rc,
		hdrs:  make([]unix.Mmsghdr, batch),
		iov:   make([]unix.Iovec, batch),
		names: make([]unix.RawSockaddrInet6, batch),
		bufs:  make([][]byte, batch),
	}
	for i := range batch {
		r.bufs[i] = make([]byte, size)
		r.iov[i].Base = &r.bufs[i][0]
		r.iov[i].SetLen(size)
		r.hdrs[i].Hdr.Iov = &r.iov[i]
		r.hdrs[i].Hdr.SetIovlen(1)
		r.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
	}
	r.f = r.recvmmsg
	return r, nil
}

// Read waits for at least one datagram and returns how many it read.
func (r *Reader) Read() (int, error) {
	for i := range r.hdrs {
		r.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		r.hdrs[i].Hdr.Flags = 0
	}
	if err := r.rc.Read(r.f); err != nil {
		return 0, err
	}
	if r.errno != 0 {
		return 0, os.NewSyscallError("recvmmsg", r.errno)
	}
	return r.n, nil
}

func (r *Reader) recvmmsg(fd uintptr) bool {
	r.n, r.errno, _ = Call(unix.SYS_RECVMMSG, fd, r.hdrs)
	return r.errno != unix.EAGAIN
}

// Call runs recvmmsg or sendmmsg (trap) on hdrs without blocking, again on
// EINTR. The socket is non-blocking: on EAGAIN a RawConn callback returns
// false and the runtime's poller waits for readiness before calling again.
func Call(trap, fd uintptr, hdrs []unix.Mmsghdr) (int, syscall.Errno, bool) {
	for {
		r, _, e := unix.RawSyscall6(trap, fd, uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)), unix.MSG_DONTWAIT, 0, 0)
		if e != unix.EINTR {
			return int(r), e, e != unix.EAGAIN
		}
	}
}

// Packet is datagram i, nil when it was larger than its slot.
func (r *Reader) Packet(i int) []byte {
	if r.hdrs[i].Hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil
	}
	return r.bufs[i][:r.hdrs[i].Len]
}

// Name is the sender of datagram i as the kernel wrote it, for a sendmmsg
// header that answers it.
func (r *Reader) Name(i int) (*byte, uint32) { return r.hdrs[i].Hdr.Name, r.hdrs[i].Hdr.Namelen }

// From is the sender of datagram i (IPv4-mapped addresses unmapped; the
// invalid AddrPort for an unknown family).
func (r *Reader) From(i int) netip.AddrPort {
	sa := &r.names[i]
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
