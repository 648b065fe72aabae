package stream

import (
	"errors"
	"net"
)

// udpRunner serves a UDP listener (node/stream/udpproxy).
type udpRunner interface {
	serve()
	update(a *app)
	addr() net.Addr
	close()
}

// bindUDP opens the socket of a UDP listener.
func (s *Stream) bindUDP(l *listener, addr string) error {
	return errors.New("UDP listeners are not served by this node yet")
}
