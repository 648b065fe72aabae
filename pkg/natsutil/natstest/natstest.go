// Package natstest runs real embedded nats-servers for tests.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/strata-edge/strata/pkg/natsutil"
)

// RunServer starts a nats-server with JetStream (domain hub, fsync on every
// write, files in t.TempDir()) on a random loopback port, without logs, and
// shuts it down when the test ends.
func RunServer(t testing.TB) *server.Server {
	t.Helper()
	return RunServerWith(t, natsutil.ServerOptions{})
}

// RunServerWith is RunServer with options; Port, StoreDir and NoLog default
// to -1, t.TempDir() and true, and SyncAlways is always on.
func RunServerWith(t testing.TB, o natsutil.ServerOptions) *server.Server {
	t.Helper()
	if o.Port == 0 {
		o.Port = -1
	}
	if o.StoreDir == "" && !o.NoJetStream {
		o.StoreDir = t.TempDir()
	}
	o.NoLog = true
	o.SyncAlways = true
	s, err := natsutil.StartServer(o)
	if err != nil {
		t.Fatalf("start nats-server: %v", err)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Connect opens an in-process client connection to s and closes it when the
// test ends.
func Connect(t testing.TB, s *server.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := natsutil.ConnectInProcess(s, opts...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// CheckFor calls f every interval until it returns nil, and fails the test
// with f's last error when total has passed.
func CheckFor(t testing.TB, total, interval time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", total, err)
		}
		time.Sleep(interval)
	}
}
