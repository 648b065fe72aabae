package forward_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSOCKS5Connect measures new SOCKS5 connections per second on
// loopback: TCP connect, greeting, username/password (a cached
// verification after the first), CONNECT to a loopback echo server,
// reply, close.
func BenchmarkSOCKS5Connect(b *testing.B) {
	echo := echoServer(b)
	port := freePort(b)
	start(b, snapshot(1, proxyApp("fp", []uint32{port}, nil, allowPrivate)))
	addr := hostPort(port)
	msg := []byte{5, 1, 2, 1, byte(len(testUser))}
	msg = append(msg, testUser...)
	msg = append(append(msg, byte(len(testPass))), testPass...)
	msg = append(msg, 5, 1, 0, 1)
	msg = append(msg, echo.IP.To4()...)
	msg = binary.BigEndian.AppendUint16(msg, uint16(echo.Port))
	want := []byte{5, 2, 1, 0, 5, 0, 0, 1}
	var slow atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8) // latency-bound: keep several handshakes in flight per CPU
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 2+2+10)
		for pb.Next() {
			t0 := time.Now()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			// Pipelined: the server reads what it needs at each step.
			if _, err := c.Write(msg); err != nil {
				b.Error(err)
				c.Close()
				return
			}
			if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf[:8], want) {
				b.Errorf("handshake: %v %v", buf, err)
				c.Close()
				return
			}
			c.Close()
			if time.Since(t0) > 100*time.Millisecond {
				slow.Add(1) // SYN retransmits: loopback ports in TIME_WAIT
			}
		}
	})
	// Each op leaves two connections in TIME_WAIT: runs of tens of
	// thousands of ops exhaust loopback's ephemeral ports, and the
	// kernel's port choice (slow connects), not the proxy, sets the rate.
	b.ReportMetric(float64(slow.Load()), "slow-connects")
}
