package release

import (
	"testing"
	"time"

	ev "github.com/strata-edge/strata/gen/strata/events/waf/v1"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/pkg/eventstore"
)

// Given release events of a kind, Record keeps one record per release or
// revert, marks the promoted one on a copy, and ignores other events.
func TestRecord(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	e := func(actor string) eventstore.Event {
		return eventstore.Event{Metadata: eventstore.Metadata{Actor: actor, Time: at}}
	}
	var rs []*wafv1.Release
	var step string
	if rs, step = Record(rs, &ev.PolicyUpdated{}, 0, e("alice")); step != "" || len(rs) != 0 {
		t.Fatalf("update: step %q, %d records", step, len(rs))
	}
	if rs, step = Record(rs, &ev.PolicyReleased{Note: "first", Staging: true}, 1, e("alice")); step != StepRelease {
		t.Fatalf("release: step %q", step)
	}
	handedOut := rs[0]
	if rs, step = Record(rs, &ev.PolicyPromoted{Release: 1}, 1, e("bob")); step != StepPromote {
		t.Fatalf("promote: step %q", step)
	}
	if rs, step = Record(rs, &ev.PolicyReverted{ToRelease: 1, Note: "back"}, 2, e("carol")); step != StepRevert {
		t.Fatalf("revert: step %q", step)
	}
	if len(rs) != 2 {
		t.Fatalf("%d records, want 2", len(rs))
	}
	r1, r2 := rs[0], rs[1]
	if r1.GetNumber() != 1 || r1.GetKind() != "release" || r1.GetNote() != "first" || !r1.GetStaging() || r1.GetActor() != "alice" ||
		!r1.GetTime().AsTime().Equal(at) || r1.GetPromotedBy() != "bob" || !r1.GetPromotedTime().AsTime().Equal(at) {
		t.Errorf("release record = %v", r1)
	}
	if handedOut.GetPromotedBy() != "" {
		t.Errorf("the record handed out before the promotion changed: %v", handedOut)
	}
	if r2.GetNumber() != 2 || r2.GetKind() != "revert" || r2.GetRevertedTo() != 1 || r2.GetNote() != "back" || r2.GetActor() != "carol" {
		t.Errorf("revert record = %v", r2)
	}
}

func TestSameExcept(t *testing.T) {
	same := SameExcept[*wafv1.WafPolicy]("version")
	a := &wafv1.WafPolicy{Name: "p", Version: 1}
	if !same(a, &wafv1.WafPolicy{Name: "p", Version: 2}) {
		t.Error("contents differing only in version are not the same")
	}
	if same(a, &wafv1.WafPolicy{Name: "q", Version: 1}) || same(a, &wafv1.WafPolicy{Name: "q", Version: 3}) {
		t.Error("contents differing in name are the same")
	}
	if a.GetVersion() != 1 {
		t.Error("SameExcept changed its argument")
	}
}
