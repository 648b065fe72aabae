package store

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

func zone(id, addr string) *dnsv1.Zone {
	return &dnsv1.Zone{Id: id, Name: id + ".test.", Records: []*dnsv1.Record{
		{Id: "r1", Name: "www", Type: dnsv1.RecordType_RECORD_TYPE_A, Data: addr},
	}}
}

func zoneIDs(s *syncv1.Snapshot) string {
	var out []string
	for _, z := range s.GetZones() {
		out = append(out, z.GetId()+"="+z.GetRecords()[0].GetData())
	}
	return strings.Join(out, " ")
}

func TestZonesRideInSnapshotsAndDeltas(t *testing.T) {
	s, path := openTemp(t)
	snap := base()
	snap.Zones = []*dnsv1.Zone{zone("z2", "192.0.2.2"), zone("z1", "192.0.2.1")}
	if err := s.SaveSnapshot(snap, 7); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.Load(); zoneIDs(got) != "z1=192.0.2.1 z2=192.0.2.2" {
		t.Fatalf("zones after snapshot = %q", zoneIDs(got))
	}
	next, err := s.ApplyDelta(&syncv1.Delta{PartitionId: "p1", FromVersion: 10, ToVersion: 11, Schema: natsutil.SyncSchema, Upserts: Upserts(zone("z3", "192.0.2.3"), zone("z2", "192.0.2.22")), Deletes: Refs("zone", "z1")}, 8)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := zoneIDs(next), "z2=192.0.2.22 z3=192.0.2.3"; got != want {
		t.Fatalf("zones after delta = %q, want %q", got, want)
	}
	if got := ids(next); got != "a=a.example.com b=b.example.com c=c.example.com" {
		t.Fatalf("apps changed by a zone-only delta: %q", ids(next))
	}
	got, _, _ := reopen(t, s, path).Load()
	if !proto.Equal(got, next) {
		t.Fatalf("reopened snapshot differs:\n got %v\nwant %v", got, next)
	}
}

func TestZoneDeltaValidation(t *testing.T) {
	tests := []struct {
		name  string
		delta *syncv1.Delta
		want  string
	}{
		{name: "zone without id", delta: &syncv1.Delta{FromVersion: 1, ToVersion: 2, Schema: natsutil.SyncSchema, Upserts: Upserts(&dnsv1.Zone{})}, want: "upserts[0].id: required (kind zone)"},
		{name: "duplicate zone", delta: &syncv1.Delta{FromVersion: 1, ToVersion: 2, Schema: natsutil.SyncSchema, Upserts: Upserts(&dnsv1.Zone{Id: "a"}, &dnsv1.Zone{Id: "a"})}, want: "duplicate"},
		{name: "upserted and deleted", delta: &syncv1.Delta{FromVersion: 1, ToVersion: 2, Schema: natsutil.SyncSchema, Upserts: Upserts(&dnsv1.Zone{Id: "a"}), Deletes: Refs("zone", "a")}, want: "also upserted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := validateDelta(tc.delta)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
