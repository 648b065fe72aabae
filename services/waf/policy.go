package waf

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	ev "github.com/strata-edge/strata/gen/strata/events/waf/v1"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/release"
)

// Policy is the aggregate of one WAF policy: its release state
// (pkg/release: working copy, pending changes, the releases staging and
// stable nodes run). It exists from PolicyCreated until PolicyDeleted, which
// takes it off every node at once (the service refuses it while an app
// attaches the policy). Commands validate and return events; state changes
// only in Apply.
type Policy struct {
	id      string
	version uint64 // global position of the newest event
	exists  bool
	deleted bool
	rel     release.State[*wafv1.WafPolicy]
}

// policyKind is the release core's view of policies: equal content ignores
// the release number.
var policyKind = release.Kind[*wafv1.WafPolicy]{Name: "waf policy", Promote: "strata waf policy promote",
	Same: release.SameExcept[*wafv1.WafPolicy]("version")}

// NewPolicy returns the empty aggregate of policy id (rehydrate with Apply).
func NewPolicy(id string) *Policy { return &Policy{id: id} }

func (p *Policy) ID() string            { return p.id }
func (p *Policy) Version() uint64       { return p.version }
func (p *Policy) Exists() bool          { return p.exists && !p.deleted }
func (p *Policy) Pending() int          { return p.rel.Pending() }
func (p *Policy) LatestRelease() uint64 { return p.rel.Latest() }

// Releases is the policy's release state (release.Aggregate).
func (p *Policy) Releases() *release.State[*wafv1.WafPolicy] { return &p.rel }

// Working is the working copy (shared; do not modify).
func (p *Policy) Working() *wafv1.WafPolicy { return p.rel.Working }

// Released is the newest release (staging nodes); Stable what stable nodes
// run. nil: none, or the policy was deleted.
func (p *Policy) Released() *wafv1.WafPolicy {
	if p.deleted {
		return nil
	}
	return p.rel.Newest()
}

func (p *Policy) Stable() *wafv1.WafPolicy {
	if p.deleted {
		return nil
	}
	return p.rel.Stable()
}

// StableRelease and StagingRelease are the release numbers the tracks run.
func (p *Policy) StableRelease() uint64  { return p.rel.StableNumber() }
func (p *Policy) StagingRelease() uint64 { return p.rel.Latest() }

// Create records a new policy's working copy pol (normalized, id set).
func (p *Policy) Create(pol *wafv1.WafPolicy) ([]proto.Message, error) {
	if p.exists {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("waf policy %s exists already", p.id))
	}
	return sized(&ev.PolicyCreated{Policy: pol})
}

// Update replaces the working copy with pol (normalized).
func (p *Policy) Update(pol *wafv1.WafPolicy) ([]proto.Message, error) {
	if err := p.mustExist(); err != nil {
		return nil, err
	}
	if proto.Equal(pol, p.rel.Working) {
		return nil, nil // nothing changes: no pending change either
	}
	return sized(&ev.PolicyUpdated{Policy: pol})
}

// Release sends the pending changes to the nodes; a staging release reaches
// only the staging nodes.
func (p *Policy) Release(note string, staging bool) ([]proto.Message, error) {
	if err := p.mustExist(); err != nil {
		return nil, err
	}
	if err := policyKind.CheckRelease(p.id, &p.rel, staging); err != nil {
		return nil, err
	}
	return []proto.Message{&ev.PolicyReleased{PolicyId: p.id, Note: note, Staging: staging}}, nil
}

// Promote makes the newest release, a staging release, live on stable nodes.
func (p *Policy) Promote(note string) ([]proto.Message, error) {
	if err := p.mustExist(); err != nil {
		return nil, err
	}
	if err := policyKind.CheckPromote(p.id, &p.rel); err != nil {
		return nil, err
	}
	return []proto.Message{&ev.PolicyPromoted{PolicyId: p.id, Note: note, Release: p.rel.Latest()}}, nil
}

// Revert releases the content of release to, replayed from history (the
// policy's events, oldest first), on every node; the working copy becomes
// that content too.
func (p *Policy) Revert(to uint64, note string, history []proto.Message) ([]proto.Message, error) {
	if err := p.mustExist(); err != nil {
		return nil, err
	}
	if err := policyKind.CheckTarget(p.id, &p.rel, to); err != nil {
		return nil, err
	}
	content, _, err := release.At(NewPolicy(p.id), history, to)
	if err != nil {
		return nil, fmt.Errorf("waf policy %s: %w", p.id, err)
	}
	if policyKind.Unchanged(&p.rel, content, false) {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("nothing to release: release %d of waf policy %s has the content of release %d, which every node runs", to, p.id, p.rel.Latest()))
	}
	c := proto.Clone(content).(*wafv1.WafPolicy)
	c.Version = 0
	if w := p.rel.Working; w != nil {
		c.Name = w.GetName() // a revert restores the rules, not an old name another policy may hold now
	}
	return []proto.Message{&ev.PolicyReverted{PolicyId: p.id, ToRelease: to, Note: note, Policy: c}}, nil
}

// Delete takes the policy off every node at once. attached are the apps
// that attach it (the caller's lookup): while there are any it is refused.
func (p *Policy) Delete(attached []string) ([]proto.Message, error) {
	if err := p.mustExist(); err != nil {
		return nil, err
	}
	if len(attached) > 0 {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("waf policy %q (%s) is attached to apps %s: detach it first (strata waf policy detach %s --app APP)",
			p.rel.Working.GetName(), p.id, joinShort(attached), p.id))
	}
	return []proto.Message{&ev.PolicyDeleted{PolicyId: p.id}}, nil
}

func (p *Policy) mustExist() error {
	if !p.Exists() {
		return apierr.NotFound("waf policy", p.id)
	}
	return nil
}

// Apply folds one event (at global position pos) into the state.
func (p *Policy) Apply(pos uint64, msg proto.Message) {
	p.version = pos
	switch m := msg.(type) {
	case *ev.PolicyCreated:
		p.exists = true
		p.rel.Working = m.GetPolicy()
		p.rel.Changed()
	case *ev.PolicyUpdated:
		p.rel.Working = m.GetPolicy()
		p.rel.Changed()
	case *ev.PolicyReleased:
		n := p.rel.Latest() + 1
		p.rel.Released(n, p.numbered(n), false, m.GetStaging())
	case *ev.PolicyPromoted:
		p.rel.Promoted()
	case *ev.PolicyReverted:
		n := p.rel.Latest() + 1
		p.rel.Working = m.GetPolicy()
		p.rel.Reverted(n, p.numbered(n), false, p.rel.Working)
	case *ev.PolicyDeleted:
		p.deleted = true
	}
}

// numbered is the working copy as release n.
func (p *Policy) numbered(n uint64) *wafv1.WafPolicy {
	r := proto.Clone(p.rel.Working).(*wafv1.WafPolicy)
	r.Version = n
	return r
}

// sized refuses an event the store would refuse, naming the field that
// makes it large (custom_rules, in practice).
func sized(m proto.Message) ([]proto.Message, error) {
	data, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	if err := apierr.CheckEventSize(m, data); err != nil {
		return nil, err
	}
	return []proto.Message{m}, nil
}

// joinShort lists at most five names, counting the rest.
func joinShort(names []string) string {
	const shown = 5
	s := ""
	for i, n := range names {
		if i == shown {
			return fmt.Sprintf("%s and %d more", s, len(names)-shown)
		}
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}
