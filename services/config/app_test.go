package config

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/aggtest"
	"github.com/strata-edge/strata/pkg/apierr"
)

const testApp = "app_test"

// Events of a small app, reused as "given" histories.
var (
	created = &ev.AppCreated{AppId: testApp, Settings: &ev.AppSettings{
		Name: "shop", Domains: []string{"shop.example.com"}, HttpPorts: []uint32{80}, PartitionIds: []string{"part_a"}}}
	webCreated = &ev.UpstreamCreated{AppId: testApp, Upstream: &configv1.Upstream{Id: "ups_web", Name: "web",
		Servers: []*configv1.Server{{Address: "10.0.0.1:80", Weight: 1}}, Policy: configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN}}
	spareCreated = &ev.UpstreamCreated{AppId: testApp, Upstream: &configv1.Upstream{Id: "ups_spare", Name: "spare",
		Servers: []*configv1.Server{{Address: "10.0.0.9:80", Weight: 1}}, Policy: configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN}}
	apiCreated = &ev.RuleCreated{AppId: testApp, Rule: &configv1.Rule{Id: "rule_api", Name: "api", When: "PathPrefix(`/api`)",
		Actions: []*configv1.Action{{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{
			Upstreams: []*configv1.WeightedUpstream{{Upstream: "web", Weight: 1}}}}}}}}
	released1 = &ev.AppReleased{AppId: testApp, Release: 1}
	webMoved  = &ev.UpstreamUpdated{AppId: testApp, Upstream: &configv1.Upstream{Id: "ups_web", Name: "web",
		Servers: []*configv1.Server{{Address: "10.0.0.2:80", Weight: 1}}, Policy: configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN}}
	released2 = &ev.AppReleased{AppId: testApp, Release: 2}
)

// given folds events into a new app; reverts replay the history.
func given(events ...proto.Message) (*App, []proto.Message) {
	return aggtest.Given(NewApp(testApp), events...), events
}

var (
	then         = aggtest.Then
	thenRejected = aggtest.Rejected
)

func upstream(id, name, addr string) *configv1.Upstream {
	return &configv1.Upstream{Id: id, Name: name, Servers: []*configv1.Server{{Address: addr, Weight: 1}}}
}

func TestAppCreate(t *testing.T) {
	a, _ := given()
	got, err := a.Create(&ev.AppSettings{Name: "shop", Domains: []string{"Shop.Example.com."}, PartitionIds: []string{"part_a"}})
	then(t, got, err, created)

	a, _ = given(created)
	got, err = a.Create(created.Settings)
	thenRejected(t, got, err, apierr.KindFailedPrecondition, "")

	a, _ = given()
	got, err = a.Create(&ev.AppSettings{Name: "", Domains: []string{"-x.com"}})
	thenRejected(t, got, err, apierr.KindInvalid, "domains[0]")
}

func TestAppUpdateAndDelete(t *testing.T) {
	a, _ := given(created)
	s := proto.Clone(created.Settings).(*ev.AppSettings)
	s.Domains = append(s.Domains, "www.example.com")
	got, err := a.Update(s)
	then(t, got, err, &ev.AppUpdated{AppId: testApp, Settings: s})

	got, err = a.Update(created.Settings)
	then(t, got, err) // no change, no event

	got, err = a.Delete()
	then(t, got, err, &ev.AppDeleted{AppId: testApp})

	a, _ = given(created, &ev.AppDeleted{AppId: testApp})
	got, err = a.Update(s)
	thenRejected(t, got, err, apierr.KindFailedPrecondition, "")
	got, err = a.Delete()
	thenRejected(t, got, err, apierr.KindFailedPrecondition, "")

	a, _ = given()
	got, err = a.Update(s)
	thenRejected(t, got, err, apierr.KindNotFound, "")
}

func TestAppUpstreams(t *testing.T) {
	a, _ := given(created)
	got, err := a.CreateUpstream(upstream("ups_web", "web", "10.0.0.1:80"))
	then(t, got, err, webCreated) // policy defaults to round robin

	a, _ = given(created, webCreated)
	got, err = a.CreateUpstream(upstream("ups_2", "web", "10.0.0.1:80"))
	thenRejected(t, got, err, apierr.KindInvalid, "upstream.name")
	got, err = a.CreateUpstream(upstream("", "other", "10.0.0.1:80"))
	thenRejected(t, got, err, apierr.KindInvalid, "upstream.id")

	// Update by id and by name; unchanged content records nothing.
	got, err = a.UpdateUpstream(upstream("ups_web", "web", "10.0.0.2:80"))
	then(t, got, err, webMoved)
	got, err = a.UpdateUpstream(upstream("", "web", "10.0.0.2:80"))
	then(t, got, err, webMoved)
	got, err = a.UpdateUpstream(webCreated.Upstream)
	then(t, got, err)
	got, err = a.UpdateUpstream(upstream("", "nope", "10.0.0.2:80"))
	thenRejected(t, got, err, apierr.KindNotFound, "")

	got, err = a.DeleteUpstream("web")
	then(t, got, err, &ev.UpstreamDeleted{AppId: testApp, UpstreamId: "ups_web"})
	got, err = a.DeleteUpstream("nope")
	thenRejected(t, got, err, apierr.KindNotFound, "")

	// Referenced by a rule: neither deleted nor renamed.
	a, _ = given(created, webCreated, apiCreated)
	got, err = a.DeleteUpstream("ups_web")
	thenRejected(t, got, err, apierr.KindInvalid, "upstream")
	got, err = a.UpdateUpstream(upstream("ups_web", "web2", "10.0.0.1:80"))
	thenRejected(t, got, err, apierr.KindInvalid, "upstream.name")
}

func TestAppRules(t *testing.T) {
	a, _ := given(created, webCreated)
	got, err := a.CreateRule(apiCreated.Rule, nil)
	then(t, got, err, apiCreated)

	a, _ = given(created, webCreated, apiCreated)
	second := &configv1.Rule{Id: "rule_2", Name: "root", Actions: []*configv1.Action{{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: 404}}}}}
	got, err = a.CreateRule(second, ptr(uint32(0)))
	then(t, got, err, &ev.RuleCreated{AppId: testApp, Rule: second, Index: 0})
	got, err = a.CreateRule(second, ptr(uint32(2)))
	thenRejected(t, got, err, apierr.KindInvalid, "index")
	dangling := proto.Clone(apiCreated.Rule).(*configv1.Rule)
	dangling.Id, dangling.Name = "rule_3", "other"
	dangling.Actions[0].GetProxy().Upstreams[0].Upstream = "missing"
	got, err = a.CreateRule(dangling, nil)
	thenRejected(t, got, err, apierr.KindInvalid, "rule.actions[0].proxy.upstreams[0].upstream")

	changed := proto.Clone(apiCreated.Rule).(*configv1.Rule)
	changed.When = "PathPrefix(`/v2`)"
	got, err = a.UpdateRule(changed)
	then(t, got, err, &ev.RuleUpdated{AppId: testApp, Rule: changed})
	got, err = a.UpdateRule(apiCreated.Rule)
	then(t, got, err)

	got, err = a.DeleteRule("api")
	then(t, got, err, &ev.RuleDeleted{AppId: testApp, RuleId: "rule_api"})

	a, _ = given(created, webCreated, apiCreated, &ev.RuleCreated{AppId: testApp, Rule: second, Index: 1})
	got, err = a.MoveRule("root", 0)
	then(t, got, err, &ev.RuleMoved{AppId: testApp, RuleId: "rule_2", Index: 0})
	got, err = a.MoveRule("root", 1)
	then(t, got, err) // already there
	got, err = a.MoveRule("root", 2)
	thenRejected(t, got, err, apierr.KindInvalid, "index")

	a.Apply(99, &ev.RuleMoved{AppId: testApp, RuleId: "rule_2", Index: 0})
	if d := a.Draft(); d.Rules[0].Id != "rule_2" || d.Rules[1].Id != "rule_api" {
		t.Fatalf("rule order after move: %v", d.Rules)
	}
}

func TestAppRelease(t *testing.T) {
	a, _ := given(created, webCreated)
	got, err := a.Release("first", false)
	then(t, got, err, &ev.AppReleased{AppId: testApp, Release: 1, Note: "first"})

	a, _ = given(created, webCreated, released1)
	got, err = a.Release("", false)
	thenRejected(t, got, err, apierr.KindFailedPrecondition, "")

	// Changes that cancel out leave nothing to release.
	back := &ev.UpstreamUpdated{AppId: testApp, Upstream: webCreated.Upstream}
	a, _ = given(created, webCreated, released1, webMoved, back)
	got, err = a.Release("", false)
	thenRejected(t, got, err, apierr.KindFailedPrecondition, "")
	if !strings.Contains(err.Error(), "nothing to release") {
		t.Fatalf("release of changes that cancel out: %v", err)
	}
	got, err = a.Release("", true)
	thenRejected(t, got, err, apierr.KindFailedPrecondition, "")

	// Staging: a release without changes is refused (and names promote);
	// Promote makes the staging release stable, without a new number.
	a, _ = given(created, webCreated, released1, webMoved, &ev.AppReleased{AppId: testApp, Release: 2, Staging: true})
	if a.Stable().Release != 1 || a.Released().Release != 2 || a.StableRelease() != 1 || a.StagingRelease() != 2 {
		t.Fatalf("tracks after staging release: stable %d, staging %d", a.Stable().Release, a.Released().Release)
	}
	got, err = a.Release("promote", false)
	thenRejected(t, got, err, apierr.KindFailedPrecondition, "")
	if !strings.Contains(err.Error(), "strata release promote --app "+testApp) {
		t.Fatalf("release of a staging release: %v", err)
	}
	got, err = a.Release("", true)
	thenRejected(t, got, err, apierr.KindFailedPrecondition, "")
	got, err = a.Promote("go")
	then(t, got, err, &ev.AppPromoted{AppId: testApp, Release: 2, Note: "go"})
	a.Apply(9, got[0])
	if a.Stable() != a.Released() || a.StableRelease() != 2 || a.LatestRelease() != 2 {
		t.Fatalf("after promotion: stable %d staging %d", a.StableRelease(), a.StagingRelease())
	}
	got, err = a.Promote("")
	thenRejected(t, got, err, apierr.KindFailedPrecondition, "")
	// Back to the stable content on staging: a real change for staging nodes.
	a, _ = given(created, webCreated, released1, webMoved, &ev.AppReleased{AppId: testApp, Release: 2, Staging: true}, back)
	got, err = a.Release("", false)
	then(t, got, err, &ev.AppReleased{AppId: testApp, Release: 3})

	// Released content is immutable: later edits do not reach it.
	a, _ = given(created, webCreated, released1)
	r := a.Released()
	a.Apply(10, webMoved)
	if r.Upstreams[0].Servers[0].Address != "10.0.0.1:80" || a.Released() != r {
		t.Fatal("an edit changed the released content")
	}
	if a.Pending() != 1 || a.LatestRelease() != 1 {
		t.Fatalf("pending %d latest %d", a.Pending(), a.LatestRelease())
	}
}

func TestAppRevert(t *testing.T) {
	a, history := given(created, webCreated, released1, webMoved, released2)
	got, err := a.Revert(1, "back", history)
	want := &ev.AppReverted{AppId: testApp, Release: 3, ToRelease: 1, Note: "back", Content: &configv1.App{
		Id: testApp, Name: "shop", Domains: []string{"shop.example.com"}, HttpPorts: []uint32{80},
		PartitionIds: []string{"part_a"}, Upstreams: []*configv1.Upstream{webCreated.Upstream}}}
	then(t, got, err, want)

	// Revert of a revert: release 3 restored release 1; reverting to 2 and
	// then to 3 replays the reverts themselves.
	a, history = given(created, webCreated, released1, webMoved, released2, want)
	if a.Released().Upstreams[0].Servers[0].Address != "10.0.0.1:80" || a.Pending() != 0 {
		t.Fatalf("after revert: %v", a.Released())
	}
	got, err = a.Revert(2, "", history)
	if err != nil || got[0].(*ev.AppReverted).Content.Upstreams[0].Servers[0].Address != "10.0.0.2:80" {
		t.Fatalf("revert to 2: %v %v", got, err)
	}
	// Release 3 (and release 1) hold what every node runs: nothing to release.
	for _, to := range []uint64{3, 1} {
		got, err = a.Revert(to, "", history)
		thenRejected(t, got, err, apierr.KindFailedPrecondition, "")
		if !strings.Contains(err.Error(), "nothing to release") {
			t.Fatalf("revert to the live content: %v", err)
		}
	}

	got, err = a.Revert(0, "", history)
	thenRejected(t, got, err, apierr.KindInvalid, "to_release")
	got, err = a.Revert(7, "", history)
	thenRejected(t, got, err, apierr.KindInvalid, "to_release")
	a, history = given(created)
	got, err = a.Revert(1, "", history)
	thenRejected(t, got, err, apierr.KindFailedPrecondition, "")

	// Reverting away from a release that deleted the app brings it back;
	// reverting to it again records a deletion.
	a, history = given(created, released1, &ev.AppDeleted{AppId: testApp}, released2)
	got, err = a.Revert(2, "", history)
	thenRejected(t, got, err, apierr.KindFailedPrecondition, "") // deleted already
	got, err = a.Revert(1, "", history)
	if err != nil || got[0].(*ev.AppReverted).Deleted {
		t.Fatalf("revert to before the deletion: %v %v", got, err)
	}
	a, history = given(append(history, got...)...)
	if a.Deleted() || a.Released() == nil || a.Gone() {
		t.Fatal("revert did not bring the app back")
	}
	got, err = a.Revert(2, "", history)
	then(t, got, err, &ev.AppReverted{AppId: testApp, Release: 4, ToRelease: 2, Deleted: true})
}

func TestAppRevertObject(t *testing.T) {
	second := &ev.RuleCreated{AppId: testApp, Index: 1, Rule: &configv1.Rule{Id: "rule_2", Name: "spare", Actions: []*configv1.Action{
		{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{Upstreams: []*configv1.WeightedUpstream{{Upstream: "spare", Weight: 1}}}}}}}}
	apiChanged := proto.Clone(apiCreated.Rule).(*configv1.Rule)
	apiChanged.When = "PathPrefix(`/v2`)"
	a, history := given(created, webCreated, apiCreated, released1, webMoved,
		&ev.RuleUpdated{AppId: testApp, Rule: apiChanged}, spareCreated, second, released2)

	got, err := a.RevertObject("upstream", "web", 1, "", history)
	then(t, got, err, &ev.ObjectReverted{AppId: testApp, Release: 3, ToRelease: 1, Kind: ev.ObjectKind_OBJECT_KIND_UPSTREAM,
		ObjectId: "ups_web", Upstream: webCreated.Upstream})
	b, _ := given(append(history, got...)...)
	if b.Released().Upstreams[0].Servers[0].Address != "10.0.0.1:80" || b.Released().Rules[0].When != apiChanged.When {
		t.Fatalf("object revert result: %v", b.Released())
	}

	got, err = a.RevertObject("rule", "rule_api", 1, "", history)
	then(t, got, err, &ev.ObjectReverted{AppId: testApp, Release: 3, ToRelease: 1, Kind: ev.ObjectKind_OBJECT_KIND_RULE,
		ObjectId: "rule_api", Rule: apiCreated.Rule, RuleIndex: 0})

	// The rule did not exist at release 1: reverting it removes it.
	got, err = a.RevertObject("rule", "spare", 1, "", history)
	then(t, got, err, &ev.ObjectReverted{AppId: testApp, Release: 3, ToRelease: 1, Kind: ev.ObjectKind_OBJECT_KIND_RULE, ObjectId: "rule_2"})
	// The upstream did not exist at release 1 but a rule uses it: refused.
	got, err = a.RevertObject("upstream", "spare", 1, "", history)
	thenRejected(t, got, err, apierr.KindFailedPrecondition, "")

	// Restoring what runs: nothing to release.
	got, err = a.RevertObject("upstream", "web", 2, "", history)
	thenRejected(t, got, err, apierr.KindFailedPrecondition, "")

	got, err = a.RevertObject("upstream", "nope", 1, "", history)
	thenRejected(t, got, err, apierr.KindInvalid, "object")
	got, err = a.RevertObject("cert", "web", 1, "", history)
	thenRejected(t, got, err, apierr.KindInvalid, "kind")
}

func TestRehydrateMatchesApply(t *testing.T) {
	events := []proto.Message{created, webCreated, apiCreated, released1, webMoved, released2}
	var recs []Recorded
	for i, e := range events {
		recs = append(recs, Recorded{Position: uint64(10 * (i + 1)), Msg: e})
	}
	a := RehydrateApp(testApp, recs)
	if a.Version() != 60 || a.LatestRelease() != 2 || a.Pending() != 0 || !a.Exists() {
		t.Fatalf("rehydrated: version %d release %d pending %d", a.Version(), a.LatestRelease(), a.Pending())
	}
	if a.Stable() != a.Released() || a.Released().Upstreams[0].Servers[0].Address != "10.0.0.2:80" {
		t.Fatalf("rehydrated release content: %v", a.Released())
	}
}

// TestShallowCopyCoversEveryField guards shallowCopy against fields added to
// App later.
func TestShallowCopyCoversEveryField(t *testing.T) {
	a := &configv1.App{}
	r := a.ProtoReflect()
	fields := r.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		switch {
		case f.IsList():
			l := r.Mutable(f).List()
			l.Append(l.NewElement())
		case f.IsMap():
			r.Mutable(f).Map().Set(protoreflect.ValueOfString("k").MapKey(), protoreflect.ValueOfString("v"))
		case f.Kind() == protoreflect.StringKind:
			r.Set(f, protoreflect.ValueOfString("x"))
		case f.Kind() == protoreflect.Uint64Kind:
			r.Set(f, protoreflect.ValueOfUint64(7))
		case f.Kind() == protoreflect.BoolKind:
			r.Set(f, protoreflect.ValueOfBool(true))
		case f.Kind() == protoreflect.MessageKind:
			r.Set(f, protoreflect.ValueOfMessage(r.NewField(f).Message()))
		default:
			t.Fatalf("field %s of kind %v: extend this test and shallowCopy", f.Name(), f.Kind())
		}
	}
	if c := shallowCopy(a); !proto.Equal(c, a) {
		t.Fatalf("shallowCopy misses a field:\n%v\n%v", a, c)
	}
}

// An app deleted by a staging release still runs on stable nodes: it is
// gone only once the deletion is promoted.
func TestDeletedOnStagingIsNotGone(t *testing.T) {
	a, _ := given(created, released1, &ev.AppDeleted{AppId: testApp}, &ev.AppReleased{AppId: testApp, Release: 2, Staging: true})
	if a.Gone() || a.Stable() == nil {
		t.Fatalf("gone %v with stable content %v after a staging delete", a.Gone(), a.Stable())
	}
	a.Apply(10, &ev.AppPromoted{AppId: testApp, Release: 2})
	if !a.Gone() {
		t.Fatal("not gone after the deletion was promoted")
	}
}

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
