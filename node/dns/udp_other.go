//go:build !linux

package dns

import (
	"net"
	"net/netip"
)

// singleConn reads and writes one datagram per system call where
// recvmmsg/sendmmsg do not exist.
type singleConn struct {
	c       *net.UDPConn
	in, out []byte
	n       int
	src     netip.AddrPort
	size    int
}

// listenUDPShared opens one socket: SO_REUSEPORT spreading is Linux only.
func listenUDPShared(addr *net.UDPAddr, _ int) ([]*net.UDPConn, error) {
	c, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, err
	}
	return []*net.UDPConn{c}, nil
}

func newBatchConn(c *net.UDPConn, _ int) (batchConn, error) {
	return &singleConn{c: c, in: make([]byte, udpBufSize), out: make([]byte, udpBufSize)}, nil
}

func (s *singleConn) recv() (int, error) {
	n, src, err := s.c.ReadFromUDPAddrPort(s.in)
	if err != nil {
		return 0, err
	}
	s.n, s.src = n, src
	return 1, nil
}

func (s *singleConn) packet(int) []byte       { return s.in[:s.n] }
func (s *singleConn) reply(int) []byte        { return s.out }
func (s *singleConn) queue(_, _, n int)       { s.size = n }
func (s *singleConn) from(int) netip.AddrPort { return s.src }
func (s *singleConn) flush(int) error {
	_, err := s.c.WriteToUDPAddrPort(s.out[:s.size], s.src)
	return err
}
