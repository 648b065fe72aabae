package apierr

import (
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/eventstore"
)

// TestCheckEventSize (issue 11.4): a payload the event store would refuse
// is refused first, naming the field that holds most of its bytes (through
// singular message fields) and the limit; the store's own refusal maps to
// invalid_argument too, never internal.
func TestCheckEventSize(t *testing.T) {
	app := &configv1.App{Name: "x", Rules: []*configv1.Rule{{Name: "r", Actions: []*configv1.Action{{Action: &configv1.Action_Respond{
		Respond: &configv1.RespondAction{Body: strings.Repeat("b", 600_000)}}}}}}}
	for range 10_000 {
		app.Domains = append(app.Domains, strings.Repeat("d", 80))
	}
	msg := &configv1.CreateAppResponse{App: app}
	data, _ := proto.Marshal(msg)
	err := CheckEventSize(msg, data)
	vs := Violations(err)
	want := fmt.Sprintf("more than the limit of %d bytes", eventstore.MaxDataLen)
	if len(vs) != 1 || vs[0].Field != "app.domains" || !strings.Contains(vs[0].Reason, want) || ToConnect(err).Code() != connect.CodeInvalidArgument {
		t.Fatalf("CheckEventSize = %v, want app.domains naming the limit", err)
	}
	small, _ := proto.Marshal(&configv1.CreateAppResponse{App: &configv1.App{Name: "x"}})
	if err := CheckEventSize(msg, small); err != nil {
		t.Fatalf("small payload: %v", err)
	}

	storeErr := fmt.Errorf("append to app.a: %w", eventstore.ValidateAppend("app.a",
		[]eventstore.Event{{ID: "e1", Type: "config.app.created", Data: data}}))
	if ce := ToConnect(storeErr); ce.Code() != connect.CodeInvalidArgument || !strings.Contains(ce.Message(), "limit of 1032192") {
		t.Fatalf("store refusal maps to %v", ce)
	}
}
