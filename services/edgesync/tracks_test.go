package edgesync

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

func clusters() Kind {
	return Kind{Name: "cluster", View: func(s *syncv1.Snapshot, objs []proto.Message) {
		for _, o := range objs {
			s.Clusters = append(s.Clusters, o.(*configv1.Cluster))
		}
	}}
}

func summary(ds []*syncv1.Delta) string {
	var out []string
	for _, d := range ds {
		s := d.PartitionId
		for _, r := range d.Upserts {
			s += " +" + r.Kind + "/" + r.Id
		}
		for _, r := range d.Deletes {
			s += " -" + r.Kind + "/" + r.Id
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

// One mover for every kind: a change upserts where the object is, deletes
// where it was, joins the delta of its event, and moves nothing when the
// content is the same.
func TestApplyMovesTracks(t *testing.T) {
	ts := New(slog.New(slog.DiscardHandler), true, clusters())
	ts.Ensure("p1")
	ts.Ensure("p2")
	at := time.Unix(1_700_000_000, 0)
	c1 := &configv1.Cluster{Id: "c1", Name: "one"}
	ts.Apply(5, at, Change{Kind: "cluster", ID: "c1", Values: Everywhere(c1, []string{"p1", "p2"})})
	ts.Apply(7, at, Change{Kind: "cluster", ID: "c1", Values: Everywhere(c1, []string{"p2"})})
	c2 := &configv1.Cluster{Id: "c2"}
	ts.Apply(7, at, Change{Kind: "cluster", ID: "c2", Values: Everywhere(c2, []string{"p1"})}) // same event: same delta
	ts.Apply(9, at, Change{Kind: "cluster", ID: "c1", Values: Everywhere(proto.Clone(c1), []string{"p2"})})
	p1, p2 := Key{Partition: "p1"}, Key{Partition: "p2"}
	if got, want := summary(ts.Pending(p1)), "p1 +cluster/c1; p1 +cluster/c2 -cluster/c1"; got != want {
		t.Errorf("p1 deltas %q, want %q", got, want)
	}
	if got, want := summary(ts.Pending(p2)), "p2 +cluster/c1"; got != want {
		t.Errorf("p2 deltas %q, want %q (same content twice moves nothing)", got, want)
	}
	if d := ts.Pending(p1)[1]; d.FromVersion != 5 || d.ToVersion != 7 || d.Schema != 2 {
		t.Errorf("second delta %d->%d schema %d", d.FromVersion, d.ToVersion, d.Schema)
	}
	if got := summary(ts.Pending(Key{Partition: "p1", Staging: true})); got != "" {
		t.Errorf("staging track moved: %q", got)
	}
	s, b := ts.SnapshotAt(p1, 7)
	if s == nil || len(s.Clusters) != 1 || s.Clusters[0].Id != "c2" || len(b.Resources) != 1 || b.Version != 7 {
		t.Fatalf("snapshot %v bundle %v", s, b)
	}
	if s, _ := ts.SnapshotAt(p1, 5); s != nil {
		t.Fatal("snapshot at a version the track left")
	}
	if latest, lag, _ := ts.Lag(p1, 5, at); latest != 7 || lag != 1 {
		t.Errorf("lag of a node at 5: latest %d, %d versions", latest, lag)
	}
}
