// Package nettest holds the loopback servers node tests share.
package nettest

import (
	"bufio"
	"fmt"
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

// UDP is a UDP socket on 127.0.0.1, closed when the test ends.
func UDP(t testing.TB) *net.UDPConn {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// UDPEcho is a UDP server on 127.0.0.1 answering each datagram with
// prefix+datagram.
func UDPEcho(t testing.TB, prefix string) *net.UDPAddr {
	pc := UDP(t)
	go func() {
		buf := make([]byte, 70000)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteToUDPAddrPort(append([]byte(prefix), buf[:n]...), from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr)
}

// Listen is a TCP listener on 127.0.0.1, closed when the test ends.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// LineEcho is a Serve handler answering every line with "prefix: line".
func LineEcho(prefix string) func(net.Conn) {
	return func(c net.Conn) {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			if _, err := fmt.Fprintf(c, "%s: %s\n", prefix, sc.Text()); err != nil {
				return
			}
		}
	}
}
