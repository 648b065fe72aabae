//go:build linux

package dns

import (
	"fmt"
	"net"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// steerByCPU makes the kernel hand a datagram to socket (cpu mod n) of the
// SO_REUSEPORT group of c: the socket whose loop runs on the CPU that
// received it (pinToCPU), so a query is read where it was queued, without a
// cross-CPU wake-up. The index is the order the sockets joined the group.
// The ancillary load of the current CPU (linux/filter.h: SKF_AD_OFF + SKF_AD_CPU).
const (
	skfAdOff = 0xfffff000 // -0x1000
	skfAdCPU = 36
)

func steerByCPU(c *net.UDPConn, n int) error {
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: skfAdOff + skfAdCPU},
		{Code: unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K, K: uint32(n)},
		{Code: unix.BPF_RET | unix.BPF_A},
	}
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF,
			uintptr(unsafe.Pointer(&fp)), unsafe.Sizeof(fp), 0)
		if e != 0 {
			serr = e
		}
	}); err != nil {
		return err
	}
	runtime.KeepAlive(prog)
	if serr != nil {
		return fmt.Errorf("SO_ATTACH_REUSEPORT_CBPF: %w", serr)
	}
	return nil
}

// pinToCPU locks the calling goroutine to its thread and that thread to the
// i-th CPU the process may run on (mod their count), and returns that CPU.
func pinToCPU(i int) (int, error) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		return 0, err
	}
	cpus := []int{}
	for c := range 1024 {
		if all.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) == 0 {
		return 0, fmt.Errorf("no CPU in the affinity mask")
	}
	runtime.LockOSThread()
	cpu := cpus[i%len(cpus)]
	var one unix.CPUSet
	one.Set(cpu)
	return cpu, unix.SchedSetaffinity(0, &one)
}
