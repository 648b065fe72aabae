package dns

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A port held by another SO_REUSEPORT group (another process of the same
// user, or another server in this one) is refused, not joined: a join would
// split the queries between the two servers without an error.
func TestUDPSocketsRefuseAnotherGroupsPort(t *testing.T) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	other, err := lc.ListenPacket(context.Background(), "udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, n := range []int{1, 2} {
		s, err := New(Options{UDPAddr: other.LocalAddr().String(), UDPSockets: n, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Start(context.Background())
		if err == nil {
			_ = s.Stop(context.Background())
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("UDPSockets %d on a port another SO_REUSEPORT socket holds: err %v, want address already in use", n, err)
		}
	}
}
