// Package edgesynctest reads what edgesync published, for tests.
package edgesynctest

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// Deltas reads every delta of a track from the sync stream, checking each
// message id.
func Deltas(t testing.TB, ctx context.Context, js jetstream.JetStream, partition string, staging bool) []*syncv1.Delta {
	t.Helper()
	subject := natsutil.DeltaSubject(partition, staging)
	cons, err := js.OrderedConsumer(ctx, natsutil.SyncStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := js.Stream(ctx, natsutil.SyncStream)
	if err != nil {
		t.Fatal(err)
	}
	si, err := info.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	n := int(si.State.Subjects[subject])
	var out []*syncv1.Delta
	for len(out) < n {
		batch, err := cons.Fetch(n - len(out))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			var d syncv1.Delta
			if err := proto.Unmarshal(m.Data(), &d); err != nil {
				t.Fatal(err)
			}
			if got, want := m.Headers().Get(jetstream.MsgIDHeader), fmt.Sprintf("%s.%s.%d", partition, natsutil.Track(staging), d.ToVersion); got != want {
				t.Fatalf("Nats-Msg-Id %q, want %q", got, want)
			}
			out = append(out, &d)
		}
		if batch.Error() != nil {
			t.Fatal(batch.Error())
		}
	}
	return out
}
