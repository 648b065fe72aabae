package config

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
)

// The compact release records give the same messages as before: every
// field, the promotion fields only once promoted, and a revert's kind.
func TestReleaseRecords(t *testing.T) {
	p, f := benchProjection(t, false)
	id := "app_1"
	f.feed(appStream(id), &ev.AppCreated{AppId: id, Settings: &ev.AppSettings{Name: "a", Domains: []string{"a.example.com"}, PartitionIds: []string{benchPartition}}})
	rel := f.feed(appStream(id), &ev.AppReleased{AppId: id, Release: 1, Note: "first", Staging: true})
	at := func(pos uint64) *timestamppb.Timestamp {
		return timestamppb.New(goldenEpoch.Add(time.Duration(pos) * time.Second))
	}
	want := []*configv1.Release{{Number: 1, Note: "first", Staging: true, Kind: "release", Actor: "alice", Time: at(rel), Position: rel}}
	check := func(step string) {
		t.Helper()
		got := releaseProtos(stateOf(p).apps[id].releases)
		if len(got) != len(want) {
			t.Fatalf("%s: %d releases, want %d", step, len(got), len(want))
		}
		for i := range want {
			if !proto.Equal(got[i], want[i]) {
				t.Fatalf("%s: release %d is\n%v\nwant\n%v", step, i, got[i], want[i])
			}
		}
	}
	check("staging release")
	prom := f.feed(appStream(id), &ev.AppPromoted{AppId: id, Release: 1})
	want[0].PromotedBy, want[0].PromotedTime, want[0].PromotedPosition = "alice", at(prom), prom
	check("promoted")
	rev := f.feed(appStream(id), &ev.AppReverted{AppId: id, Release: 2, ToRelease: 1, Note: "back"})
	want = append(want, &configv1.Release{Number: 2, Note: "back", Kind: "revert", RevertedTo: 1, Actor: "alice", Time: at(rev), Position: rev})
	check("reverted")
}
