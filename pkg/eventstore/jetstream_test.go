package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/eventstore/eventstoretest"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

func newJetStreamStore(t testing.TB) *eventstore.JetStreamStore {
	t.Helper()
	s, _, _ := eventstoretest.JetStream(t)
	return s
}

func TestJetStreamConformance(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store { return newJetStreamStore(t) })
}

func TestJetStreamStreamIsAppendOnly(t *testing.T) {
	s := newJetStreamStore(t)
	ctx := context.Background()
	if _, err := s.Append(ctx, "app.a", 0, eventstore.Event{ID: "e1", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	js := s.JetStream()
	st, err := js.Stream(ctx, natsutil.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if !cfg.DenyDelete || !cfg.DenyPurge || cfg.Storage != jetstream.FileStorage || !cfg.AllowAtomicPublish ||
		cfg.MaxMsgs != -1 || cfg.MaxBytes != -1 || cfg.MaxAge != 0 || cfg.Duplicates != 10*time.Minute {
		t.Fatalf("stream config %+v", cfg)
	}
	if err := st.DeleteMsg(ctx, 1); err == nil {
		t.Fatalf("deleting an event succeeded")
	}
	if err := st.Purge(ctx); err == nil {
		t.Fatalf("purging the log succeeded")
	}
	// A second store on the same stream (another control service) works.
	s2, err := eventstore.NewJetStream(ctx, js, eventstore.JetStreamOptions{})
	if err != nil {
		t.Fatalf("second NewJetStream: %v", err)
	}
	if h, err := s2.Head(ctx); err != nil || h != 1 {
		t.Fatalf("Head through second store = %d, %v", h, err)
	}
}

func TestJetStreamOptionsAreValidated(t *testing.T) {
	nc := natstest.Connect(t, natstest.RunServer(t))
	js, _ := jetstream.New(nc)
	for _, o := range []eventstore.JetStreamOptions{{Replicas: -1}, {Replicas: 7}, {Duplicates: -time.Second}} {
		if _, err := eventstore.NewJetStream(context.Background(), js, o); !errors.Is(err, eventstore.ErrInvalid) {
			t.Fatalf("NewJetStream(%+v): %v, want ErrInvalid", o, err)
		}
	}
}

// The log survives a restart of the server: fsync'd files, same positions.
func TestJetStreamDurableAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func() (*server.Server, *eventstore.JetStreamStore) {
		srv, err := natsutil.StartServer(natsutil.ServerOptions{Port: -1, StoreDir: dir, SyncAlways: true, NoLog: true})
		if err != nil {
			t.Fatal(err)
		}
		nc, err := natsutil.ConnectInProcess(srv)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, _ := jetstream.New(nc)
		s, err := eventstore.NewJetStream(ctx, js, eventstore.JetStreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return srv, s
	}
	srv, s := open()
	want, err := s.Append(ctx, "app.d", 0, eventstore.Event{ID: "d1", Type: "t", Data: []byte("one")},
		eventstore.Event{ID: "d2", Type: "t", Metadata: eventstore.Metadata{Actor: "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	srv.WaitForShutdown()

	srv, s = open()
	defer srv.Shutdown()
	got, err := s.ReadAll(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after restart:\n got  %+v\n want %+v", got, want)
	}
	// Concurrency control still knows the stream's version.
	if _, err := s.Append(ctx, "app.d", 1, eventstore.Event{ID: "d3", Type: "t"}); !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("stale append after restart: %v, want ErrConflict", err)
	}
}

// A subscriber's ordered consumer deleted under it (as after a server or
// leader change) is recreated after the last delivered event.
func TestJetStreamSubscribeSurvivesConsumerReset(t *testing.T) {
	s := newJetStreamStore(t)
	js := s.JetStream()
	eventstoretest.SubscribeSurvives(t, s, 3, 30*time.Second, func(ctx context.Context, _ int) {
		st, err := js.Stream(ctx, natsutil.EventsStream)
		if err != nil {
			t.Fatal(err)
		}
		names := st.ConsumerNames(ctx)
		deleted := 0
		for name := range names.Name() {
			if err := js.DeleteConsumer(ctx, natsutil.EventsStream, name); err == nil {
				deleted++
			}
		}
		if deleted == 0 {
			t.Fatalf("no consumer to delete")
		}
	})
}

// FuzzJetStreamMetadataRoundTrip checks that whatever Append accepts comes
// back unchanged through message headers.
func FuzzJetStreamMetadataRoundTrip(f *testing.F) {
	f.Add("config.app.created", "Zoë <z@example.com>", "req-1", "cmd-1")
	f.Add("t", "a: b", "x\u00a0y", "")
	f.Add("t", "a\r\nb", "", "")
	f.Add("t:1", "äöü 日本", "%20", "a  b")
	s := newJetStreamStore(f)
	n := 0
	f.Fuzz(func(t *testing.T, typ, actor, requestID, causationID string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n++
		in := eventstore.Event{ID: fmt.Sprintf("f%d", n), Type: typ, Data: []byte(actor),
			Metadata: eventstore.Metadata{Actor: actor, RequestID: requestID, CausationID: causationID}}
		out, err := s.Append(ctx, "fuzz", eventstore.AnyVersion, in)
		if errors.Is(err, eventstore.ErrInvalid) {
			return
		}
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		got, err := s.ReadAll(ctx, out[0].Position-1, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !reflect.DeepEqual(got[0], out[0]) {
			t.Fatalf("stored %+v, read back %+v", out[0], got)
		}
	})
}
