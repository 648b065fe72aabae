//go:build !linux

package udpproxy

import (
	"net"
	"net/netip"
)

// batchReader exists on Linux only (recvmmsg); elsewhere Serve reads one
// datagram per system call.
type batchReader struct{}

func newBatchReader(*net.UDPConn) *batchReader { return nil }

func (*batchReader) read() (int, error)      { return 0, nil }
func (*batchReader) packet(int) []byte       { return nil }
func (*batchReader) from(int) netip.AddrPort { return netip.AddrPort{} }
