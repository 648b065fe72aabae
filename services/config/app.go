package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
)

// App is the aggregate of one HTTP application, stored in stream "app.<id>".
//
// Commands (Create, Update, CreateUpstream, Release, Revert, ...) validate
// against the current state and return the events that record the change;
// they never change the state. State changes only in apply, which both the
// command path (after the append) and the rehydrate path (from stored
// events) use.
//
// The aggregate holds three contents: the draft (working copy with pending
// changes; private and mutated in place), the newest release (what the
// staging track runs) and the newest non-staging release (what the stable
// track runs). Released contents are immutable: they are shared with
// snapshots, and apply replaces them instead of changing them.
type App struct {
	id      string
	version uint64 // position of the newest applied event: the stream version
	created bool

	draft        *configv1.App
	draftDeleted bool

	released        *configv1.App // nil before the first release
	releasedDeleted bool
	stable          *configv1.App // nil before the first non-staging release
	stableDeleted   bool

	latestRelease uint64
	pending       int // events since the newest release
}

// NewApp returns an empty aggregate for id, ready for Create or rehydration.
func NewApp(id string) *App { return &App{id: id} }

// RehydrateApp folds the app's stored events (oldest first) into its state.
func RehydrateApp(id string, events []Recorded) *App {
	a := NewApp(id)
	for _, e := range events {
		a.Apply(e.Position, e.Msg)
	}
	return a
}

// Recorded is a decoded event with its log position.
type Recorded struct {
	Position uint64
	Msg      proto.Message
}

// ID returns the app id.
func (a *App) ID() string { return a.id }

// Version is the stream version: the position of the app's newest event.
func (a *App) Version() uint64 { return a.version }

// Exists reports whether the app was created.
func (a *App) Exists() bool { return a.created }

// Deleted reports whether the working copy is deleted (pending or released).
func (a *App) Deleted() bool { return a.draftDeleted }

// Gone reports whether the app's deletion was released: it runs nowhere.
func (a *App) Gone() bool { return a.created && a.draftDeleted && a.releasedDeleted && a.pending == 0 }

// LatestRelease is the number of the newest release (0 before the first).
func (a *App) LatestRelease() uint64 { return a.latestRelease }

// Pending is the number of changes since the newest release.
func (a *App) Pending() int { return a.pending }

// Draft returns a copy of the working copy.
func (a *App) Draft() *configv1.App { return proto.Clone(a.draft).(*configv1.App) }

// Released returns the newest released content (shared, immutable; nil
// before the first release or when the release deleted the app).
func (a *App) Released() *configv1.App {
	if a.releasedDeleted {
		return nil
	}
	return a.released
}

// Stable returns the content of the newest non-staging release (shared,
// immutable; nil when none or deleted).
func (a *App) Stable() *configv1.App {
	if a.stableDeleted {
		return nil
	}
	return a.stable
}

func (a *App) draftView() *configv1.App { return a.draft }

// --- commands -------------------------------------------------------------

func (a *App) mustEditable() error {
	switch {
	case !a.created:
		return apierr.NotFound("app", a.id)
	case a.draftDeleted:
		return apierr.FailedPrecondition(fmt.Sprintf("app %s is deleted (release the deletion, or revert the app to bring it back)", a.id))
	}
	return nil
}

// Create records a new app. settings must have their partitions resolved to ids.
func (a *App) Create(settings *ev.AppSettings) ([]proto.Message, error) {
	if a.created {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("app %s already exists", a.id))
	}
	s, vs := normalizeSettings(settings)
	if len(vs) > 0 {
		return nil, apierr.Invalid(vs...)
	}
	return []proto.Message{&ev.AppCreated{AppId: a.id, Settings: s}}, nil
}

// Update replaces the app's settings. No events when nothing changes.
func (a *App) Update(settings *ev.AppSettings) ([]proto.Message, error) {
	if err := a.mustEditable(); err != nil {
		return nil, err
	}
	s, vs := normalizeSettings(settings)
	if len(vs) > 0 {
		return nil, apierr.Invalid(vs...)
	}
	if proto.Equal(s, settingsOf(a.draft)) {
		return nil, nil
	}
	return []proto.Message{&ev.AppUpdated{AppId: a.id, Settings: s}}, nil
}

// Delete records the app's deletion; it takes effect with the next release.
func (a *App) Delete() ([]proto.Message, error) {
	if err := a.mustEditable(); err != nil {
		return nil, err
	}
	return []proto.Message{&ev.AppDeleted{AppId: a.id}}, nil
}

// CreateUpstream adds an upstream; u.Id must be set by the caller.
func (a *App) CreateUpstream(u *configv1.Upstream) ([]proto.Message, error) {
	if err := a.mustEditable(); err != nil {
		return nil, err
	}
	n, vs := normalizeUpstream("upstream", u)
	if n != nil && n.Id == "" {
		vs = append(vs, apierr.FieldViolation{Field: "upstream.id", Reason: "is empty"})
	}
	if n != nil && findUpstream(a.draft, n.Name) >= 0 {
		vs = append(vs, apierr.FieldViolation{Field: "upstream.name", Reason: fmt.Sprintf("upstream %q already exists in this app", n.Name)})
	}
	if len(vs) > 0 {
		return nil, apierr.Invalid(vs...)
	}
	return []proto.Message{&ev.UpstreamCreated{AppId: a.id, Upstream: n}}, nil
}

// UpdateUpstream replaces the upstream with u.Id (or named u.Name when u.Id
// is empty). Renaming an upstream that rules refer to is rejected.
func (a *App) UpdateUpstream(u *configv1.Upstream) ([]proto.Message, error) {
	if err := a.mustEditable(); err != nil {
		return nil, err
	}
	if u == nil {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "upstream", Reason: "is required"})
	}
	i := findUpstream(a.draft, u.Id)
	if u.Id == "" {
		i = findUpstream(a.draft, u.Name)
	}
	if i < 0 {
		return nil, apierr.NotFound("upstream", firstNonEmpty(u.Id, u.Name))
	}
	old := a.draft.Upstreams[i]
	in := proto.Clone(u).(*configv1.Upstream)
	in.Id = old.Id
	n, vs := normalizeUpstream("upstream", in)
	if n != nil && n.Name != old.Name {
		if findUpstream(a.draft, n.Name) >= 0 {
			vs = append(vs, apierr.FieldViolation{Field: "upstream.name", Reason: fmt.Sprintf("upstream %q already exists in this app", n.Name)})
		} else if refs := ruleReferences(a.draft, old.Name); len(refs) > 0 {
			vs = append(vs, apierr.FieldViolation{Field: "upstream.name",
				Reason: fmt.Sprintf("cannot rename upstream %q: it is used by %s", old.Name, strings.Join(refs, ", "))})
		}
	}
	if len(vs) > 0 {
		return nil, apierr.Invalid(vs...)
	}
	if proto.Equal(n, old) {
		return nil, nil
	}
	return []proto.Message{&ev.UpstreamUpdated{AppId: a.id, Upstream: n}}, nil
}

// DeleteUpstream removes an upstream by id or name unless a rule uses it.
func (a *App) DeleteUpstream(ref string) ([]proto.Message, error) {
	if err := a.mustEditable(); err != nil {
		return nil, err
	}
	i := findUpstream(a.draft, ref)
	if i < 0 {
		return nil, apierr.NotFound("upstream", ref)
	}
	u := a.draft.Upstreams[i]
	if refs := ruleReferences(a.draft, u.Name); len(refs) > 0 {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "upstream",
			Reason: fmt.Sprintf("cannot delete upstream %q: it is used by %s", u.Name, strings.Join(refs, ", "))})
	}
	return []proto.Message{&ev.UpstreamDeleted{AppId: a.id, UpstreamId: u.Id}}, nil
}

// CreateRule inserts a rule at index (nil appends); r.Id must be set.
func (a *App) CreateRule(r *configv1.Rule, at *uint32) ([]proto.Message, error) {
	if err := a.mustEditable(); err != nil {
		return nil, err
	}
	n, vs := normalizeRule("rule", r, upstreamNames(a.draft))
	if n != nil && n.Id == "" {
		vs = append(vs, apierr.FieldViolation{Field: "rule.id", Reason: "is empty"})
	}
	if n != nil && findRule(a.draft, n.Name) >= 0 {
		vs = append(vs, apierr.FieldViolation{Field: "rule.name", Reason: fmt.Sprintf("rule %q already exists in this app", n.Name)})
	}
	pos := uint32(len(a.draft.Rules))
	if at != nil {
		if *at > pos {
			vs = append(vs, apierr.FieldViolation{Field: "index", Reason: fmt.Sprintf("%d is past the end of the rule list (%d rules)", *at, pos)})
		}
		pos = *at
	}
	if len(vs) > 0 {
		return nil, apierr.Invalid(vs...)
	}
	return []proto.Message{&ev.RuleCreated{AppId: a.id, Rule: n, Index: pos}}, nil
}

// UpdateRule replaces the rule with r.Id (or named r.Name when r.Id is empty).
func (a *App) UpdateRule(r *configv1.Rule) ([]proto.Message, error) {
	if err := a.mustEditable(); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "rule", Reason: "is required"})
	}
	i := findRule(a.draft, r.Id)
	if r.Id == "" {
		i = findRule(a.draft, r.Name)
	}
	if i < 0 {
		return nil, apierr.NotFound("rule", firstNonEmpty(r.Id, r.Name))
	}
	old := a.draft.Rules[i]
	in := proto.Clone(r).(*configv1.Rule)
	in.Id = old.Id
	n, vs := normalizeRule("rule", in, upstreamNames(a.draft))
	if n != nil && n.Name != old.Name && findRule(a.draft, n.Name) >= 0 {
		vs = append(vs, apierr.FieldViolation{Field: "rule.name", Reason: fmt.Sprintf("rule %q already exists in this app", n.Name)})
	}
	if len(vs) > 0 {
		return nil, apierr.Invalid(vs...)
	}
	if proto.Equal(n, old) {
		return nil, nil
	}
	return []proto.Message{&ev.RuleUpdated{AppId: a.id, Rule: n}}, nil
}

// DeleteRule removes a rule by id or name.
func (a *App) DeleteRule(ref string) ([]proto.Message, error) {
	if err := a.mustEditable(); err != nil {
		return nil, err
	}
	i := findRule(a.draft, ref)
	if i < 0 {
		return nil, apierr.NotFound("rule", ref)
	}
	return []proto.Message{&ev.RuleDeleted{AppId: a.id, RuleId: a.draft.Rules[i].Id}}, nil
}

// MoveRule moves a rule (by id or name) to position to.
func (a *App) MoveRule(ref string, to uint32) ([]proto.Message, error) {
	if err := a.mustEditable(); err != nil {
		return nil, err
	}
	i := findRule(a.draft, ref)
	if i < 0 {
		return nil, apierr.NotFound("rule", ref)
	}
	if int(to) >= len(a.draft.Rules) {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "index",
			Reason: fmt.Sprintf("%d is past the end of the rule list (%d rules)", to, len(a.draft.Rules))})
	}
	if int(to) == i {
		return nil, nil
	}
	return []proto.Message{&ev.RuleMoved{AppId: a.id, RuleId: a.draft.Rules[i].Id, Index: to}}, nil
}

// Release makes the pending changes live as release LatestRelease()+1. A
// staging release reaches only the staging track. A release that would
// change nothing on any track is refused: no empty releases (promoting a
// staging release is Promote, not a release).
func (a *App) Release(note string, staging bool) ([]proto.Message, error) {
	if !a.created {
		return nil, apierr.NotFound("app", a.id)
	}
	same := sameContent(a.draft, a.draftDeleted, a.released, a.releasedDeleted)
	if same && (staging || a.released == a.stable) {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("nothing to release: app %s has no changes since release %d", a.id, a.latestRelease))
	}
	if same {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("nothing to release: app %s has no changes since staging release %d; to make it live on stable nodes: strata release promote --app %s", a.id, a.latestRelease, a.id))
	}
	if !a.draftDeleted {
		// Also for apps stored before the limit existed.
		if err := checkAppSize("app", a.draft); err != nil {
			return nil, err
		}
	}
	return []proto.Message{&ev.AppReleased{AppId: a.id, Release: a.latestRelease + 1, Note: note, Staging: staging}}, nil
}

// Promote makes the newest release, a staging release, live on the stable
// track too (stable nodes then run that release). Pending changes stay
// pending.
func (a *App) Promote(note string) ([]proto.Message, error) {
	if !a.created {
		return nil, apierr.NotFound("app", a.id)
	}
	if a.released == a.stable {
		if a.latestRelease == 0 {
			return nil, apierr.FailedPrecondition(fmt.Sprintf("nothing to promote: app %s has no release yet", a.id))
		}
		return nil, apierr.FailedPrecondition(fmt.Sprintf("nothing to promote: release %d of app %s already runs on stable nodes", a.latestRelease, a.id))
	}
	return []proto.Message{&ev.AppPromoted{AppId: a.id, Release: a.latestRelease, Note: note}}, nil
}

// StableRelease is the number of the release stable nodes run (0: none).
func (a *App) StableRelease() uint64 { return a.stable.GetRelease() }

// StagingRelease is the number of the release staging nodes run (0: none).
func (a *App) StagingRelease() uint64 { return a.released.GetRelease() }

// sameContent reports whether two contents are equal, ignoring their
// release numbers. A nil content (before the first release) equals nothing.
func sameContent(x *configv1.App, xDeleted bool, y *configv1.App, yDeleted bool) bool {
	if xDeleted || yDeleted {
		return xDeleted == yDeleted
	}
	if x == nil || y == nil {
		return false
	}
	if x.Release != y.Release {
		x = shallowCopy(x)
		x.Release = y.Release
	}
	return proto.Equal(x, y)
}

// unchanged reports whether releasing content c on both tracks changes
// nothing: both already run it.
func (a *App) unchanged(c *configv1.App, deleted bool) bool {
	return a.released == a.stable && sameContent(c, deleted, a.released, a.releasedDeleted)
}

// Revert records a new release whose content is the app as of release to,
// rebuilt from history (the app's own events, oldest first). Pending changes
// are replaced by the restored content.
func (a *App) Revert(to uint64, note string, history []proto.Message) ([]proto.Message, error) {
	if !a.created {
		return nil, apierr.NotFound("app", a.id)
	}
	if err := a.checkTarget(to); err != nil {
		return nil, err
	}
	content, deleted, err := contentAt(a.id, history, to)
	if err != nil {
		return nil, err
	}
	if a.unchanged(content, deleted) {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("nothing to release: release %d of app %s has the content of release %d, which every node runs", to, a.id, a.latestRelease))
	}
	e := &ev.AppReverted{AppId: a.id, Release: a.latestRelease + 1, ToRelease: to, Note: note, Deleted: deleted}
	if !deleted {
		c := proto.Clone(content).(*configv1.App)
		c.Release = 0
		e.Content = c
	}
	return []proto.Message{e}, nil
}

// RevertObject records a new release in which one upstream or rule (kind
// "upstream" or "rule", by id or name as of release to or now) is restored to
// its state at release to; everything else keeps its released state.
func (a *App) RevertObject(kind, ref string, to uint64, note string, history []proto.Message) ([]proto.Message, error) {
	if !a.created {
		return nil, apierr.NotFound("app", a.id)
	}
	var k ev.ObjectKind
	switch kind {
	case "upstream":
		k = ev.ObjectKind_OBJECT_KIND_UPSTREAM
	case "rule":
		k = ev.ObjectKind_OBJECT_KIND_RULE
	default:
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "kind", Reason: fmt.Sprintf("%q: want \"upstream\" or \"rule\"", kind)})
	}
	if ref == "" {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "object", Reason: "is empty"})
	}
	if err := a.checkTarget(to); err != nil {
		return nil, err
	}
	base := a.Released()
	if base == nil {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("app %s is deleted in its newest release; revert the whole app instead", a.id))
	}
	target, deleted, err := contentAt(a.id, history, to)
	if err != nil {
		return nil, err
	}
	if deleted {
		target = &configv1.App{}
	}
	e := &ev.ObjectReverted{AppId: a.id, Release: a.latestRelease + 1, ToRelease: to, Note: note, Kind: k}
	switch k {
	case ev.ObjectKind_OBJECT_KIND_UPSTREAM:
		id := ""
		for _, c := range []*configv1.App{target, base, a.draft} {
			if i := findUpstream(c, ref); i >= 0 {
				id = c.Upstreams[i].Id
				break
			}
		}
		if id == "" {
			return nil, apierr.Invalid(apierr.FieldViolation{Field: "object",
				Reason: fmt.Sprintf("no upstream %q in release %d or now", ref, to)})
		}
		e.ObjectId = id
		if i := findUpstream(target, id); i >= 0 {
			e.Upstream = proto.Clone(target.Upstreams[i]).(*configv1.Upstream)
		}
	case ev.ObjectKind_OBJECT_KIND_RULE:
		id := ""
		for _, c := range []*configv1.App{target, base, a.draft} {
			if i := findRule(c, ref); i >= 0 {
				id = c.Rules[i].Id
				break
			}
		}
		if id == "" {
			return nil, apierr.Invalid(apierr.FieldViolation{Field: "object",
				Reason: fmt.Sprintf("no rule %q in release %d or now", ref, to)})
		}
		e.ObjectId = id
		if i := findRule(target, id); i >= 0 {
			e.Rule = proto.Clone(target.Rules[i]).(*configv1.Rule)
			e.RuleIndex = uint32(i)
		}
	}
	restored := restoreObject(base, e)
	if msg := checkReferences(restored); msg != "" {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("cannot revert %s %q to release %d: %s", kind, ref, to, msg))
	}
	restored.Id = a.id
	if a.unchanged(restored, false) {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("nothing to release: %s %q is the same in release %d as in release %d, which every node runs", kind, ref, to, a.latestRelease))
	}
	return []proto.Message{e}, nil
}

func (a *App) checkTarget(to uint64) error {
	if a.latestRelease == 0 {
		return apierr.FailedPrecondition(fmt.Sprintf("app %s has no release to revert to", a.id))
	}
	if to == 0 || to > a.latestRelease {
		which := fmt.Sprintf("releases are 1-%d", a.latestRelease)
		if a.latestRelease == 1 {
			which = "the only release is 1"
		}
		return apierr.Invalid(apierr.FieldViolation{Field: "to_release",
			Reason: fmt.Sprintf("release %d does not exist (%s)", to, which)})
	}
	return nil
}

// contentAt replays history until release n and returns the released content.
func contentAt(id string, history []proto.Message, n uint64) (*configv1.App, bool, error) {
	r := NewApp(id)
	for i, msg := range history {
		r.Apply(uint64(i+1), msg)
		if r.latestRelease == n {
			return r.released, r.releasedDeleted, nil
		}
	}
	return nil, false, fmt.Errorf("release %d of app %s not found in its %d events", n, id, len(history))
}

// checkSize refuses msgs when the working copy they produce is larger than
// maxAppBytes. Apply never changes the lists and messages it replaces, so a
// shallow copy of the aggregate is enough to try them.
func (a *App) checkSize(msgs []proto.Message) error {
	c := *a
	if a.draft != nil {
		c.draft = shallowCopy(a.draft)
	}
	field := "app"
	for _, m := range msgs {
		c.Apply(a.version, m)
		switch m.(type) {
		case *ev.RuleCreated, *ev.RuleUpdated:
			field = "rule"
		case *ev.UpstreamCreated, *ev.UpstreamUpdated:
			field = "upstream"
		case *ev.AppCreated, *ev.AppUpdated:
			field = "domains" // the settings' only list without a small limit
		}
	}
	if c.draft == nil || c.draftDeleted {
		return nil
	}
	return checkAppSize(field, c.draft)
}

// --- state changes ----------------------------------------------------------

// Apply changes the state by one event at log position pos. It is the only
// place where the state changes.
func (a *App) Apply(pos uint64, msg proto.Message) {
	a.version = pos
	switch e := msg.(type) {
	case *ev.AppCreated:
		a.created = true
		a.draft = &configv1.App{Id: a.id}
		setSettings(a.draft, e.Settings)
		a.pending++
	case *ev.AppUpdated:
		setSettings(a.draft, e.Settings)
		a.pending++
	case *ev.AppDeleted:
		a.draftDeleted = true
		a.pending++
	case *ev.UpstreamCreated:
		a.draft.Upstreams = inserted(a.draft.Upstreams, len(a.draft.Upstreams), e.Upstream)
		a.pending++
	case *ev.UpstreamUpdated:
		if i := findUpstream(a.draft, e.Upstream.GetId()); i >= 0 {
			a.draft.Upstreams = replaced(a.draft.Upstreams, i, e.Upstream)
		}
		a.pending++
	case *ev.UpstreamDeleted:
		if i := findUpstream(a.draft, e.UpstreamId); i >= 0 {
			a.draft.Upstreams = removed(a.draft.Upstreams, i)
		}
		a.pending++
	case *ev.RuleCreated:
		a.draft.Rules = inserted(a.draft.Rules, clampIndex(e.Index, len(a.draft.Rules)), e.Rule)
		a.pending++
	case *ev.RuleUpdated:
		if i := findRule(a.draft, e.Rule.GetId()); i >= 0 {
			a.draft.Rules = replaced(a.draft.Rules, i, e.Rule)
		}
		a.pending++
	case *ev.RuleDeleted:
		if i := findRule(a.draft, e.RuleId); i >= 0 {
			a.draft.Rules = removed(a.draft.Rules, i)
		}
		a.pending++
	case *ev.RuleMoved:
		if i := findRule(a.draft, e.RuleId); i >= 0 {
			r := a.draft.Rules[i]
			rest := removed(a.draft.Rules, i)
			a.draft.Rules = inserted(rest, clampIndex(e.Index, len(rest)), r)
		}
		a.pending++
	case *ev.AppReleased:
		c := shallowCopy(a.draft)
		c.Release = e.Release
		a.released, a.releasedDeleted = c, a.draftDeleted
		if !e.Staging {
			a.stable, a.stableDeleted = c, a.draftDeleted
		}
		a.latestRelease = e.Release
		a.pending = 0
	case *ev.AppPromoted:
		a.stable, a.stableDeleted = a.released, a.releasedDeleted
	case *ev.AppReverted:
		c := &configv1.App{}
		if e.Content != nil {
			c = proto.Clone(e.Content).(*configv1.App)
		}
		c.Id, c.Release = a.id, e.Release
		a.setReleased(c, e.Deleted, e.Release)
	case *ev.ObjectReverted:
		c := restoreObject(a.released, e)
		c.Release = e.Release
		a.setReleased(c, false, e.Release)
	}
}

// Contents share their upstream and rule messages, lists and label maps: a
// change never modifies one in place but builds a new list (or map) holding
// the new message. So a release is a shallow copy of the working copy, and
// the messages of an event can become part of the state without a copy.

// shallowCopy returns a new App with the same field values as a.
func shallowCopy(a *configv1.App) *configv1.App {
	return &configv1.App{
		Id: a.Id, Name: a.Name, Domains: a.Domains, HttpPorts: a.HttpPorts, HttpsPorts: a.HttpsPorts,
		PartitionIds: a.PartitionIds, Labels: a.Labels, Upstreams: a.Upstreams, Rules: a.Rules, Release: a.Release,
		HttpsRedirect: a.HttpsRedirect, Hsts: a.Hsts,
	}
}

func inserted[T any](s []T, i int, v T) []T {
	out := make([]T, 0, len(s)+1)
	out = append(out, s[:i]...)
	out = append(out, v)
	return append(out, s[i:]...)
}

func replaced[T any](s []T, i int, v T) []T {
	out := slices.Clone(s)
	out[i] = v
	return out
}

func removed[T any](s []T, i int) []T {
	out := make([]T, 0, len(s)-1)
	out = append(out, s[:i]...)
	return append(out, s[i+1:]...)
}

// setReleased makes c the content of a new release on both tracks and of
// the working copy (a revert replaces pending changes).
func (a *App) setReleased(c *configv1.App, deleted bool, n uint64) {
	a.released, a.releasedDeleted = c, deleted
	a.stable, a.stableDeleted = c, deleted
	a.draft = shallowCopy(c)
	a.draft.Release = 0
	a.draftDeleted = deleted
	a.latestRelease = n
	a.pending = 0
}

// restoreObject returns a copy of base with the object of e restored (or
// removed when e carries neither an upstream nor a rule).
func restoreObject(base *configv1.App, e *ev.ObjectReverted) *configv1.App {
	c := &configv1.App{}
	if base != nil {
		c = proto.Clone(base).(*configv1.App)
	}
	switch e.Kind {
	case ev.ObjectKind_OBJECT_KIND_UPSTREAM:
		i := findUpstream(c, e.ObjectId)
		switch {
		case e.Upstream == nil && i >= 0:
			c.Upstreams = slices.Delete(c.Upstreams, i, i+1)
		case e.Upstream != nil && i >= 0:
			c.Upstreams[i] = proto.Clone(e.Upstream).(*configv1.Upstream)
		case e.Upstream != nil:
			c.Upstreams = append(c.Upstreams, proto.Clone(e.Upstream).(*configv1.Upstream))
		}
	case ev.ObjectKind_OBJECT_KIND_RULE:
		if i := findRule(c, e.ObjectId); i >= 0 {
			c.Rules = slices.Delete(c.Rules, i, i+1)
		}
		if e.Rule != nil {
			c.Rules = slices.Insert(c.Rules, clampIndex(e.RuleIndex, len(c.Rules)), proto.Clone(e.Rule).(*configv1.Rule))
		}
	}
	return c
}

func setSettings(app *configv1.App, s *ev.AppSettings) {
	app.Name = s.GetName()
	app.Domains = slices.Clone(s.GetDomains())
	app.HttpPorts = slices.Clone(s.GetHttpPorts())
	app.HttpsPorts = slices.Clone(s.GetHttpsPorts())
	app.PartitionIds = slices.Clone(s.GetPartitionIds())
	app.Labels = maps.Clone(s.GetLabels())
	app.HttpsRedirect = s.GetHttpsRedirect()
	app.Hsts = s.GetHsts()
}

func settingsOf(app *configv1.App) *ev.AppSettings {
	return &ev.AppSettings{
		Name:          app.GetName(),
		Domains:       app.GetDomains(),
		HttpPorts:     app.GetHttpPorts(),
		HttpsPorts:    app.GetHttpsPorts(),
		PartitionIds:  app.GetPartitionIds(),
		Labels:        app.GetLabels(),
		HttpsRedirect: app.GetHttpsRedirect(),
		Hsts:          app.GetHsts(),
	}
}

// findUpstream returns the index of the upstream with id or name ref, or -1.
func findUpstream(app *configv1.App, ref string) int {
	if app == nil || ref == "" {
		return -1
	}
	for i, u := range app.Upstreams {
		if u.Id == ref {
			return i
		}
	}
	for i, u := range app.Upstreams {
		if u.Name == ref {
			return i
		}
	}
	return -1
}

// findRule returns the index of the rule with id or name ref, or -1.
func findRule(app *configv1.App, ref string) int {
	if app == nil || ref == "" {
		return -1
	}
	for i, r := range app.Rules {
		if r.Id == ref {
			return i
		}
	}
	for i, r := range app.Rules {
		if r.Name == ref {
			return i
		}
	}
	return -1
}

func clampIndex(i uint32, n int) int {
	if int(i) > n {
		return n
	}
	return int(i)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
