// Package nettest holds the loopback servers node tests share.
package nettest

import (
	"net"
	"testing"
)

// Serve accepts connections on ln until the test ends (then ln is closed),
// each handled by handle in its own goroutine and closed after it.
func Serve(t testing.TB, ln net.Listener, handle func(c net.Conn)) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
}
