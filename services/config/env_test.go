package config

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	"github.com/strata-edge/strata/pkg/testenv"
	"github.com/strata-edge/strata/services/edgesync"
	"github.com/strata-edge/strata/services/nodes"
)

// env is a config service on a real embedded JetStream event store, served
// over an HTTP/2 httptest server.
type env struct {
	t      *testing.T
	ctx    context.Context
	nats   *server.Server
	js     jetstream.JetStream
	store  *eventstore.JetStreamStore
	svc    *Service
	http   *httptest.Server
	client configv1connect.ConfigServiceClient // Connect protocol
	grpc   configv1connect.ConfigServiceClient // gRPC protocol
}

type envOptions struct {
	publish  bool
	statuses edgesync.StatusSource
	waf      WafPolicies // UseWafPolicies when set
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	s := natstest.RunServer(t)
	nc := natstest.Connect(t, s)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store, err := eventstore.NewJetStream(ctx, js, eventstore.JetStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &env{t: t, ctx: ctx, nats: s, js: js, store: store}
	e.start(o)
	return e
}

// start runs a new Service on the env's store and serves it.
func (e *env) start(o envOptions) {
	t := e.t
	t.Helper()
	// The node commands run in the real nodes service, as in internal/stack.
	nodeSvc, err := nodes.New(nodes.Options{Store: e.store})
	if err != nil {
		t.Fatal(err)
	}
	if err := nodeSvc.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nodeSvc.Stop(context.Background()) })
	opts := Options{Store: e.store, Statuses: o.statuses, Nodes: nodeSvc}
	if o.publish {
		opts.JetStream = e.js
	}
	svc, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if o.waf != nil {
		svc.UseWafPolicies(o.waf)
	}
	if err := svc.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	if err := svc.EnsureDefaults(e.ctx); err != nil {
		t.Fatal(err)
	}
	srv := testenv.ServeAs(t, "alice", svc.Handler)
	e.svc, e.http = svc, srv
	e.client = configv1connect.NewConfigServiceClient(srv.Client(), srv.URL)
	e.grpc = configv1connect.NewConfigServiceClient(srv.Client(), srv.URL, connect.WithGRPC())
}

// restart stops the service and starts a new one on the same store.
func (e *env) restart(o envOptions) {
	e.t.Helper()
	if err := e.svc.Stop(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.http.Close()
	e.start(o)
}

func (e *env) head() uint64 {
	e.t.Helper()
	h, err := e.store.Head(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// must(call(...))(t) returns the call's value and fails the test on error.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

// wantCode fails unless err is a Connect error with code.
func wantCode(t *testing.T, err error, code connect.Code) *connect.Error {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v, want a Connect error with code %v", err, code)
	}
	if ce.Code() != code {
		t.Fatalf("code = %v (%v), want %v", ce.Code(), ce.Message(), code)
	}
	return ce
}

// wantField fails unless err is InvalidArgument with a violation of field.
func wantField(t *testing.T, err error, field string) apierr.FieldViolation {
	t.Helper()
	wantCode(t, err, connect.CodeInvalidArgument)
	vs := apierr.FromConnect(err)
	for _, v := range vs {
		if v.Field == field {
			return v
		}
	}
	t.Fatalf("violations %v do not name field %q", vs, field)
	return apierr.FieldViolation{}
}

func ptr[T any](v T) *T { return &v }

// sampleUpstream is an upstream with one server of weight 1.
func sampleUpstream(name, addr string) *configv1.Upstream {
	return &configv1.Upstream{Name: name, Servers: []*configv1.Server{{Address: addr, Weight: 1}}}
}

func proxyRule(name, when string, upstreams ...string) *configv1.Rule {
	p := &configv1.ProxyAction{}
	for _, u := range upstreams {
		p.Upstreams = append(p.Upstreams, &configv1.WeightedUpstream{Upstream: u, Weight: 1})
	}
	return &configv1.Rule{Name: name, When: when, Actions: []*configv1.Action{{Action: &configv1.Action_Proxy{Proxy: p}}}}
}

func checkFor(t *testing.T, f func() error) {
	t.Helper()
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, f)
}
