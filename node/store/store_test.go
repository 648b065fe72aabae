package store

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

func app(id, domain string) *configv1.App {
	return &configv1.App{Id: id, Name: id, Domains: []string{domain}, Labels: map[string]string{"team": "edge", "tier": "1"}}
}

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "node.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func reopen(t *testing.T, s *Store, path string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	return s2
}

func base() *syncv1.Snapshot {
	return &syncv1.Snapshot{
		PartitionId: "p1", Version: 10, CreatedAt: timestamppb.Now(),
		// Deliberately unsorted: the store keeps apps sorted by id.
		Apps: []*configv1.App{app("c", "c.example.com"), app("a", "a.example.com"), app("b", "b.example.com")},
	}
}

func ids(s *syncv1.Snapshot) string {
	var out []string
	for _, a := range s.GetApps() {
		out = append(out, a.GetId()+"="+strings.Join(a.GetDomains(), ","))
	}
	return strings.Join(out, " ")
}

func TestEmptyStoreLoadsNothing(t *testing.T) {
	s, _ := openTemp(t)
	snap, meta, err := s.Load()
	if err != nil || snap != nil || meta != (Meta{}) {
		t.Fatalf("Load on empty store = %v, %+v, %v; want nil, zero, nil", snap, meta, err)
	}
	_, err = s.ApplyDelta(&syncv1.Delta{PartitionId: "p1", FromVersion: 0, ToVersion: 5, Schema: natsutil.SyncSchema}, 1)
	if !errors.Is(err, ErrGap) {
		t.Fatalf("ApplyDelta on empty store: err = %v, want ErrGap", err)
	}
}

func TestSnapshotSurvivesReopen(t *testing.T) {
	s, path := openTemp(t)
	if err := s.SaveSnapshot(base(), 7); err != nil {
		t.Fatal(err)
	}
	want, wantMeta, _ := s.Load()
	if got := ids(want); got != "a=a.example.com b=b.example.com c=c.example.com" {
		t.Fatalf("apps = %q, want sorted by id", got)
	}
	s2 := reopen(t, s, path)
	got, meta, err := s2.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("reopened snapshot differs:\n got %v\nwant %v", got, want)
	}
	if meta.Version != 10 || meta.StreamSeq != 7 || !meta.AppliedAt.Equal(wantMeta.AppliedAt) {
		t.Fatalf("meta = %+v, want version 10, stream seq 7, applied at %v", meta, wantMeta.AppliedAt)
	}
}

func TestApplyDelta(t *testing.T) {
	s, path := openTemp(t)
	if err := s.SaveSnapshot(base(), 7); err != nil {
		t.Fatal(err)
	}
	created := timestamppb.Now()
	snap, err := s.ApplyDelta(&syncv1.Delta{PartitionId: "p1", FromVersion: 10, ToVersion: 15, CreatedAt: created, Schema: natsutil.SyncSchema, Upserts: Upserts(app("b", "b2.example.com"), app("d", "d.example.com")), Deletes: Refs("app", "a")}, 9)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(snap), "b=b2.example.com c=c.example.com d=d.example.com"; got != want {
		t.Fatalf("apps after delta = %q, want %q", got, want)
	}
	if snap.GetVersion() != 15 || !proto.Equal(snap.GetCreatedAt(), created) {
		t.Fatalf("snapshot version %d created %v, want 15 and the delta's time", snap.GetVersion(), snap.GetCreatedAt())
	}
	s2 := reopen(t, s, path)
	got, meta, _ := s2.Load()
	if !proto.Equal(got, snap) {
		t.Fatalf("reopened snapshot differs:\n got %v\nwant %v", got, snap)
	}
	if meta.Version != 15 || meta.StreamSeq != 9 {
		t.Fatalf("meta = %+v, want version 15 stream seq 9", meta)
	}
}

// A delta that must not be applied leaves the store exactly as it was, in
// memory and on disk.
func TestRejectedDeltaChangesNothing(t *testing.T) {
	tests := []struct {
		name    string
		delta   *syncv1.Delta
		wantErr string
		gap     bool
	}{
		{name: "gap", delta: &syncv1.Delta{PartitionId: "p1", FromVersion: 11, ToVersion: 12, Schema: natsutil.SyncSchema, Deletes: Refs("app", "a")}, gap: true},
		{name: "older", delta: &syncv1.Delta{PartitionId: "p1", FromVersion: 5, ToVersion: 10, Schema: natsutil.SyncSchema, Deletes: Refs("app", "a")}, gap: true},
		{name: "other partition", delta: &syncv1.Delta{PartitionId: "p2", FromVersion: 10, ToVersion: 12, Schema: natsutil.SyncSchema}, wantErr: "partition_id"},
		{name: "other track", delta: &syncv1.Delta{PartitionId: "p1", Staging: true, FromVersion: 10, ToVersion: 12, Schema: natsutil.SyncSchema}, wantErr: "staging"},
		{name: "backwards", delta: &syncv1.Delta{PartitionId: "p1", FromVersion: 10, ToVersion: 10, Schema: natsutil.SyncSchema}, wantErr: "to_version"},
		{name: "app without id", delta: &syncv1.Delta{PartitionId: "p1", FromVersion: 10, ToVersion: 11, Schema: natsutil.SyncSchema, Upserts: Upserts(&configv1.App{Name: "x"})}, wantErr: "upserts[0].id"},
		{name: "upsert and delete", delta: &syncv1.Delta{PartitionId: "p1", FromVersion: 10, ToVersion: 11, Schema: natsutil.SyncSchema, Upserts: Upserts(app("a", "x")), Deletes: Refs("app", "a")}, wantErr: "deletes[0]"},
		// Passes validation but fails inside the bbolt transaction (key
		// longer than bbolt allows) after the delete of "a" was written:
		// the transaction rolls back.
		{name: "failure inside transaction", delta: &syncv1.Delta{PartitionId: "p1", FromVersion: 10, ToVersion: 11, Schema: natsutil.SyncSchema, Upserts: Upserts(app(strings.Repeat("x", 40000), "x")), Deletes: Refs("app", "a")}, wantErr: "apply delta"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, path := openTemp(t)
			if err := s.SaveSnapshot(base(), 7); err != nil {
				t.Fatal(err)
			}
			before, beforeMeta, _ := s.Load()
			_, err := s.ApplyDelta(tc.delta, 8)
			if err == nil {
				t.Fatal("ApplyDelta succeeded, want an error")
			}
			if tc.gap != errors.Is(err, ErrGap) {
				t.Fatalf("err = %v, ErrGap = %v, want %v", err, errors.Is(err, ErrGap), tc.gap)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
			after, afterMeta, _ := s.Load()
			if !proto.Equal(after, before) || afterMeta != beforeMeta {
				t.Fatalf("in-memory snapshot changed: %v -> %v", before, after)
			}
			s2 := reopen(t, s, path)
			onDisk, diskMeta, _ := s2.Load()
			if !proto.Equal(onDisk, before) || diskMeta.StreamSeq != 7 || diskMeta.Version != 10 {
				t.Fatalf("stored snapshot changed: %v (%+v)", onDisk, diskMeta)
			}
		})
	}
}

func TestSaveSnapshotReplacesEverything(t *testing.T) {
	s, path := openTemp(t)
	if err := s.SaveSnapshot(base(), 7); err != nil {
		t.Fatal(err)
	}
	next := &syncv1.Snapshot{PartitionId: "p1", Version: 40, Apps: []*configv1.App{app("z", "z.example.com")}}
	if err := s.SaveSnapshot(next, 0); err != nil {
		t.Fatal(err)
	}
	s2 := reopen(t, s, path)
	got, meta, _ := s2.Load()
	if ids(got) != "z=z.example.com" || meta.Version != 40 || meta.StreamSeq != 0 {
		t.Fatalf("after replace: %q %+v", ids(got), meta)
	}
	if err := s2.SaveSnapshot(&syncv1.Snapshot{Apps: []*configv1.App{app("a", "x"), app("a", "y")}}, 0); err == nil || !strings.Contains(err.Error(), `"a": duplicate`) {
		t.Fatalf("duplicate app ids: err = %v", err)
	}
}

// The store holds the file lock: a second Open fails instead of corrupting.
func TestSecondOpenFails(t *testing.T) {
	_, path := openTemp(t)
	if s, err := Open(path); err == nil {
		s.Close()
		t.Fatal("second Open of a locked store succeeded")
	}
}

func BenchmarkApplyDelta(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "node.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	snap := &syncv1.Snapshot{PartitionId: "p1", Version: 1}
	for i := range 5000 {
		snap.Apps = append(snap.Apps, app("app-"+strconv.Itoa(i), "x.example.com"))
	}
	if err := s.SaveSnapshot(snap, 0); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		v := uint64(i + 1)
		if _, err := s.ApplyDelta(&syncv1.Delta{PartitionId: "p1", FromVersion: v, ToVersion: v + 1, Schema: natsutil.SyncSchema, Upserts: Upserts(app("changed", "y.example.com"))}, v); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzApplyDelta feeds arbitrary encoded deltas to a store: each is either
// rejected with the store unchanged, or applied so that the store holds the
// previous apps with the deletes removed and the upserts in place.
func FuzzApplyDelta(f *testing.F) {
	seeds := []*syncv1.Delta{
		{PartitionId: "p1", FromVersion: 10, ToVersion: 11, Schema: natsutil.SyncSchema, Upserts: Upserts(app("d", "d.example.com")), Deletes: Refs("app", "a")},
		{PartitionId: "p1", FromVersion: 10, ToVersion: 12, Schema: natsutil.SyncSchema, Deletes: Refs("app", "a", "b", "c", "zz")},
		{PartitionId: "p1", FromVersion: 9, ToVersion: 12, Schema: natsutil.SyncSchema},
		{PartitionId: "p1", FromVersion: 10, ToVersion: 10, Schema: natsutil.SyncSchema},
		{PartitionId: "p1", FromVersion: 10, ToVersion: 13, Schema: natsutil.SyncSchema, Upserts: Upserts(app("a", "x"), app("a", "y"))},
		{PartitionId: "p1", FromVersion: 10, ToVersion: 11, Schema: natsutil.SyncSchema + 1, Deletes: Refs("app", "a")},
		{PartitionId: "p1", FromVersion: 10, ToVersion: 11, Schema: natsutil.SyncSchema, Deletes: Refs("bot_policy", "a")},
	}
	for _, d := range seeds {
		b, _ := proto.Marshal(d)
		f.Add(b)
	}
	s, err := Open(filepath.Join(f.TempDir(), "node.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		d := &syncv1.Delta{}
		if proto.Unmarshal(data, d) != nil {
			return
		}
		if err := s.SaveSnapshot(base(), 7); err != nil {
			t.Fatal(err)
		}
		before, beforeMeta, _ := s.Load()
		got, err := s.ApplyDelta(d, 8)
		after, afterMeta, _ := s.Load()
		if err != nil {
			if !proto.Equal(after, before) || afterMeta != beforeMeta {
				t.Fatalf("rejected delta (%v) changed the store", err)
			}
			return
		}
		want := map[string]*configv1.App{}
		for _, a := range before.GetApps() {
			want[a.GetId()] = a
		}
		for _, r := range d.GetDeletes() {
			delete(want, r.GetId()) // applied: every delete is an app's
		}
		for _, r := range d.GetUpserts() {
			a := &configv1.App{}
			if err := proto.Unmarshal(r.GetPayload(), a); err != nil {
				t.Fatal(err)
			}
			want[a.GetId()] = a
		}
		if got.GetVersion() != d.GetToVersion() || afterMeta.StreamSeq != 8 || len(got.GetApps()) != len(want) {
			t.Fatalf("applied delta: version %d seq %d apps %d; want %d, 8, %d", got.GetVersion(), afterMeta.StreamSeq, len(got.GetApps()), d.GetToVersion(), len(want))
		}
		for i, a := range got.GetApps() {
			if !proto.Equal(a, want[a.GetId()]) || (i > 0 && got.GetApps()[i-1].GetId() >= a.GetId()) {
				t.Fatalf("applied delta: app %d %q wrong or out of order", i, a.GetId())
			}
		}
	})
}

// A bundle or delta of another schema, or with a kind this node lacks, is
// refused with ErrUpgrade, a message naming the side to upgrade, and
// nothing written.
func TestOtherSchemaOrUnknownKindIsRefused(t *testing.T) {
	s, path := openTemp(t)
	if err := s.SaveSnapshot(base(), 7); err != nil {
		t.Fatal(err)
	}
	before, beforeMeta, _ := s.Load()
	newer := BundleOf(&syncv1.Snapshot{PartitionId: "p1", Version: 20})
	newer.Schema = natsutil.SyncSchema + 1
	older := BundleOf(&syncv1.Snapshot{PartitionId: "p1", Version: 20})
	older.Schema = 0
	unknown := BundleOf(&syncv1.Snapshot{PartitionId: "p1", Version: 20})
	unknown.Resources = append(unknown.Resources, &syncv1.Resource{Kind: "bot_policy", Id: "w1"})
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"newer bundle", s.SaveBundle(newer, 8), "sync schema 3 is newer than this node understands (2): upgrade the node"},
		{"older bundle", s.SaveBundle(older, 8), "sync schema 0 is older than this node's (2): upgrade the control plane"},
		{"unknown kind in bundle", s.SaveBundle(unknown, 8), `resources[0].kind "bot_policy" is unknown to this node: upgrade the node`},
		{"newer delta", func() error {
			_, err := s.ApplyDelta(&syncv1.Delta{PartitionId: "p1", FromVersion: 10, ToVersion: 11, Schema: natsutil.SyncSchema + 1}, 8)
			return err
		}(), "upgrade the node"},
		{"unknown kind in delta", func() error {
			_, err := s.ApplyDelta(&syncv1.Delta{PartitionId: "p1", FromVersion: 10, ToVersion: 11, Schema: natsutil.SyncSchema,
				Upserts: []*syncv1.Resource{{Kind: "bot_policy", Id: "w1"}}}, 8)
			return err
		}(), `upserts[0].kind "bot_policy" is unknown to this node: upgrade the node`},
	} {
		if !errors.Is(tc.err, ErrUpgrade) || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrUpgrade saying %q", tc.name, tc.err, tc.want)
		}
	}
	s2 := reopen(t, s, path)
	after, afterMeta, _ := s2.Load()
	if !proto.Equal(after, before) || afterMeta.Version != beforeMeta.Version || afterMeta.StreamSeq != 7 {
		t.Fatalf("a refused bundle or delta changed the store: %v %+v", after, afterMeta)
	}
}

// A resource whose payload names another id is refused.
func TestResourceIDMustMatchPayload(t *testing.T) {
	s, _ := openTemp(t)
	if err := s.SaveSnapshot(base(), 7); err != nil {
		t.Fatal(err)
	}
	r := Resource(app("x", "x.example.com"), 11)
	r.Id = "y"
	_, err := s.ApplyDelta(&syncv1.Delta{PartitionId: "p1", FromVersion: 10, ToVersion: 11, Schema: natsutil.SyncSchema,
		Upserts: []*syncv1.Resource{r}}, 8)
	if err == nil || !strings.Contains(err.Error(), `upserts[0].id "y": the app in the payload has id "x"`) {
		t.Fatalf("err = %v", err)
	}
}
