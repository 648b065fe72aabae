package store

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

func syncedCert(id, domain, chain string) *certv1.SyncedCertificate {
	return &certv1.SyncedCertificate{Id: id, ChainPem: chain, Domains: []string{domain},
		Key: &certv1.WrappedKey{KekId: "k/partition/p1", WrappedDataKey: []byte{1, 2}, Ciphertext: []byte{3, 4}, KeyVersion: 1}}
}

func certIDs(s *syncv1.Snapshot) string {
	var out []string
	for _, c := range s.GetCertificates() {
		out = append(out, c.GetId()+"="+c.GetChainPem())
	}
	return strings.Join(out, " ")
}

func TestCertificatesInSnapshotAndDelta(t *testing.T) {
	s, path := openTemp(t)
	snap := base()
	snap.Certificates = []*certv1.SyncedCertificate{syncedCert("c2", "b.example.com", "v1"), syncedCert("c1", "a.example.com", "v1")}
	if err := s.SaveSnapshot(snap, 5); err != nil {
		t.Fatal(err)
	}
	next, err := s.ApplyDelta(&syncv1.Delta{PartitionId: "p1", FromVersion: 10, ToVersion: 11, Schema: natsutil.SyncSchema, Upserts: Upserts(syncedCert("c3", "c.example.com", "v1"), syncedCert("c1", "a.example.com", "v2")), Deletes: Refs("certificate", "c2")}, 6)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := certIDs(next), "c1=v2 c3=v1"; got != want {
		t.Fatalf("after delta: %s, want %s", got, want)
	}
	s = reopen(t, s, path)
	loaded, _, _ := s.Load()
	if got := certIDs(loaded); got != "c1=v2 c3=v1" {
		t.Fatalf("after reopen: %s", got)
	}
	if !proto.Equal(loaded.Certificates[0].Key, syncedCert("c1", "", "").Key) {
		t.Fatalf("wrapped key changed: %v", loaded.Certificates[0].Key)
	}
	// A snapshot replaces every certificate.
	if err := s.SaveSnapshot(base(), 7); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, path)
	if loaded, _, _ := s.Load(); len(loaded.Certificates) != 0 {
		t.Fatalf("certificates left after snapshot: %s", certIDs(loaded))
	}
}

func TestBadCertDeltaChangesNothing(t *testing.T) {
	s, _ := openTemp(t)
	if err := s.SaveSnapshot(base(), 1); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		d    *syncv1.Delta
		want string
	}{
		{"no id", &syncv1.Delta{PartitionId: "p1", FromVersion: 10, ToVersion: 11, Schema: natsutil.SyncSchema, Upserts: Upserts(&certv1.SyncedCertificate{})}, "upserts[0].id: required (kind certificate)"},
		{"duplicate", &syncv1.Delta{PartitionId: "p1", FromVersion: 10, ToVersion: 11, Schema: natsutil.SyncSchema, Upserts: Upserts(&certv1.SyncedCertificate{Id: "x"}, &certv1.SyncedCertificate{Id: "x"})}, "duplicate"},
		{"upsert and delete", &syncv1.Delta{PartitionId: "p1", FromVersion: 10, ToVersion: 11, Schema: natsutil.SyncSchema, Upserts: Upserts(&certv1.SyncedCertificate{Id: "x"}), Deletes: Refs("certificate", "x")}, "also upserted"},
		{"empty delete", &syncv1.Delta{PartitionId: "p1", FromVersion: 10, ToVersion: 11, Schema: natsutil.SyncSchema, Deletes: Refs("certificate", "")}, "deletes[0]: empty certificate id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.ApplyDelta(tt.d, 2)
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrGap) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if _, meta, _ := s.Load(); meta.Version != 10 {
				t.Fatalf("version moved to %d", meta.Version)
			}
		})
	}
}
