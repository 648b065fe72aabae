package iam

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configeventsv1 "github.com/strata-edge/strata/gen/strata/events/config/v1"
	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/ids"
)

// appendConfigEvent records an event as the config service would.
func (e *env) appendConfigEvent(stream, typ string, msg proto.Message, actor string) {
	e.t.Helper()
	data, err := proto.Marshal(msg)
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = e.store.Append(e.ctx, stream, eventstore.AnyVersion, eventstore.Event{
		ID: ids.New(prefixEvent), Type: typ, Data: data, Metadata: eventstore.Metadata{Actor: actor, Time: e.clock.Now()},
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func types(evs []*iamv1.AuditEvent) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type+"@"+ev.Stream)
	}
	return out
}

func TestAuditEvents(t *testing.T) {
	e := newEnv(t)
	start := e.clock.Now()
	e.createUser("bob") // 1: iam.user.created by admin
	e.createUser("vic")
	e.createUser("sam")
	e.grant(&iamv1.CreateGrantRequest{User: "bob", Role: "admin", ScopeKind: "all"})
	e.grant(&iamv1.CreateGrantRequest{User: "vic", Role: "viewer", ScopeKind: "all"})
	e.grant(&iamv1.CreateGrantRequest{User: "sam", Role: "viewer", ScopeKind: "app", ScopeObject: "shop"})
	e.clock.Advance(time.Hour)
	mid := e.clock.Now()
	e.appendConfigEvent("app.app_shop", "config.app.created", &configeventsv1.AppCreated{AppId: "app_shop", Settings: &configeventsv1.AppSettings{Name: "shop"}}, "bob")
	e.clock.Advance(time.Minute)
	e.appendConfigEvent("app.app_blog", "config.app.created", &configeventsv1.AppCreated{AppId: "app_blog"}, "bob")
	e.clock.Advance(time.Minute)
	e.appendConfigEvent("app.app_shop", "config.app.deleted", &configeventsv1.AppDeleted{AppId: "app_shop"}, "alice")
	if _, err := e.admin.SetUserPassword(e.ctx, &iamv1.SetUserPasswordRequest{Name: "bob", Password: "a brand new passphrase"}); err != nil {
		t.Fatal(err)
	}

	list := func(c iamv1connect.IAMServiceClient, req *iamv1.ListAuditEventsRequest) *iamv1.ListAuditEventsResponse {
		t.Helper()
		res, err := c.ListAuditEvents(e.ctx, req)
		if err != nil {
			t.Fatalf("ListAuditEvents(%v): %v", req, err)
		}
		return res
	}
	tests := []struct {
		name string
		req  *iamv1.ListAuditEventsRequest
		want []string
	}{
		{"by actor, newest first", &iamv1.ListAuditEventsRequest{Actor: "bob"},
			[]string{"config.app.created@app.app_blog", "config.app.created@app.app_shop"}},
		{"by stream", &iamv1.ListAuditEventsRequest{Stream: "app.app_shop"},
			[]string{"config.app.deleted@app.app_shop", "config.app.created@app.app_shop"}},
		{"by stream prefix at a dot", &iamv1.ListAuditEventsRequest{Stream: "iam.user.bob"},
			[]string{"iam.user.password_set@iam.user.bob", "iam.user.created@iam.user.bob"}},
		{"stream prefix does not cut names", &iamv1.ListAuditEventsRequest{Stream: "app.app_sh"}, nil},
		{"by type prefix", &iamv1.ListAuditEventsRequest{Type: "config.app.deleted"},
			[]string{"config.app.deleted@app.app_shop"}},
		{"by time range", &iamv1.ListAuditEventsRequest{Type: "config", Since: timestamppb.New(mid), Until: timestamppb.New(mid.Add(time.Minute))},
			[]string{"config.app.created@app.app_blog", "config.app.created@app.app_shop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := types(list(e.admin, tt.req).Events)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}

	// Payloads are readable JSON without secrets.
	pw := list(e.admin, &iamv1.ListAuditEventsRequest{Type: "iam.user.password_set"}).Events
	if len(pw) != 1 || pw[0].Actor != "admin" || !strings.Contains(pw[0].DataJson, `"name":"bob"`) || strings.Contains(pw[0].DataJson, "argon2") {
		t.Fatalf("password event = %v", pw)
	}
	app := list(e.admin, &iamv1.ListAuditEventsRequest{Stream: "app.app_blog"}).Events
	if len(app) != 1 || !strings.Contains(app[0].DataJson, `"app_id":"app_blog"`) {
		t.Fatalf("config event JSON = %v", app)
	}

	// Paging walks the whole log once, newest to oldest.
	var all []uint64
	req := &iamv1.ListAuditEventsRequest{PageSize: 4}
	for {
		res := list(e.admin, req)
		for _, ev := range res.Events {
			all = append(all, ev.Position)
		}
		if res.NextPageToken == "" {
			break
		}
		req.PageToken = res.NextPageToken
	}
	if head := e.head(); uint64(len(all)) != head || all[0] != head || all[len(all)-1] != 1 {
		t.Fatalf("paged positions %v, want %d..1", all, head)
	}

	// Who sees what: viewers see other services' events but not IAM's;
	// scoped viewers only their objects'; admins everything but IAM.
	vic, sam := e.login("vic"), e.login("sam")
	res, err := e.client("").Login(e.ctx, &iamv1.LoginRequest{User: "bob", Password: "a brand new passphrase", ReturnToken: true})
	if err != nil {
		t.Fatal(err)
	}
	bob := e.client(res.Token)
	for _, c := range []struct {
		name   string
		client iamv1connect.IAMServiceClient
		want   []string
	}{
		{"viewer", vic, []string{"config.app.deleted@app.app_shop", "config.app.created@app.app_blog", "config.app.created@app.app_shop"}},
		{"admin", bob, []string{"config.app.deleted@app.app_shop", "config.app.created@app.app_blog", "config.app.created@app.app_shop"}},
		{"scoped viewer", sam, []string{"config.app.deleted@app.app_shop", "config.app.created@app.app_shop"}},
	} {
		got := types(list(c.client, &iamv1.ListAuditEventsRequest{}).Events)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s sees %v, want %v", c.name, got, c.want)
		}
	}

	// Until cuts newer events off.
	if got := list(e.admin, &iamv1.ListAuditEventsRequest{Type: "iam.grant", Until: timestamppb.New(start)}).Events; len(got) != 3 {
		t.Fatalf("grants until start: %v", types(got))
	}

	// Bad filters.
	_, err = e.admin.ListAuditEvents(e.ctx, &iamv1.ListAuditEventsRequest{Since: timestamppb.New(mid), Until: timestamppb.New(start)})
	wantField(t, err, connect.CodeInvalidArgument, "until", "before since")
	_, err = e.admin.ListAuditEvents(e.ctx, &iamv1.ListAuditEventsRequest{PageToken: "abc"})
	wantField(t, err, connect.CodeInvalidArgument, "page_token", "previous response")
	_, err = e.admin.ListAuditEvents(e.ctx, &iamv1.ListAuditEventsRequest{PageSize: 5000})
	wantField(t, err, connect.CodeInvalidArgument, "page_size", "at most 1000")
}

func TestMessageNameOf(t *testing.T) {
	// Every IAM event type follows the convention the audit API decodes by.
	for typ, want := range registry.All() {
		name, ok := messageNameOf(typ)
		if !ok || name != want {
			t.Errorf("%s -> %q, want %s", typ, name, want)
		}
	}
	for _, bad := range []string{"", "iam", ".x", "iam..x", "iam.user_.x"} {
		if _, ok := messageNameOf(bad); ok {
			t.Errorf("messageNameOf(%q) accepted", bad)
		}
	}
}

func FuzzMessageNameOf(f *testing.F) {
	for _, s := range []string{"iam.user.created", "config.node.staging_set", "a.b", "", "x..y", "é.a.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, typ string) {
		name, ok := messageNameOf(typ)
		if ok && !name.IsValid() {
			t.Fatalf("%q -> invalid name %q", typ, name)
		}
		_ = payloadJSON(typ, []byte{0x0a, 0x01, 'x'})
	})
}

// BenchmarkListAuditEvents measures one page of audit events filtered by
// actor out of a log of 2000 events (1 in 10 matching), on JetStream.
func BenchmarkListAuditEvents(b *testing.B) {
	e := newEnv(b)
	for i := range 2000 {
		actor := "robot"
		if i%10 == 0 {
			actor = "bob"
		}
		e.appendConfigEvent(fmt.Sprintf("app.app_%d", i%50), "config.app.updated", &configeventsv1.AppUpdated{AppId: "x"}, actor)
	}
	req := &iamv1.ListAuditEventsRequest{Actor: "bob", PageSize: 100}
	for b.Loop() {
		res, err := e.admin.ListAuditEvents(e.ctx, req)
		if err != nil || len(res.Events) != 100 {
			b.Fatalf("%d events, %v", len(res.Events), err)
		}
	}
}
