package waf

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	cfgev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/gen/strata/waf/v1/wafv1connect"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/eventstore/eventstoretest"
	"github.com/strata-edge/strata/pkg/keywrap"
	"github.com/strata-edge/strata/pkg/testenv"
	"github.com/strata-edge/strata/services/edgesync"
)

// keyEnv is a service with a control KEK over partitions par_eu and par_us.
func keyEnv(t *testing.T, every time.Duration) (*Service, *edgesync.Tracks, eventstore.Store, *keywrap.Keyring, []wafv1connect.WafServiceClient, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	store, _, _ := eventstoretest.JetStream(t)
	for _, p := range []*configv1.Partition{{Id: "par_eu", Name: "eu"}, {Id: "par_us", Name: "us"}} {
		events, err := configevents.Events(eventstore.Metadata{Actor: "test", Time: time.Now()}, &cfgev.PartitionCreated{Partition: p})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Append(ctx, "config.partition."+p.Id, 0, events...); err != nil {
			t.Fatal(err)
		}
	}
	line, _ := keywrap.NewKeyLine()
	kek, _ := keywrap.Parse(line)
	tracks := edgesync.New(slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	svc, err := New(Options{Store: store, Sync: tracks, Partitions: partitions{"eu": "par_eu", "us": "par_us"}, KEK: kek, ChallengeKeyEvery: every})
	if err != nil {
		t.Fatal(err)
	}
	go tracks.Follow(ctx, store)
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	srv := testenv.ServeAs(t, "alice", svc.Handler)
	return svc, tracks, store, kek, []wafv1connect.WafServiceClient{
		wafv1connect.NewWafServiceClient(srv.Client(), srv.URL),
		wafv1connect.NewWafServiceClient(srv.Client(), srv.URL, connect.WithGRPC()),
	}, ctx
}

// syncedKeys are the challenge key ids of a partition's track, and checks
// that each opens with the partition's node KEK (and no other).
func syncedKeys(t *testing.T, ctx context.Context, tracks *edgesync.Tracks, store eventstore.Store, kek *keywrap.Keyring, partition string, staging bool) []string {
	t.Helper()
	if err := tracks.CatchUp(ctx, store); err != nil {
		t.Fatal(err)
	}
	nodeKEK, _ := kek.Derive("partition/" + partition)
	other, _ := kek.Derive("partition/elsewhere")
	var ids []string
	for _, k := range tracks.Snapshot(partition, staging).GetChallengeKeys() {
		w := k.GetKey()
		env := keywrap.Envelope{KEKID: w.GetKekId(), WrappedDataKey: w.GetWrappedDataKey(), Ciphertext: w.GetCiphertext()}
		secret, err := nodeKEK.Open(env, k.GetId(), w.GetKeyVersion())
		if err != nil || len(secret) != 32 {
			t.Fatalf("key %s on %s: the node KEK opens it: %v (%d bytes)", k.GetId(), partition, err, len(secret))
		}
		if _, err := other.Open(env, k.GetId(), w.GetKeyVersion()); err == nil {
			t.Fatalf("key %s opens with another partition's KEK", k.GetId())
		}
		if !k.GetNotAfter().AsTime().After(k.GetNotBefore().AsTime().Add(24 * time.Hour)) {
			t.Fatalf("key %s valid %v-%v: shorter than a cookie may live", k.GetId(), k.GetNotBefore().AsTime(), k.GetNotAfter().AsTime())
		}
		ids = append(ids, k.GetId())
	}
	slices.Sort(ids)
	return ids
}

func TestChallengeKeyRotation(t *testing.T) {
	svc, tracks, store, kek, clients, ctx := keyEnv(t, -1) // rotated on request only
	if got := syncedKeys(t, ctx, tracks, store, kek, "par_eu", false); len(got) != 0 {
		t.Fatalf("keys before any rotation: %v", got)
	}
	var eu []string // key ids of par_eu, oldest first
	for i, c := range clients {
		res, err := c.RotateChallengeKey(ctx, &wafv1.RotateChallengeKeyRequest{PartitionIds: []string{"eu"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.GetKeys()) != 1 || res.GetKeys()[0].GetPartitionId() != "par_eu" {
			t.Fatalf("rotation %d: %v", i, res.GetKeys())
		}
		eu = append(eu, res.GetKeys()[0].GetKeyId())
	}
	// Current and previous key on both tracks of par_eu, none on par_us.
	for _, staging := range []bool{false, true} {
		if got, want := syncedKeys(t, ctx, tracks, store, kek, "par_eu", staging), slices.Sorted(slices.Values(eu)); !slices.Equal(got, want) {
			t.Fatalf("par_eu staging=%v keys %v, want %v", staging, got, want)
		}
	}
	if got := syncedKeys(t, ctx, tracks, store, kek, "par_us", false); len(got) != 0 {
		t.Fatalf("par_us got keys %v", got)
	}
	if cur := svc.ChallengeKeys("par_eu"); cur[0].GetId() != eu[1] {
		t.Fatalf("current key %s, want the newest %s", cur[0].GetId(), eu[1])
	}
	// A third rotation (every partition) drops the oldest key of par_eu.
	res, err := clients[0].RotateChallengeKey(ctx, &wafv1.RotateChallengeKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetKeys()) != 2 {
		t.Fatalf("rotating every partition: %v", res.GetKeys())
	}
	eu = append(eu, res.GetKeys()[0].GetKeyId())
	if got, want := syncedKeys(t, ctx, tracks, store, kek, "par_eu", false), slices.Sorted(slices.Values(eu[1:])); !slices.Equal(got, want) {
		t.Fatalf("after the third rotation: %v, want %v (the first dropped)", got, want)
	}
	if got := syncedKeys(t, ctx, tracks, store, kek, "par_us", false); len(got) != 1 {
		t.Fatalf("par_us keys %v", got)
	}
	// The keys come back from the log after a restart.
	again, err := New(Options{Store: store, KEK: kek, ChallengeKeyEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Stop(context.Background()) })
	if got := again.ChallengeKeys("par_eu"); len(got) != 2 || got[0].GetId() != eu[2] || got[1].GetId() != eu[1] {
		t.Fatalf("rebuilt keys %v", got)
	}
	if _, err := clients[0].RotateChallengeKey(ctx, &wafv1.RotateChallengeKeyRequest{PartitionIds: []string{"nowhere"}}); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("unknown partition: %v", err)
	}
}

// The service gives every partition a key at start and rotates it each
// period without being asked.
func TestChallengeKeysRotateOnTheirOwn(t *testing.T) {
	_, tracks, store, kek, _, ctx := keyEnv(t, 300*time.Millisecond)
	var first []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		eu, us := syncedKeys(t, ctx, tracks, store, kek, "par_eu", false), syncedKeys(t, ctx, tracks, store, kek, "par_us", false)
		if first == nil && len(eu) == 1 && len(us) == 1 {
			first = eu
		}
		if first != nil && len(eu) == 2 && slices.Contains(eu, first[0]) {
			return // rotated: the first key is now the previous one
		}
		if time.Now().After(deadline) {
			t.Fatal(fmt.Sprintf("keys eu %v us %v: no rotation", eu, us))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRotateWithoutKEK(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.clients[0].RotateChallengeKey(e.ctx, &wafv1.RotateChallengeKeyRequest{})
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("rotation without a KEK: %v", err)
	}
}
