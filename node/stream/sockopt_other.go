//go:build !linux

package stream

import "syscall"

// keepAliveListen sets nothing: accepted connections get Go's keep-alive
// defaults one by one (acceptKeepAlive).
func keepAliveListen(_, _ string, _ syscall.RawConn) error { return nil }

const acceptKeepAlive = 0
