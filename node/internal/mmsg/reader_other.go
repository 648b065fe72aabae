//go:build !linux

package mmsg

import (
	"net"
	"net/netip"
)

// Reader reads one datagram per system call where recvmmsg does not exist:
// every batch has one slot.
type Reader struct {
	c   *net.UDPConn
	buf []byte
	n   int
	src netip.AddrPort
}

// NewReader makes a Reader of one slot of size bytes.
func NewReader(c *net.UDPConn, _, size int) (*Reader, error) {
	return &Reader{c: c, buf: make([]byte, size)}, nil
}

// Read waits for a datagram and returns 1.
func (r *Reader) Read() (int, error) {
	n, src, err := r.c.ReadFromUDPAddrPort(r.buf)
	if err != nil {
		return 0, err
	}
	r.n, r.src = n, src
	return 1, nil
}

// Packet is the datagram last read.
func (r *Reader) Packet(int) []byte { return r.buf[:r.n] }

// From is the sender of the datagram last read.
func (r *Reader) From(int) netip.AddrPort { return r.src }
