//go:build linux

package dns

import (
	"net"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// With steerByCPU a datagram sent over loopback from a thread pinned to CPU
// c (loopback queues it on the sender's CPU) reaches socket c mod n of the
// SO_REUSEPORT group, and no other.
func TestSteerByCPU(t *testing.T) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	if all.Count() < 2 {
		t.Skip("needs 2 CPUs")
	}
	const n = 2
	socks, err := listenUDPShared(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range socks {
		defer c.Close()
	}
	if err := steerByCPU(socks[0], n); err != nil {
		t.Fatal(err)
	}
	dst := socks[0].LocalAddr().(*net.UDPAddr).AddrPort()
	cl, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	buf := make([]byte, 16)
	for i := range 2 * n {
		cpu := -1
		done := make(chan error, 1)
		go func() {
			defer runtime.UnlockOSThread()
			var err error
			if cpu, err = pinToCPU(i); err != nil {
				done <- err
				return
			}
			_, err = cl.WriteToUDPAddrPort([]byte{byte(i)}, dst)
			done <- err
		}()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		for k, c := range socks {
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			got, _, err := c.ReadFromUDPAddrPort(buf)
			want := k == cpu%n
			switch {
			case want && err != nil:
				t.Fatalf("datagram %d sent on CPU %d: socket %d got nothing: %v", i, cpu, k, err)
			case want && (got != 1 || buf[0] != byte(i)):
				t.Fatalf("socket %d: got %v, want datagram %d", k, buf[:got], i)
			case !want && err == nil:
				t.Fatalf("datagram %d sent on CPU %d reached socket %d, want %d", i, cpu, k, cpu%n)
			}
		}
	}
}
