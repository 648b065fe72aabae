package config

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/release"
)

// App is the aggregate of one HTTP application, stored in stream "app.<id>".
//
// Commands (Create, Update, CreateUpstream, Release, Revert, ...) validate
// against the current state and return the events that record the change;
// they never change the state. State changes only in apply, which both the
// command path (after the append) and the rehydrate path (from stored
// events) use.
//
// Its release state (pkg/release) holds three contents: the draft
// (rel.Working, with pending changes; private and mutated in place), the
// newest release (the staging track) and the newest non-staging release (the
// stable track). Released contents are immutable: they are shared with
// snapshots, and apply replaces them instead of changing them.
type App struct {
	id      string
	version uint64 // position of the newest applied event: the stream version
	created bool
	rel     release.State[*configv1.App]
}

// appKind is the release core's view of apps.
var appKind = release.Kind[*configv1.App]{Name: "app", Promote: "strata release promote --app",
	Same: func(x, y *configv1.App) bool {
		if x.Release != y.Release {
			x = shallowCopy(x)
			x.Release = y.Release
		}
		return proto.Equal(x, y)
	}}

// NewApp returns an empty aggregate for id, ready for Create or rehydration.
func NewApp(id string) *App { return &App{id: id} }

// ID returns the app id.
func (a *App) ID() string { return a.id }

// Version is the stream version: the position of the app's newest event.
func (a *App) Version() uint64 { return a.version }

// Exists reports whether the app was created.
func (a *App) Exists() bool { return a.created }

// Deleted reports whether the working copy is deleted (pending or released).
func (a *App) Deleted() bool { return a.rel.WorkingDeleted }

// Gone reports whether the app's deletion was released: it runs nowhere.
func (a *App) Gone() bool { return a.created && a.rel.Gone() }

// LatestRelease is the number of the newest release (0 before the first).
func (a *App) LatestRelease() uint64 { return a.rel.Latest() }

// Pending is the number of changes since the newest release.
func (a *App) Pending() int { return a.rel.Pending() }

// Releases is the app's release state (release.Aggregate).
func (a *App) Releases() *release.State[*configv1.App] { return &a.rel }

// Draft returns a copy of the working copy.
func (a *App) Draft() *configv1.App { return proto.Clone(a.rel.Working).(*configv1.App) }

// Released returns the newest released content (shared, immutable; nil
// before the first release or when the release deleted the app).
func (a *App) Released() *configv1.App { return a.rel.Newest() }

// Stable returns the content of the newest non-staging release (shared,
// immutable; nil when none or deleted).
func (a *App) Stable() *configv1.App { return a.rel.Stable() }

func (a *App) draftView() *configv1.App { return a.rel.Working }

// --- commands -------------------------------------------------------------

func (a *App) mustEditable() error {
	switch {
	case !a.created:
		return apierr.NotFound("app", a.id)
	case a.rel.WorkingDeleted:
		return apierr.FailedPrecondition(fmt.Sprintf("app %s is deleted (release the deletion, or revert the app to bring it back)", a.id))
	}
	return nil
}

// mustHaveUpstreams refuses upstreams on forward-proxy apps: they connect
// where their clients ask.
func (a *App) mustHaveUpstreams() error {
	if a.rel.Working.GetForwardProxy() != nil {
		return apierr.FailedPrecondition(fmt.Sprintf("app %s is a forward-proxy app: it has no upstreams (clients name where they connect; egress limits it)", a.id))
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
	if err := checkRoleChange(a.id, a.rel.Working, settings); err != nil {
		return nil, err
	}
	s, vs := normalizeSettings(settings)
	if len(vs) > 0 {
		return nil, apierr.Invalid(vs...)
	}
	if proto.Equal(s, settingsOf(a.rel.Working)) {
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
	if err := a.mustHaveUpstreams(); err != nil {
		return nil, err
	}
	n, vs := normalizeUpstream("upstream", u)
	if n != nil && a.rel.Working.GetStream() != nil {
		checkStreamUpstream((*apierr.Fields)(&vs), "upstream", n)
	}
	if n != nil && n.Id == "" {
		vs = append(vs, apierr.FieldViolation{Field: "upstream.id", Reason: "is empty"})
	}
	if n != nil && findUpstream(a.rel.Working, n.Name) >= 0 {
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
	i := findUpstream(a.rel.Working, cmp.Or(u.Id, u.Name))
	if i < 0 {
		return nil, apierr.NotFound("upstream", cmp.Or(u.Id, u.Name))
	}
	old := a.rel.Working.Upstreams[i]
	in := proto.Clone(u).(*configv1.Upstream)
	in.Id = old.Id
	n, vs := normalizeUpstream("upstream", in)
	if n != nil && a.rel.Working.GetStream() != nil {
		checkStreamUpstream((*apierr.Fields)(&vs), "upstream", n)
	}
	if n != nil && n.Name != old.Name {
		if findUpstream(a.rel.Working, n.Name) >= 0 {
			vs = append(vs, apierr.FieldViolation{Field: "upstream.name", Reason: fmt.Sprintf("upstream %q already exists in this app", n.Name)})
		} else if refs := ruleReferences(a.rel.Working, old.Name); len(refs) > 0 {
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
	i := findUpstream(a.rel.Working, ref)
	if i < 0 {
		return nil, apierr.NotFound("upstream", ref)
	}
	u := a.rel.Working.Upstreams[i]
	if refs := ruleReferences(a.rel.Working, u.Name); len(refs) > 0 {
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
	if role := roleOf(a.rel.Working); role != roleHTTP {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("app %s is %s: page rules are for HTTP apps only", a.id, roleNoun(role)))
	}
	n, vs := normalizeRule("rule", r, upstreamNames(a.rel.Working))
	if n != nil && n.Id == "" {
		vs = append(vs, apierr.FieldViolation{Field: "rule.id", Reason: "is empty"})
	}
	if n != nil && findRule(a.rel.Working, n.Name) >= 0 {
		vs = append(vs, apierr.FieldViolation{Field: "rule.name", Reason: fmt.Sprintf("rule %q already exists in this app", n.Name)})
	}
	vs = append(vs, rateLimitNameClash(a.rel.Working, n)...)
	pos := uint32(len(a.rel.Working.Rules))
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
	i := findRule(a.rel.Working, cmp.Or(r.Id, r.Name))
	if i < 0 {
		return nil, apierr.NotFound("rule", cmp.Or(r.Id, r.Name))
	}
	old := a.rel.Working.Rules[i]
	in := proto.Clone(r).(*configv1.Rule)
	in.Id = old.Id
	n, vs := normalizeRule("rule", in, upstreamNames(a.rel.Working))
	if n != nil && n.Name != old.Name && findRule(a.rel.Working, n.Name) >= 0 {
		vs = append(vs, apierr.FieldViolation{Field: "rule.name", Reason: fmt.Sprintf("rule %q already exists in this app", n.Name)})
	}
	vs = append(vs, rateLimitNameClash(a.rel.Working, n)...)
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
	i := findRule(a.rel.Working, ref)
	if i < 0 {
		return nil, apierr.NotFound("rule", ref)
	}
	return []proto.Message{&ev.RuleDeleted{AppId: a.id, RuleId: a.rel.Working.Rules[i].Id}}, nil
}

// MoveRule moves a rule (by id or name) to position to.
func (a *App) MoveRule(ref string, to uint32) ([]proto.Message, error) {
	if err := a.mustEditable(); err != nil {
		return nil, err
	}
	i := findRule(a.rel.Working, ref)
	if i < 0 {
		return nil, apierr.NotFound("rule", ref)
	}
	if int(to) >= len(a.rel.Working.Rules) {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "index",
			Reason: fmt.Sprintf("%d is past the end of the rule list (%d rules)", to, len(a.rel.Working.Rules))})
	}
	if int(to) == i {
		return nil, nil
	}
	return []proto.Message{&ev.RuleMoved{AppId: a.id, RuleId: a.rel.Working.Rules[i].Id, Index: to}}, nil
}

// Release makes the pending changes live as release LatestRelease()+1. A
// staging release reaches only the staging track. A release that would
// change nothing on any track is refused: no empty releases (promoting a
// staging release is Promote, not a release).
func (a *App) Release(note string, staging bool) ([]proto.Message, error) {
	if !a.created {
		return nil, apierr.NotFound("app", a.id)
	}
	if err := appKind.CheckRelease(a.id, &a.rel, staging); err != nil {
		return nil, err
	}
	if !a.rel.WorkingDeleted {
		// Also for apps stored before the limit existed.
		if err := checkAppSize("app", a.rel.Working); err != nil {
			return nil, err
		}
		if msg := checkStreamReferences(a.rel.Working); msg != "" {
			return nil, apierr.FailedPrecondition("cannot release: " + msg)
		}
	}
	return []proto.Message{&ev.AppReleased{AppId: a.id, Release: a.rel.Latest() + 1, Note: note, Staging: staging}}, nil
}

// Promote makes the newest release, a staging release, live on the stable
// track too (stable nodes then run that release). Pending changes stay
// pending.
func (a *App) Promote(note string) ([]proto.Message, error) {
	if !a.created {
		return nil, apierr.NotFound("app", a.id)
	}
	if err := appKind.CheckPromote(a.id, &a.rel); err != nil {
		return nil, err
	}
	return []proto.Message{&ev.AppPromoted{AppId: a.id, Release: a.rel.Latest(), Note: note}}, nil
}

// StableRelease is the number of the release stable nodes run (0: none).
func (a *App) StableRelease() uint64 { return a.rel.StableNumber() }

// StagingRelease is the number of the release staging nodes run (0: none).
func (a *App) StagingRelease() uint64 { return a.rel.Latest() }

// Revert records a new release whose content is the app as of release to,
// rebuilt from history (the app's own events, oldest first). Pending changes
// are replaced by the restored content.
func (a *App) Revert(to uint64, note string, history []proto.Message) ([]proto.Message, error) {
	if !a.created {
		return nil, apierr.NotFound("app", a.id)
	}
	if err := appKind.CheckTarget(a.id, &a.rel, to); err != nil {
		return nil, err
	}
	content, deleted, err := contentAt(a.id, history, to)
	if err != nil {
		return nil, err
	}
	if appKind.Unchanged(&a.rel, content, deleted) {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("nothing to release: release %d of app %s has the content of release %d, which every node runs", to, a.id, a.rel.Latest()))
	}
	e := &ev.AppReverted{AppId: a.id, Release: a.rel.Latest() + 1, ToRelease: to, Note: note, Deleted: deleted}
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
	if err := appKind.CheckTarget(a.id, &a.rel, to); err != nil {
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
	e := &ev.ObjectReverted{AppId: a.id, Release: a.rel.Latest() + 1, ToRelease: to, Note: note, Kind: k}
	switch k {
	case ev.ObjectKind_OBJECT_KIND_UPSTREAM:
		e.ObjectId, e.Upstream, _ = release.Target(ref, target.GetUpstreams(), base.GetUpstreams(), a.rel.Working.GetUpstreams())
	case ev.ObjectKind_OBJECT_KIND_RULE:
		var at int
		e.ObjectId, e.Rule, at = release.Target(ref, target.GetRules(), base.GetRules(), a.rel.Working.GetRules())
		e.RuleIndex = uint32(max(at, 0))
	}
	if e.ObjectId == "" {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "object",
			Reason: fmt.Sprintf("no %s %q in release %d or now", kind, ref, to)})
	}
	restored := restoreObject(base, e)
	if msg := checkReferences(restored); msg != "" {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("cannot revert %s %q to release %d: %s", kind, ref, to, msg))
	}
	restored.Id = a.id
	if appKind.Unchanged(&a.rel, restored, false) {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("nothing to release: %s %q is the same in release %d as in release %d, which every node runs", kind, ref, to, a.rel.Latest()))
	}
	return []proto.Message{e}, nil
}

// contentAt replays history until release n and returns the released content.
func contentAt(id string, history []proto.Message, n uint64) (*configv1.App, bool, error) {
	c, deleted, err := release.At(NewApp(id), history, n)
	if err != nil {
		return nil, false, fmt.Errorf("app %s: %w", id, err)
	}
	return c, deleted, nil
}

// checkSize refuses msgs when the working copy they produce is larger than
// maxAppBytes. Apply never changes the lists and messages it replaces, so a
// shallow copy of the aggregate is enough to try them.
func (a *App) checkSize(msgs []proto.Message) error {
	c := *a
	if a.rel.Working != nil {
		c.rel.Working = shallowCopy(a.rel.Working)
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
			if c.rel.Working.GetForwardProxy() != nil {
				field = "forward_proxy.credentials" // up to 1,000 hashes
			} else if c.rel.Working.GetStream() != nil {
				field = "stream"
			}
		}
	}
	if c.rel.Working == nil || c.rel.WorkingDeleted {
		return nil
	}
	return checkAppSize(field, c.rel.Working)
}

// --- state changes ----------------------------------------------------------

// Apply changes the state by one event at log position pos. It is the only
// place where the state changes.
func (a *App) Apply(pos uint64, msg proto.Message) {
	a.version = pos
	switch e := msg.(type) {
	case *ev.AppCreated:
		a.created = true
		a.rel.Working = &configv1.App{Id: a.id}
		setSettings(a.rel.Working, e.Settings)
		a.rel.Changed()
	case *ev.AppUpdated:
		setSettings(a.rel.Working, e.Settings)
		a.rel.Changed()
	case *ev.AppDeleted:
		a.rel.WorkingDeleted = true
		a.rel.Changed()
	case *ev.UpstreamCreated:
		a.rel.Working.Upstreams = inserted(a.rel.Working.Upstreams, len(a.rel.Working.Upstreams), e.Upstream)
		a.rel.Changed()
	case *ev.UpstreamUpdated:
		if i := findUpstream(a.rel.Working, e.Upstream.GetId()); i >= 0 {
			a.rel.Working.Upstreams = replaced(a.rel.Working.Upstreams, i, e.Upstream)
		}
		a.rel.Changed()
	case *ev.UpstreamDeleted:
		if i := findUpstream(a.rel.Working, e.UpstreamId); i >= 0 {
			a.rel.Working.Upstreams = removed(a.rel.Working.Upstreams, i)
		}
		a.rel.Changed()
	case *ev.RuleCreated:
		a.rel.Working.Rules = inserted(a.rel.Working.Rules, min(int(e.Index), len(a.rel.Working.Rules)), e.Rule)
		a.rel.Changed()
	case *ev.RuleUpdated:
		if i := findRule(a.rel.Working, e.Rule.GetId()); i >= 0 {
			a.rel.Working.Rules = replaced(a.rel.Working.Rules, i, e.Rule)
		}
		a.rel.Changed()
	case *ev.RuleDeleted:
		if i := findRule(a.rel.Working, e.RuleId); i >= 0 {
			a.rel.Working.Rules = removed(a.rel.Working.Rules, i)
		}
		a.rel.Changed()
	case *ev.RuleMoved:
		if i := findRule(a.rel.Working, e.RuleId); i >= 0 {
			r := a.rel.Working.Rules[i]
			rest := removed(a.rel.Working.Rules, i)
			a.rel.Working.Rules = inserted(rest, min(int(e.Index), len(rest)), r)
		}
		a.rel.Changed()
	case *ev.AppReleased:
		c := shallowCopy(a.rel.Working)
		c.Release = e.Release
		a.rel.Released(e.Release, c, a.rel.WorkingDeleted, e.Staging)
	case *ev.AppPromoted:
		a.rel.Promoted()
	case *ev.AppReverted:
		c := &configv1.App{}
		if e.Content != nil {
			c = proto.Clone(e.Content).(*configv1.App)
		}
		c.Id, c.Release = a.id, e.Release
		a.setReleased(c, e.Deleted, e.Release)
	case *ev.ObjectReverted:
		c := restoreObject(a.rel.Newest(), e)
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
		HttpsRedirect: a.HttpsRedirect, Hsts: a.Hsts, Role: a.Role, WafPolicyId: a.WafPolicyId, Limits: a.Limits,
	}
}

func inserted[T any](s []T, i int, v T) []T { return slices.Insert(slices.Clone(s), i, v) }

func replaced[T any](s []T, i int, v T) []T {
	out := slices.Clone(s)
	out[i] = v
	return out
}

func removed[T any](s []T, i int) []T { return slices.Delete(slices.Clone(s), i, i+1) }

// setReleased makes c the content of a new release on both tracks and of
// the working copy (a revert replaces pending changes).
func (a *App) setReleased(c *configv1.App, deleted bool, n uint64) {
	w := shallowCopy(c)
	w.Release = 0
	a.rel.Reverted(n, c, deleted, w)
}

// restoreObject returns a copy of base with the object of e restored (or
// removed when e carries neither an upstream nor a rule).
func restoreObject(base *configv1.App, e *ev.ObjectReverted) *configv1.App {
	c := &configv1.App{}
	if base != nil {
		c = shallowCopy(base)
	}
	switch e.Kind {
	case ev.ObjectKind_OBJECT_KIND_UPSTREAM:
		c.Upstreams = release.Restore(c.Upstreams, e.ObjectId, e.Upstream, -1)
	case ev.ObjectKind_OBJECT_KIND_RULE:
		c.Rules = release.Restore(c.Rules, e.ObjectId, e.Rule, int(e.RuleIndex))
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
	app.WafPolicyId = s.GetWafPolicyId()
	app.Limits = s.GetLimits()
	switch r := s.GetRole().(type) {
	case *ev.AppSettings_Stream:
		app.Role = &configv1.App_Stream{Stream: r.Stream}
	case *ev.AppSettings_ForwardProxy:
		app.Role = &configv1.App_ForwardProxy{ForwardProxy: r.ForwardProxy}
	default:
		app.Role = nil
	}
}

func settingsOf(app *configv1.App) *ev.AppSettings {
	s := &ev.AppSettings{
		Name:          app.GetName(),
		Domains:       app.GetDomains(),
		HttpPorts:     app.GetHttpPorts(),
		HttpsPorts:    app.GetHttpsPorts(),
		PartitionIds:  app.GetPartitionIds(),
		Labels:        app.GetLabels(),
		HttpsRedirect: app.GetHttpsRedirect(),
		Hsts:          app.GetHsts(),
		WafPolicyId:   app.GetWafPolicyId(),
		Limits:        app.GetLimits(),
	}
	switch r := app.GetRole().(type) {
	case *configv1.App_Stream:
		s.Role = &ev.AppSettings_Stream{Stream: r.Stream}
	case *configv1.App_ForwardProxy:
		s.Role = &ev.AppSettings_ForwardProxy{ForwardProxy: r.ForwardProxy}
	}
	return s
}

// findUpstream returns the index of the upstream with id or name ref, or -1.
func findUpstream(app *configv1.App, ref string) int { return release.Find(app.GetUpstreams(), ref) }

// findRule returns the index of the rule with id or name ref, or -1.
func findRule(app *configv1.App, ref string) int { return release.Find(app.GetRules(), ref) }

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
