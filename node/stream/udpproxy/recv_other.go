//go:build !unix

package udpproxy

import (
	"errors"
	"net"
	"syscall"
)

// recv delivers one datagram from c (waiting until its read deadline).
func recv(c *net.UDPConn, deliver func([]byte)) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	n, err := c.Read(*bp)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil
		}
		return err
	}
	deliver((*bp)[:n])
	return nil
}
