package reliability

import (
	"context"
	"testing"
	"time"

	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/gen/strata/dns/v1/dnsv1connect"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/eventstore/eventstoretest"
	"github.com/strata-edge/strata/pkg/testenv"
	"github.com/strata-edge/strata/services/config"
	dnssvc "github.com/strata-edge/strata/services/dns"
)

// services is the config and DNS services in this process on a real
// embedded JetStream event store, each served over HTTP/2 as a caller named
// "fuzzer" (the API server's authentication is not what these tests check).
type services struct {
	ctx    context.Context
	store  eventstore.Store
	config configv1connect.ConfigServiceClient
	dns    dnsv1connect.DnsServiceClient
}

// newStore starts an embedded NATS server with JetStream and an event store.
func newStore(t *testing.T) (context.Context, eventstore.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	store, _, _ := eventstoretest.JetStream(t)
	return ctx, store
}

// startServices starts a config and a DNS service on store: a fresh start
// folds the whole log, which is how TestEventSequences rebuilds.
func startServices(t *testing.T, ctx context.Context, store eventstore.Store, now func() time.Time) *services {
	t.Helper()
	cfg, err := config.New(config.Options{Store: store, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cfg.Stop(context.Background()) })
	if err := cfg.EnsureDefaults(ctx); err != nil {
		t.Fatal(err)
	}
	dns, err := dnssvc.New(dnssvc.Options{Store: store, Partitions: cfg, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := dns.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dns.Stop(context.Background()) })
	srv := testenv.ServeAs(t, "fuzzer", cfg.Handler, dns.Handler)
	return &services{ctx: ctx, store: store,
		config: configv1connect.NewConfigServiceClient(srv.Client(), srv.URL),
		dns:    dnsv1connect.NewDnsServiceClient(srv.Client(), srv.URL)}
}
