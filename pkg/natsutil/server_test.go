package natsutil_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

func TestStartServerNeedsStoreDir(t *testing.T) {
	_, err := natsutil.StartServer(natsutil.ServerOptions{Port: -1, NoLog: true})
	if err == nil || !strings.Contains(err.Error(), "StoreDir") {
		t.Fatalf("StartServer without StoreDir: %v, want an error naming StoreDir", err)
	}
}

func TestStartServerInProcessWithHubDomain(t *testing.T) {
	s, err := natsutil.StartServer(natsutil.ServerOptions{
		DontListen: true, StoreDir: t.TempDir(), SyncAlways: true, NoLog: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	nc, err := natsutil.ConnectInProcess(s)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	info, err := js.AccountInfo(context.Background())
	if err != nil {
		t.Fatalf("JetStream account info: %v", err)
	}
	if info.Domain != natsutil.HubDomain {
		t.Fatalf("domain = %q, want %q", info.Domain, natsutil.HubDomain)
	}
	// The hub domain's API answers like a leaf node would address it.
	jsd, err := jetstream.NewWithDomain(nc, natsutil.HubDomain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jsd.CreateStream(context.Background(), jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatalf("create stream through domain %s: %v", natsutil.HubDomain, err)
	}
	if s.Addr() != nil {
		t.Fatalf("DontListen server listens on %v", s.Addr())
	}
}

func TestStartServerRefusesBusyPort(t *testing.T) {
	a := natstest.RunServer(t)
	n := a.Addr().(*net.TCPAddr).Port
	_, err := natsutil.StartServer(natsutil.ServerOptions{Port: n, StoreDir: t.TempDir(), NoLog: true})
	if err == nil {
		t.Fatalf("second server on port %d started", n)
	}
}

func TestLeafLink(t *testing.T) {
	hub := natstest.RunServerWith(t, natsutil.ServerOptions{LeafPort: -1, ServerName: "hub"})
	leafURL, err := natsutil.LeafURL(hub)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(leafURL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Port() == "" || u.Port() == "7422" {
		t.Fatalf("leaf URL %s: want a random port", leafURL)
	}
	leaf := natstest.RunServerWith(t, natsutil.ServerOptions{
		NoJetStream: true, ServerName: "edge",
		LeafRemotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{u}}},
	})
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if hub.NumLeafNodes() != 1 || leaf.NumLeafNodes() != 1 {
			return errors.New("leaf link not up")
		}
		return nil
	})
	// A client of the edge server reaches the hub's JetStream by domain.
	nc := natstest.Connect(t, leaf)
	js, err := jetstream.NewWithDomain(nc, natsutil.HubDomain)
	if err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		_, err := js.AccountInfo(context.Background())
		return err
	})
	if _, err := natsutil.LeafURL(leaf); err == nil {
		t.Fatalf("LeafURL of a server without leaf listener: no error")
	}
}
