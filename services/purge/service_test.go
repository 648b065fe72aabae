package purge

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	purgeev "github.com/strata-edge/strata/gen/strata/events/purge/v1"
	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/validate"
)

func TestCreatePurgeRejectsBadInput(t *testing.T) {
	app := &purgev1.Scope{Target: &purgev1.Scope_AppId{AppId: "shop"}}
	url := purgev1.PurgeKind_PURGE_KIND_URL
	cond := purgev1.PurgeKind_PURGE_KIND_CONDITION
	tests := []struct {
		name  string
		req   *purgev1.CreatePurgeRequest
		field string
		want  string
	}{
		{"no kind", &purgev1.CreatePurgeRequest{Values: []string{"a.com/x"}, Scope: app}, "kind", "required"},
		{"no values", &purgev1.CreatePurgeRequest{Kind: url, Scope: app}, "values", "at least one"},
		{"too many values", &purgev1.CreatePurgeRequest{Kind: url, Values: slices.Repeat([]string{"a.com/x"}, MaxValues+1), Scope: app}, "values", "at most"},
		{"space in value", &purgev1.CreatePurgeRequest{Kind: url, Values: []string{"a.com/x", "a.com/a b"}, Scope: app}, "values[1]", "space"},
		{"url without host", &purgev1.CreatePurgeRequest{Kind: url, Values: []string{"https:///x"}, Scope: app}, "values[0]", "host"},
		{"ftp url", &purgev1.CreatePurgeRequest{Kind: url, Values: []string{"ftp://a.com/x"}, Scope: app}, "values[0]", "scheme"},
		{"prefix with query", &purgev1.CreatePurgeRequest{Kind: purgev1.PurgeKind_PURGE_KIND_PREFIX, Values: []string{"a.com/x?y=1"}, Scope: app}, "values[0]", "query"},
		{"bad host", &purgev1.CreatePurgeRequest{Kind: purgev1.PurgeKind_PURGE_KIND_HOST, Values: []string{"a..com"}, Scope: app}, "values[0]", "host name"},
		{"condition on url kind", &purgev1.CreatePurgeRequest{Kind: url, Values: []string{"a.com/x"}, Condition: &purgev1.Condition{Host: "a.com"}, Scope: app}, "condition", "only allowed"},
		{"condition missing", &purgev1.CreatePurgeRequest{Kind: cond, Scope: app}, "condition", "required"},
		{"condition values", &purgev1.CreatePurgeRequest{Kind: cond, Values: []string{"x"}, Condition: &purgev1.Condition{Host: "a.com"}, Scope: app}, "values", "not allowed"},
		{"condition no host", &purgev1.CreatePurgeRequest{Kind: cond, Condition: &purgev1.Condition{PathRegex: "^/x"}, Scope: app}, "condition.host", "required"},
		{"bad regex", &purgev1.CreatePurgeRequest{Kind: cond, Condition: &purgev1.Condition{Host: "a.com", PathRegex: "(a"}, Scope: app}, "condition.path_regex", "invalid regexp"},
		{"backreference", &purgev1.CreatePurgeRequest{Kind: cond, Condition: &purgev1.Condition{Host: "a.com", PathRegex: `(a)\1`}, Scope: app}, "condition.path_regex", "invalid regexp"},
		{"huge regex", &purgev1.CreatePurgeRequest{Kind: cond, Condition: &purgev1.Condition{Host: "a.com", PathRegex: "a{1000}b{1000}c{1000}d{1000}e{1000}f{1000}"}, Scope: app}, "condition.path_regex", "too large"},
		{"long regex", &purgev1.CreatePurgeRequest{Kind: cond, Condition: &purgev1.Condition{Host: "a.com", PathRegex: strings.Repeat("a", validate.MaxRegexpLength+1)}, Scope: app}, "condition.path_regex", "more than 1024"},
		{"bad header", &purgev1.CreatePurgeRequest{Kind: cond, Condition: &purgev1.Condition{Host: "a.com", Header: "X Bad"}, Scope: app}, "condition.header", "header name"},
		{"header value alone", &purgev1.CreatePurgeRequest{Kind: cond, Condition: &purgev1.Condition{Host: "a.com", HeaderValue: "v"}, Scope: app}, "condition.header_value", "needs"},
		{"no scope", &purgev1.CreatePurgeRequest{Kind: url, Values: []string{"a.com/x"}}, "scope", "required"},
		{"scope all false", &purgev1.CreatePurgeRequest{Kind: url, Values: []string{"a.com/x"}, Scope: &purgev1.Scope{Target: &purgev1.Scope_All{}}}, "scope.all", "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkRequest(tt.req)
			for _, v := range apierr.Violations(err) {
				if v.Field == tt.field && strings.Contains(v.Reason, tt.want) {
					return
				}
			}
			t.Fatalf("got %v, want a violation on %s containing %q", err, tt.field, tt.want)
		})
	}
	ok := &purgev1.CreatePurgeRequest{Kind: cond, Condition: &purgev1.Condition{Host: "a.com", PathRegex: `^/img/.*\.png$`, Header: "Content-Type", HeaderValue: "image/png"}, Scope: app}
	if err := checkRequest(ok); err != nil {
		t.Fatalf("valid condition purge rejected: %v", err)
	}
}

func FuzzValidate(f *testing.F) {
	f.Add(int32(1), "https://a.com/x?y=1", "")
	f.Add(int32(5), "", `^/img/(a|b)+\.png$`)
	f.Add(int32(2), "a.com/x", "(")
	f.Fuzz(func(t *testing.T, kind int32, value, regex string) {
		req := &purgev1.CreatePurgeRequest{Kind: purgev1.PurgeKind(kind), Scope: &purgev1.Scope{Target: &purgev1.Scope_All{All: true}}}
		if value != "" {
			req.Values = []string{value}
		}
		if regex != "" {
			req.Condition = &purgev1.Condition{Host: "a.com", PathRegex: regex}
		}
		if err := checkRequest(req); err != nil && len(apierr.Violations(err)) == 0 {
			t.Fatalf("error without field violations: %v", err)
		}
	})
}

// One purge.purge.acknowledged event may carry the acks of several nodes;
// folding it counts each node once, whichever field carried it.
func TestModelFoldsBatchedAcks(t *testing.T) {
	m := newModel()
	fold := func(pos uint64, typ string, msg proto.Message) {
		t.Helper()
		_, data, err := registry.Encode(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.handle(eventstore.Event{Position: pos, Type: typ, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	fold(1, TypePurgeRequested, &purgeev.PurgeRequested{PurgeId: "prg_1", Command: &purgev1.PurgeCommand{PurgeId: "prg_1"},
		ExpectedNodeIds: []string{"n1", "n2", "n3"}})
	at := timestamp(time.Unix(1_700_000_000, 0))
	fold(2, TypePurgeAcknowledged, &purgeev.PurgeAcknowledged{PurgeId: "prg_1", Ack: &purgev1.NodeAck{NodeId: "n1", AckedAt: at},
		Acks: []*purgev1.NodeAck{{NodeId: "n2", AckedAt: at}, {NodeId: "n1", AckedAt: at}}})
	p, _ := m.view("prg_1")
	if p.GetNodesDone() != 2 || p.GetNodesTotal() != 3 || p.GetTimeToLastAck() != nil {
		t.Fatalf("after a batch of n1, n2 (n1 twice): %d/%d done, time to last ack %v", p.GetNodesDone(), p.GetNodesTotal(), p.GetTimeToLastAck())
	}
	fold(3, TypePurgeAcknowledged, &purgeev.PurgeAcknowledged{PurgeId: "prg_1", Ack: &purgev1.NodeAck{NodeId: "n3", AckedAt: at}})
	if p, _ = m.view("prg_1"); p.GetNodesDone() != 3 || p.GetTimeToLastAck() == nil {
		t.Fatalf("after n3: %d/%d done, time to last ack %v", p.GetNodesDone(), p.GetNodesTotal(), p.GetTimeToLastAck())
	}
}
