package stack

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/gen/strata/dns/v1/dnsv1connect"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/eventstore/eventstoretest"
	"github.com/strata-edge/strata/pkg/keywrap"
	"github.com/strata-edge/strata/pkg/testenv"
	"github.com/strata-edge/strata/services/nodes"
)

// contentEnv runs the content services as startAPI wires them (newContent,
// publishing) on a real JetStream event store, with the config and DNS APIs
// served over HTTP/2 to the caller "alice".
type contentEnv struct {
	t     *testing.T
	ctx   context.Context
	js    jetstream.JetStream
	store *eventstore.JetStreamStore
	kek   *keywrap.Keyring
	c     *content
	cfg   configv1connect.ConfigServiceClient
	dns   dnsv1connect.DnsServiceClient
}

func newContentEnv(t *testing.T) *contentEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	store, _, js := eventstoretest.JetStream(t)
	line, _ := keywrap.NewKeyLine()
	kek, err := keywrap.Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newContent(contentParts{store: store, publish: js, kek: kek, nodes: startNodeCommands(t, ctx, store),
		log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	if err := c.config.EnsureDefaults(ctx); err != nil {
		t.Fatal(err)
	}
	srv := testenv.ServeAs(t, "alice", c.config.Handler, c.dns.Handler)
	return &contentEnv{t: t, ctx: ctx, js: js, store: store, kek: kek, c: c,
		cfg: configv1connect.NewConfigServiceClient(srv.Client(), srv.URL),
		dns: dnsv1connect.NewDnsServiceClient(srv.Client(), srv.URL)}
}

// startNodeCommands runs the nodes service for the config API's node
// commands only (no NATS authority), as a process serving config alone does.
func startNodeCommands(t *testing.T, ctx context.Context, store eventstore.Store) *nodes.Service {
	t.Helper()
	svc, err := nodes.New(nodes.Options{Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	return svc
}

// appendEvent appends one config event as another writer (the nodes
// service) does and waits until the tracks folded it.
func (e *contentEnv) appendEvent(stream string, expected uint64, msg proto.Message) {
	e.t.Helper()
	typ, data, err := configevents.Encode(msg)
	if err != nil {
		e.t.Fatal(err)
	}
	stored, err := e.store.Append(e.ctx, stream, expected, eventstore.Event{ID: "evt_" + stream + typ, Type: typ, Data: data,
		Metadata: eventstore.Metadata{Time: time.Now()}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.wait(stored[0].Position)
}

// wait waits until every content service folded pos.
func (e *contentEnv) wait(pos uint64) {
	e.t.Helper()
	if err := e.c.sync.WaitFor(e.ctx, pos); err != nil {
		e.t.Fatal(err)
	}
}

// snapshot is the track's snapshot once the tracks folded the whole log.
func (e *contentEnv) snapshot(partition string, staging bool) *syncv1.Snapshot {
	e.t.Helper()
	if err := e.c.sync.CatchUp(e.ctx, e.store); err != nil {
		e.t.Fatal(err)
	}
	return e.c.sync.Snapshot(partition, staging)
}

func (e *contentEnv) head() uint64 {
	e.t.Helper()
	h, err := e.store.Head(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// apiSnapshot is GetSnapshot's view of a track.
func (e *contentEnv) apiSnapshot(partition string, staging bool) (string, *syncv1.Snapshot) {
	e.t.Helper()
	res := need(e.cfg.GetSnapshot(e.ctx, &configv1.GetSnapshotRequest{Partition: partition, Staging: staging}))(e.t)
	var s syncv1.Snapshot
	if err := protojson.Unmarshal([]byte(res.Json), &s); err != nil {
		e.t.Fatalf("snapshot json: %v", err)
	}
	return res.Json, &s
}

// need(call(...))(t) returns the call's value and fails the test on error.
func need[T any](v T, err error) func(t *testing.T) T {
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
	if !errors.As(err, &ce) || ce.Code() != code {
		t.Fatalf("error = %v, want a Connect error with code %v", err, code)
	}
	return ce
}

// wantField fails unless err is InvalidArgument with a violation of field.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	wantCode(t, err, connect.CodeInvalidArgument)
	vs := apierr.FromConnect(err)
	if !slices.ContainsFunc(vs, func(v apierr.FieldViolation) bool { return v.Field == field }) {
		t.Fatalf("violations %v do not name field %q", vs, field)
	}
}
