package release

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
)

// The content of these tests is an upstream: any proto message works.
type content = *configv1.Upstream

var kind = Kind[content]{Name: "thing", Promote: "strata thing promote --id",
	Same: func(a, b content) bool { return proto.Equal(a, b) }}

func up(name string) content { return &configv1.Upstream{Id: "ups_" + name, Name: name} }

func wantRefusal(t *testing.T, err error, text string) {
	t.Helper()
	if !apierr.IsKind(err, apierr.KindFailedPrecondition) || !strings.Contains(err.Error(), text) {
		t.Fatalf("err = %v, want failed_precondition ...%s...", err, text)
	}
}

// Given a release on both tracks, when a staging release follows, then
// only the staging track moves; a promotion moves the stable track; a
// revert moves both and replaces the working copy.
func TestTracks(t *testing.T) {
	var s State[content]
	if err := kind.CheckRelease("t1", &s, false); err != nil {
		t.Fatalf("first release refused: %v", err)
	}
	wantRefusal(t, kind.CheckPromote("t1", &s), "has no release yet")
	s.Working = up("a")
	s.Changed()
	s.Released(1, s.Working, false, false)
	if s.Latest() != 1 || s.Pending() != 0 || s.Stable() != s.Newest() || s.StableNumber() != 1 || s.StagingPending() {
		t.Fatalf("after release 1: %+v", s)
	}
	wantRefusal(t, kind.CheckRelease("t1", &s, false), "nothing to release: thing t1 has no changes since release 1")

	s.Working = up("b")
	s.Changed()
	s.Released(2, s.Working, false, true)
	if s.Newest().GetName() != "b" || s.Stable().GetName() != "a" || s.StableNumber() != 1 || !s.StagingPending() {
		t.Fatalf("after staging release 2: newest %v stable %v", s.Newest(), s.Stable())
	}
	wantRefusal(t, kind.CheckRelease("t1", &s, true), "no changes since release 2")
	wantRefusal(t, kind.CheckRelease("t1", &s, false), "strata thing promote --id t1")
	if err := kind.CheckPromote("t1", &s); err != nil {
		t.Fatal(err)
	}
	s.Promoted()
	if s.Stable().GetName() != "b" || s.StableNumber() != 2 || s.StagingPending() {
		t.Fatalf("after promote: stable %v (%d)", s.Stable(), s.StableNumber())
	}
	wantRefusal(t, kind.CheckPromote("t1", &s), "release 2 of thing t1 already runs on stable nodes")

	if !kind.Unchanged(&s, up("b"), false) || kind.Unchanged(&s, up("a"), false) {
		t.Fatal("Unchanged compares with what every node runs")
	}
	if err := kind.CheckTarget("t1", &s, 3); len(apierr.Violations(err)) == 0 || !strings.Contains(err.Error(), "releases are 1-2") {
		t.Fatalf("revert to release 3: %v", err)
	}
	s.Working = up("pending")
	s.Reverted(3, up("a"), false, up("a"))
	if s.Working.GetName() != "a" || s.Stable().GetName() != "a" || s.Newest().GetName() != "a" || s.Latest() != 3 {
		t.Fatalf("after revert: %+v", s)
	}

	// A release that removes the object: both tracks serve nothing.
	s.WorkingDeleted = true
	s.Released(4, nil, true, false)
	if s.Newest() != nil || s.Stable() != nil || !s.Gone() || s.StableNumber() != 4 {
		t.Fatalf("after a deleting release: %+v", s)
	}
	wantRefusal(t, kind.CheckRelease("t1", &s, false), "no changes since release 4")
}

type thing struct{ s State[content] }

func (x *thing) Releases() *State[content] { return &x.s }

func (x *thing) Apply(_ uint64, m proto.Message) {
	x.s.Working = m.(content)
	x.s.Released(x.s.Latest()+1, x.s.Working, false, false)
}

// At replays an object's events to an earlier release's content.
func TestAt(t *testing.T) {
	history := []proto.Message{up("a"), up("b"), up("c")}
	c, deleted, err := At(&thing{}, history, 2)
	if err != nil || deleted || c.GetName() != "b" {
		t.Fatalf("At 2 = %v %v %v", c, deleted, err)
	}
	if _, _, err := At(&thing{}, history, 4); err == nil {
		t.Fatal("At a release past the history")
	}
}

// Target finds the object by a name of then or of now; Restore puts it
// back in place, at its index, or removes it.
func TestObjectRevert(t *testing.T) {
	then := []content{up("a"), {Id: "ups_b", Name: "b-old"}}
	now := []content{{Id: "ups_b", Name: "b"}, up("c")}
	id, o, at := Target("b", then, now)
	if id != "ups_b" || o.GetName() != "b-old" || at != 1 {
		t.Fatalf("Target by today's name = %s %v %d", id, o, at)
	}
	if o == then[1] {
		t.Fatal("Target returned the shared message, not a copy")
	}
	if id, o, _ := Target("c", then, now); id != "ups_c" || o != nil {
		t.Fatalf("object absent then: %s %v", id, o)
	}
	if id, _, _ := Target("zzz", then, now); id != "" {
		t.Fatalf("unknown ref resolved to %q", id)
	}
	names := func(l []content) (out []string) {
		for _, u := range l {
			out = append(out, u.GetName())
		}
		return out
	}
	if got := names(Restore(now, "ups_b", o, -1)); !slices.Equal(got, []string{"b-old", "c"}) {
		t.Fatalf("restore in place: %v", got)
	}
	if got := names(Restore(now, "ups_b", o, 1)); !slices.Equal(got, []string{"c", "b-old"}) {
		t.Fatalf("restore at index 1: %v", got)
	}
	if got := names(Restore(now, "ups_c", nil, -1)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("restore of an absent object: %v", got)
	}
	if got := names(Restore(now, "ups_a", up("a"), -1)); !slices.Equal(got, []string{"b", "c", "a"}) {
		t.Fatalf("restore of a removed object: %v", got)
	}
	if now[0].GetName() != "b" || len(now) != 2 {
		t.Fatal("Restore changed its input list")
	}
}
