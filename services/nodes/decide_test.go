package nodes

import (
	"testing"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/aggtest"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/eventstore"
)

// givenModel folds events into a new read model.
func givenModel(events ...proto.Message) *model {
	m := newModel()
	aggtest.Given(aggtest.Func(func(pos uint64, msg proto.Message) { m.apply(eventstore.Event{Position: pos}, msg) }), events...)
	return m
}

var (
	euCreated = &ev.ClusterCreated{Cluster: &configv1.Cluster{Id: "cls_eu", Name: "eu"}}
	usCreated = &ev.ClusterCreated{Cluster: &configv1.Cluster{Id: "cls_us", Name: "us"}}
	edge1     = &ev.NodeRegistered{Node: &configv1.Node{Id: "nod_1", Name: "edge1", ClusterId: "cls_eu"}}
	edge1US   = &ev.NodeRegistered{Node: &configv1.Node{Id: "nod_2", Name: "edge1", ClusterId: "cls_us"}}
	tokenA    = &ev.JoinTokenCreated{TokenId: "jt_a", ClusterId: "cls_eu"}
)

// decided turns a node decision into the events it records, checking that
// the type id it records is the payload's.
func decided(t *testing.T) func(*nodeState, string, proto.Message, error) ([]proto.Message, error) {
	return func(_ *nodeState, typeID string, payload proto.Message, err error) ([]proto.Message, error) {
		t.Helper()
		if payload == nil {
			return nil, err
		}
		if want, _ := configevents.TypeOf(payload); typeID != want {
			t.Fatalf("decision records %s as type %q, want %q", payload, typeID, want)
		}
		return []proto.Message{payload}, err
	}
}

func TestRegisterDecision(t *testing.T) {
	m := givenModel(euCreated, edge1)
	got, err := m.register("nod_9", &configv1.RegisterNodeRequest{Name: "edge2", Cluster: "eu", Staging: true})
	aggtest.Then(t, []proto.Message{got}, err, &ev.NodeRegistered{Node: &configv1.Node{
		Id: "nod_9", Name: "edge2", ClusterId: "cls_eu", Staging: true, Approved: true}})
	got, err = m.register("nod_9", &configv1.RegisterNodeRequest{Name: "edge1", Cluster: "cls_eu"})
	aggtest.Rejected(t, nil, err, apierr.KindInvalid, "name")
	if got != nil {
		t.Fatalf("refused registration returned %v", got)
	}
	_, err = m.register("nod_9", &configv1.RegisterNodeRequest{Name: "edge2", Cluster: "us"})
	aggtest.Rejected(t, nil, err, apierr.KindInvalid, "cluster")
	// A removed node's name is free again.
	m = givenModel(euCreated, edge1, &ev.NodeRemoved{NodeId: "nod_1"})
	_, err = m.register("nod_9", &configv1.RegisterNodeRequest{Name: "edge1", Cluster: "eu"})
	aggtest.Then(t, nil, err)
}

func TestNodeDecisions(t *testing.T) {
	decide := decided(t)
	m := givenModel(euCreated, edge1)
	got, err := decide(m.changeNode("nod_1", approveNode))
	aggtest.Then(t, got, err, &ev.NodeApproved{NodeId: "nod_1"})
	got, err = decide(m.changeNode("edge1", setNodeDisabled(true))) // by name
	aggtest.Then(t, got, err, &ev.NodeDisabledSet{NodeId: "nod_1", Disabled: true})
	got, err = decide(m.changeNode("nod_1", setNodeDisabled(false)))
	aggtest.Then(t, got, err) // enabled already
	got, err = decide(m.changeNode("nod_1", setNodeStaging(true)))
	aggtest.Then(t, got, err, &ev.NodeStagingSet{NodeId: "nod_1", Staging: true})
	got, err = decide(m.changeNode("nod_1", removeNode))
	aggtest.Then(t, got, err, &ev.NodeRemoved{NodeId: "nod_1"})
	got, err = decide(m.changeNode("", approveNode))
	aggtest.Rejected(t, got, err, apierr.KindInvalid, "node_id")
	got, err = decide(m.changeNode("nod_9", approveNode))
	aggtest.Rejected(t, got, err, apierr.KindNotFound, "")

	m = givenModel(euCreated, edge1, &ev.NodeApproved{NodeId: "nod_1"}, &ev.NodeStagingSet{NodeId: "nod_1", Staging: true})
	got, err = decide(m.changeNode("nod_1", approveNode))
	aggtest.Then(t, got, err) // approving twice is no change
	got, err = decide(m.changeNode("nod_1", setNodeStaging(true)))
	aggtest.Then(t, got, err)
	got, err = decide(m.changeNode("nod_1", setNodeStaging(false)))
	aggtest.Then(t, got, err, &ev.NodeStagingSet{NodeId: "nod_1", Staging: false})

	// Two clusters with a node called edge1: the name is ambiguous.
	m = givenModel(euCreated, usCreated, edge1, edge1US)
	got, err = decide(m.changeNode("edge1", approveNode))
	aggtest.Rejected(t, got, err, apierr.KindInvalid, "")
	m = givenModel(euCreated, edge1, &ev.NodeRemoved{NodeId: "nod_1"})
	got, err = decide(m.changeNode("nod_1", removeNode))
	aggtest.Rejected(t, got, err, apierr.KindNotFound, "")
}

func TestRevokeTokenDecision(t *testing.T) {
	m := givenModel(euCreated, tokenA)
	got, version, err := m.revokeToken("jt_a")
	aggtest.Then(t, []proto.Message{got}, err, &ev.JoinTokenRevoked{TokenId: "jt_a"})
	if version != 2 {
		t.Fatalf("expected version %d, want 2 (the token's event)", version)
	}
	_, _, err = m.revokeToken("jt_b")
	aggtest.Rejected(t, nil, err, apierr.KindNotFound, "")
	m = givenModel(euCreated, tokenA, &ev.JoinTokenRevoked{TokenId: "jt_a"})
	got, _, err = m.revokeToken("jt_a")
	if err != nil || got != nil {
		t.Fatalf("revoking twice: %v %v, want no change", got, err)
	}
}
