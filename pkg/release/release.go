// Package release is the release core every releasable kind (HTTP apps, DNS
// zones and the kinds to come) shares: a working copy with pending changes,
// the newest release (what staging nodes run), the newest non-staging
// release (what stable nodes run), the rules of release, promote and revert,
// the replay of an earlier release from the object's own events, and the
// diff shown before a release. A kind keeps its content type and events;
// its aggregate embeds a State and calls its transitions from Apply.
package release

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/eventstore"
)

// Content is a releasable kind's content: a pointer to a proto message.
// Released contents are shared and never changed.
type Content interface {
	comparable
	proto.Message
}

// Kind names a releasable kind in messages and compares its contents.
type Kind[C Content] struct {
	Name string // "app", "zone"
	// Promote is the CLI command that promotes a staging release, up to the
	// object's id (a hint in refusals).
	Promote string
	// Same reports whether two contents are equal, ignoring release numbers.
	Same func(a, b C) bool
}

// State is the release state of one object. The zero value is an object
// with no release.
type State[C Content] struct {
	Working        C
	WorkingDeleted bool
	newest         C // newest release: the staging track
	newestDeleted  bool
	stable         C // newest non-staging release: the stable track
	stableDeleted  bool
	stableNumber   uint64
	latest         uint64
	pending        int
}

// Latest is the number of the newest release (0 before the first).
func (s *State[C]) Latest() uint64 { return s.latest }

// Pending is the number of changes since the newest release.
func (s *State[C]) Pending() int { return s.pending }

// Newest is the content of the newest release, what staging nodes run
// (zero before the first release or when it removed the object).
func (s *State[C]) Newest() C { return live(s.newest, s.newestDeleted) }

// Stable is the content stable nodes run (zero: none or removed).
func (s *State[C]) Stable() C { return live(s.stable, s.stableDeleted) }

// StableNumber is the number of the release stable nodes run (0: none).
func (s *State[C]) StableNumber() uint64 { return s.stableNumber }

// StagingPending reports whether the newest release is a staging release
// that stable nodes do not run yet.
func (s *State[C]) StagingPending() bool {
	return s.newest != s.stable || s.newestDeleted != s.stableDeleted
}

func live[C Content](c C, deleted bool) C {
	var zero C
	if deleted {
		return zero
	}
	return c
}

// Gone reports whether the object's deletion was released on both tracks
// and nothing is pending: it runs nowhere and may be forgotten.
func (s *State[C]) Gone() bool {
	return s.WorkingDeleted && s.newestDeleted && s.stableDeleted && s.pending == 0
}

// Changed records one pending change.
func (s *State[C]) Changed() { s.pending++ }

// Released records release n with content c (deleted: the release removes
// the object); a staging release reaches the staging track only.
func (s *State[C]) Released(n uint64, c C, deleted, staging bool) {
	s.newest, s.newestDeleted = c, deleted
	if !staging {
		s.stable, s.stableDeleted, s.stableNumber = c, deleted, n
	}
	s.latest, s.pending = n, 0
}

// Promoted makes the newest release live on the stable track too.
func (s *State[C]) Promoted() {
	s.stable, s.stableDeleted, s.stableNumber = s.newest, s.newestDeleted, s.latest
}

// Reverted records release n with content c on both tracks; the working
// copy becomes working (a revert replaces pending changes).
func (s *State[C]) Reverted(n uint64, c C, deleted bool, working C) {
	s.Released(n, c, deleted, false)
	s.Working, s.WorkingDeleted = working, deleted
}

func (k Kind[C]) same(x C, xDeleted bool, y C, yDeleted bool) bool {
	var zero C
	switch {
	case xDeleted || yDeleted:
		return xDeleted == yDeleted
	case x == zero || y == zero:
		return false
	}
	return k.Same(x, y)
}

// CheckRelease refuses a release of the working copy that would change
// nothing on any track (promoting a staging release is Promote).
func (k Kind[C]) CheckRelease(id string, s *State[C], staging bool) error {
	if s.latest == 0 || !k.same(s.Working, s.WorkingDeleted, s.newest, s.newestDeleted) {
		return nil
	}
	if staging || !s.StagingPending() {
		return apierr.FailedPrecondition(fmt.Sprintf("nothing to release: %s %s has no changes since release %d", k.Name, id, s.latest))
	}
	return apierr.FailedPrecondition(fmt.Sprintf("nothing to release: %s %s has no changes since staging release %d; to make it live on stable nodes: %s %s", k.Name, id, s.latest, k.Promote, id))
}

// CheckPromote refuses a promotion when stable nodes run the newest release.
func (k Kind[C]) CheckPromote(id string, s *State[C]) error {
	switch {
	case s.latest == 0:
		return apierr.FailedPrecondition(fmt.Sprintf("nothing to promote: %s %s has no release yet", k.Name, id))
	case !s.StagingPending():
		return apierr.FailedPrecondition(fmt.Sprintf("nothing to promote: release %d of %s %s already runs on stable nodes", s.latest, k.Name, id))
	}
	return nil
}

// CheckTarget refuses a revert to a release that does not exist.
func (k Kind[C]) CheckTarget(id string, s *State[C], to uint64) error {
	if s.latest == 0 {
		return apierr.FailedPrecondition(fmt.Sprintf("%s %s has no release to revert to", k.Name, id))
	}
	if to == 0 || to > s.latest {
		which := fmt.Sprintf("releases are 1-%d", s.latest)
		if s.latest == 1 {
			which = "the only release is 1"
		}
		return apierr.Invalid(apierr.FieldViolation{Field: "to_release",
			Reason: fmt.Sprintf("release %d does not exist (%s)", to, which)})
	}
	return nil
}

// Unchanged reports whether releasing c on both tracks changes nothing:
// every node runs it already.
func (k Kind[C]) Unchanged(s *State[C], c C, deleted bool) bool {
	return !s.StagingPending() && k.same(c, deleted, s.newest, s.newestDeleted)
}

// Aggregate is a releasable object that folds its own events.
type Aggregate[C Content] interface {
	Apply(pos uint64, msg proto.Message)
	Releases() *State[C]
}

// At replays history (the object's events, oldest first) into fresh, an
// empty aggregate, until release n, and returns that release's content:
// reverts read earlier releases from the log instead of keeping them.
func At[C Content](fresh Aggregate[C], history []proto.Message, n uint64) (c C, deleted bool, err error) {
	for i, msg := range history {
		fresh.Apply(uint64(i+1), msg)
		if s := fresh.Releases(); s.latest == n {
			return s.newest, s.newestDeleted, nil
		}
	}
	return c, false, fmt.Errorf("release %d not found in %d events", n, len(history))
}

// History reads an object's events (stream, oldest first) for At, decoded
// by the kind's decode.
func History(ctx context.Context, store eventstore.Store, stream string, decode func(typ string, data []byte) (proto.Message, error)) ([]proto.Message, error) {
	events, err := store.ReadStream(ctx, stream, 0)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	out := make([]proto.Message, len(events))
	for i, e := range events {
		if out[i], err = decode(e.Type, e.Data); err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
	}
	return out, nil
}
