package purge

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	ev "github.com/strata-edge/strata/gen/strata/events/purge/v1"
	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/pkg/aggtest"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/eventstore"
)

// givenModel folds purge events into a new read model.
func givenModel(t *testing.T, events ...proto.Message) *model {
	m := newModel()
	aggtest.Given(aggtest.Func(func(pos uint64, msg proto.Message) {
		typ, data, err := registry.Encode(msg)
		if err == nil {
			err = m.handle(eventstore.Event{Position: pos, Type: typ, Data: data})
		}
		if err != nil {
			t.Fatal(err)
		}
	}), events...)
	return m
}

func TestRequestDecision(t *testing.T) {
	now := time.Unix(1_700_000_000, 0).UTC()
	scope := &purgev1.Scope{Target: &purgev1.Scope_AppId{AppId: "shop"}}
	req := &purgev1.CreatePurgeRequest{Kind: purgev1.PurgeKind_PURGE_KIND_TAG, Values: []string{"product-1"}, Soft: true, Scope: scope}
	// The purge waits for the online nodes of its partitions only.
	online := map[string]string{"nod_b": "par_eu", "nod_a": "par_eu", "nod_us": "par_us", "nod_asia": "par_asia"}
	got := requested("prg_1", req, []string{"par_eu", "par_us"}, online, now)
	aggtest.Then(t, []proto.Message{got}, nil, &ev.PurgeRequested{PurgeId: "prg_1", Scope: scope,
		Command: &purgev1.PurgeCommand{PurgeId: "prg_1", Kind: purgev1.PurgeKind_PURGE_KIND_TAG, Values: []string{"product-1"},
			Soft: true, RequestedAt: timestamp(now)},
		PartitionIds: []string{"par_eu", "par_us"}, ExpectedNodeIds: []string{"nod_a", "nod_b", "nod_us"}})

	parts, err := appPartitions("shop", []authz.Object{{Kind: authz.KindPartition, ID: "par_us"},
		{Kind: authz.KindApp, ID: "app_x"}, {Kind: authz.KindPartition, ID: "par_eu"}, {Kind: authz.KindPartition, ID: "par_us"}})
	if err != nil || len(parts) != 2 || parts[0] != "par_eu" || parts[1] != "par_us" {
		t.Fatalf("partitions of an app: %v %v, want par_eu, par_us", parts, err)
	}
	_, err = appPartitions("shop", nil)
	aggtest.Rejected(t, nil, err, apierr.KindFailedPrecondition, "")
}

// The first acknowledgement of each node counts, whether it came live or
// from the log; the batch event of several names the first node and the rest.
func TestAcknowledgeDecision(t *testing.T) {
	at := timestamp(time.Unix(1_700_000_000, 0))
	m := givenModel(t,
		&ev.PurgeRequested{PurgeId: "prg_1", Command: &purgev1.PurgeCommand{PurgeId: "prg_1"}, ExpectedNodeIds: []string{"n1", "n2"}},
		&ev.PurgeAcknowledged{PurgeId: "prg_1", Ack: &purgev1.NodeAck{NodeId: "n1", AckedAt: at}})
	if m.addAck("prg_1", &purgev1.NodeAck{NodeId: "n1", AckedAt: at}) {
		t.Fatal("a node's second acknowledgement counted")
	}
	n2 := &purgev1.NodeAck{NodeId: "n2", AckedAt: at, Objects: 3}
	if !m.addAck("prg_1", n2) {
		t.Fatal("a node's first acknowledgement did not count")
	}
	if p, _ := m.view("prg_1"); p.GetNodesDone() != 2 {
		t.Fatalf("%d of 2 nodes done, want 2", p.GetNodesDone())
	}
	// An ack that overtakes its purge's event is kept.
	if !m.addAck("prg_later", n2) || m.addAck("prg_later", n2) {
		t.Fatal("an ack before its purge's event is not kept once")
	}

	n3 := &purgev1.NodeAck{NodeId: "n3", AckedAt: at}
	msg, actor := acknowledged("prg_1", []*purgev1.NodeAck{n2, n3})
	aggtest.Then(t, []proto.Message{msg}, nil, &ev.PurgeAcknowledged{PurgeId: "prg_1", Ack: n2, Acks: []*purgev1.NodeAck{n3}})
	if actor != "node:n2 and 1 more nodes" {
		t.Fatalf("actor %q", actor)
	}
	if _, actor := acknowledged("prg_1", []*purgev1.NodeAck{n3}); actor != "node:n3" {
		t.Fatalf("actor of one ack %q", actor)
	}
}
