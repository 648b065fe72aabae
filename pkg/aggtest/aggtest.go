// Package aggtest states tests of an aggregate as given/when/then: given a
// history of events, when a command, then these events, or this rejection
// with its kind and the field it names. Every service's aggregate tests use
// it, so a refusal is checked the same way everywhere.
package aggtest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/strata-edge/strata/pkg/apierr"
)

// Aggregate folds the events of its stream, oldest first.
type Aggregate interface {
	Apply(pos uint64, msg proto.Message)
}

// Func makes an Aggregate of a fold function (for models whose own Apply
// takes stored events).
type Func func(pos uint64, msg proto.Message)

// Apply calls f.
func (f Func) Apply(pos uint64, msg proto.Message) { f(pos, msg) }

// Given folds events into a at positions 1, 2, ... and returns a.
func Given[A Aggregate](a A, events ...proto.Message) A {
	for i, e := range events {
		a.Apply(uint64(i+1), e)
	}
	return a
}

// Then fails t unless the command succeeded with exactly the events want
// (none: the command changed nothing).
func Then(t testing.TB, got []proto.Message, err error, want ...proto.Message) {
	t.Helper()
	if err != nil {
		t.Fatalf("command failed: %v", err)
	}
	if len(want) == 0 {
		want = nil
	}
	if len(got) == 0 {
		got = nil
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
}

// Rejected fails t unless the command was refused with an error of kind,
// without events, naming field ("": any or no field).
func Rejected(t testing.TB, got []proto.Message, err error, kind apierr.Kind, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("command accepted, events %v", got)
	}
	if len(got) != 0 {
		t.Fatalf("command refused (%v) but returned events %v", err, got)
	}
	if !apierr.IsKind(err, kind) {
		t.Fatalf("error %v is not of kind %d", err, kind)
	}
	if field != "" {
		Violation(t, err, field, "")
	}
}

// Violation fails t unless err names field with a reason containing reason.
func Violation(t testing.TB, err error, field, reason string) {
	t.Helper()
	for _, v := range apierr.Violations(err) {
		if v.Field == field && strings.Contains(v.Reason, reason) {
			return
		}
	}
	t.Fatalf("error %v does not name field %q with reason ...%s...", err, field, reason)
}
