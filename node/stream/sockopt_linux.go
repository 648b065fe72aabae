package stream

import (
	"syscall"
	"time"
)

// keepAliveListen is the TCP keep-alive of client connections: Go's
// defaults (probes after 15 s idle, every 15 s, 9 of them), set once on
// the listening socket, which Linux copies onto every accepted socket
// (as it copies TCP_NODELAY), instead of four setsockopt calls per
// accepted connection (ListenConfig.KeepAlive is -1).
func keepAliveListen(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		for _, o := range [...]struct{ level, opt, v int }{
			{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, int(keepAliveIdle / time.Second)},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, int(keepAliveIdle / time.Second)},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, keepAliveCount},
		} {
			if serr = syscall.SetsockoptInt(int(fd), o.level, o.opt, o.v); serr != nil {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// acceptKeepAlive is ListenConfig.KeepAlive: -1, the listening socket's
// options are inherited.
const acceptKeepAlive = -1
