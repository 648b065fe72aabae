//go:build unix

package udpproxy

import (
	"errors"
	"net"

	"golang.org/x/sys/unix"
)

// recvBatch is how many datagrams one wake-up delivers before the caller
// looks at the idle deadline again.
const recvBatch = 64

// recv delivers the datagrams ready on c, waiting (until c's read deadline)
// when none is. A read buffer is held only while datagrams are ready, so a
// waiting session costs no buffer.
func recv(c *net.UDPConn, deliver func([]byte)) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		for i := 0; i < recvBatch; {
			n, err := unix.Read(int(fd), *bp)
			switch {
			case err == nil:
				deliver((*bp)[:n])
				i++
			case errors.Is(err, unix.EINTR), errors.Is(err, unix.ECONNREFUSED):
				// ECONNREFUSED: an ICMP port unreachable from the upstream;
				// the session waits for the client or its idle end.
				i++
			case errors.Is(err, unix.EAGAIN):
				return i > 0
			default:
				rerr = err
				return true
			}
		}
		return true
	})
	if rerr != nil {
		return rerr
	}
	return err
}
