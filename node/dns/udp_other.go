//go:build !linux

package dns

import (
	"errors"
	"net"

	"github.com/strata-edge/strata/node/internal/mmsg"
)

// singleConn reads and writes one datagram per system call where
// recvmmsg/sendmmsg do not exist.
type singleConn struct {
	*mmsg.Reader
	c    *net.UDPConn
	out  []byte
	size int
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
	r, err := mmsg.NewReader(c, 1, udpBufSize)
	if err != nil {
		return nil, err
	}
	return &singleConn{Reader: r, c: c, out: make([]byte, udpBufSize)}, nil
}

func (s *singleConn) reply(int) []byte  { return s.out }
func (s *singleConn) queue(_, _, n int) { s.size = n }
func (s *singleConn) flush(int) error {
	_, err := s.c.WriteToUDPAddrPort(s.out[:s.size], s.From(0))
	return err
}

var errLinuxOnly = errors.New("dns: UDPSteerCPU and UDPPin are Linux only")

func steerByCPU(*net.UDPConn, int) error { return errLinuxOnly }

func pinToCPU(int) (int, error) { return 0, errLinuxOnly }
