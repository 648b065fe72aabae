package eventstore_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/eventstore/eventstoretest"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

func newJetStreamStore(t testing.TB) *eventstore.JetStreamStore {
	t.Helper()
	nc := natstest.Connect(t, natstest.RunServer(t))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := eventstore.NewJetStream(context.Background(), js, eventstore.JetStreamOptions{})
	if err != nil {
		t.Fatalf("NewJetStream: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestJetStreamConformance(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store { return newJetStreamStore(t) })
}
