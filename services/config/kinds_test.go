package config

import (
	"encoding/json"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/services/edgesync"
)

// upsertsOf decodes the upserts of one kind in d.
func upsertsOf[T proto.Message](t testing.TB, d *syncv1.Delta, kind string) []T {
	t.Helper()
	var out []T
	for _, r := range d.Upserts {
		if r.Kind != kind {
			continue
		}
		var zero T
		m := zero.ProtoReflect().New().Interface().(T)
		if err := proto.Unmarshal(r.Payload, m); err != nil {
			t.Fatalf("decode %s %s: %v", kind, r.Id, err)
		}
		out = append(out, m)
	}
	return out
}

// deletesOf returns the ids of one kind d deletes.
func deletesOf(d *syncv1.Delta, kind string) []string {
	var out []string
	for _, r := range d.Deletes {
		if r.Kind == kind {
			out = append(out, r.Id)
		}
	}
	return out
}

// readableDelta is d as JSON with each upsert's payload decoded (golden
// files show content, not base64).
func readableDelta(t testing.TB, d *syncv1.Delta) json.RawMessage {
	t.Helper()
	opts := protojson.MarshalOptions{UseProtoNames: true}
	head := proto.Clone(d).(*syncv1.Delta)
	head.Upserts, head.LegacyGuard, head.LegacyGuardIds = nil, nil, nil
	b, err := opts.Marshal(head)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	var ups []any
	for _, r := range d.Upserts {
		var m proto.Message
		switch r.Kind {
		case kindApp:
			m = &configv1.App{}
		case kindCluster:
			m = &configv1.Cluster{}
		default:
			t.Fatalf("unknown kind %q", r.Kind)
		}
		if err := proto.Unmarshal(r.Payload, m); err != nil {
			t.Fatal(err)
		}
		vb, err := opts.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, map[string]any{"kind": r.Kind, "id": r.Id, "version": r.Version, "value": json.RawMessage(vb)})
	}
	if ups != nil {
		out["upserts"] = ups
	}
	b, err = json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOldNodesRefuseSchema2: a node of schema 1 reads a bundle as a
// Snapshot (same field numbers 1-5) and a delta with upserts = 5 and
// deletes = 6; what it finds there is refused by its store (an app id twice
// in a snapshot, an app upserted and deleted in a delta), with the id
// naming the fix, instead of running an empty config.
func TestOldNodesRefuseSchema2(t *testing.T) {
	p := testProjection(true)
	goldenHistory(&feeder{t: t, p: p})
	k := edgesync.Key{Partition: "part_default"}
	_, bundle := p.sync.SnapshotAt(k, 0)
	if bundle == nil || len(bundle.Resources) == 0 {
		t.Fatal("no bundle")
	}
	data, err := proto.Marshal(bundle)
	if err != nil {
		t.Fatal(err)
	}
	var old syncv1.Snapshot // the schema 1 message
	if err := proto.Unmarshal(data, &old); err != nil {
		t.Fatal(err)
	}
	if old.Version != bundle.Version || len(old.Apps) != 2 || old.Apps[0].Id != old.Apps[1].Id ||
		old.Apps[0].Id != "sync-schema-2-upgrade-this-node" || len(old.Zones)+len(old.Certificates)+len(old.Clusters) != 0 {
		t.Fatalf("a schema 1 node reads the bundle as %v", &old)
	}
	for _, d := range p.sync.Pending(k) {
		if len(d.LegacyGuard) != 1 || len(d.LegacyGuardIds) != 1 || d.LegacyGuard[0].Id != d.LegacyGuardIds[0] ||
			d.LegacyGuardIds[0] != "sync-schema-2-upgrade-this-node" || d.Schema != 2 {
			t.Fatalf("delta %d->%d: guard %v %v schema %d", d.FromVersion, d.ToVersion, d.LegacyGuard, d.LegacyGuardIds, d.Schema)
		}
	}
}

// viewOf decodes a bundle into its Snapshot view, as a node does.
func viewOf(t testing.TB, b *syncv1.Bundle) *syncv1.Snapshot {
	t.Helper()
	if b.Schema != natsutil.SyncSchema {
		t.Fatalf("bundle schema %d, want %d", b.Schema, natsutil.SyncSchema)
	}
	s := &syncv1.Snapshot{PartitionId: b.PartitionId, Staging: b.Staging, Version: b.Version, CreatedAt: b.CreatedAt}
	d := &syncv1.Delta{Upserts: b.Resources}
	s.Apps = upsertsOf[*configv1.App](t, d, kindApp)
	s.Clusters = upsertsOf[*configv1.Cluster](t, d, kindCluster)
	return s
}
