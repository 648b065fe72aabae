package nodes

import (
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

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

func TestJoinDecision(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	_, digest := newSecret()
	_, other := newSecret()
	token := &ev.JoinTokenCreated{TokenId: "jt_a", ClusterId: "cls_eu", SecretSha256: digest,
		ExpiresAt: timestamppb.New(now.Add(time.Hour)), AutoApprove: true, Staging: true}
	req := joining{tokenID: "jt_a", digest: digest, name: "edge9", key: "UKEY9", ipv4: "192.0.2.9", now: now, id: "nod_9"}
	decide := func(m *model, j joining) ([]proto.Message, error) {
		t.Helper()
		d, err := m.join(j)
		if d.event == nil {
			return nil, err
		}
		if want, _ := configevents.TypeOf(d.event); d.typeID != want {
			t.Fatalf("join records %s as type %q, want %q", d.event, d.typeID, want)
		}
		return []proto.Message{d.event}, err
	}
	m := givenModel(euCreated, token)
	got, err := decide(m, req)
	aggtest.Then(t, got, err, &ev.NodeRegistered{Node: &configv1.Node{Id: "nod_9", Name: "edge9", ClusterId: "cls_eu",
		Staging: true, PublicKey: "UKEY9", Approved: true, PublicIpv4: "192.0.2.9"}})

	// The token is checked first: without a valid one nothing else is told.
	for name, j := range map[string]joining{
		"unknown token": {tokenID: "jt_b", digest: digest, now: now, bad: []apierr.FieldViolation{{Field: "name"}}},
		"wrong secret":  {tokenID: "jt_a", digest: other, now: now, bad: []apierr.FieldViolation{{Field: "name"}}},
		"expired":       {tokenID: "jt_a", digest: digest, now: now.Add(time.Hour), bad: []apierr.FieldViolation{{Field: "name"}}},
	} {
		if got, err := decide(m, j); connect.CodeOf(err) != connect.CodeUnauthenticated || got != nil {
			t.Fatalf("%s: %v %v, want unauthenticated", name, got, err)
		}
	}
	bad := req
	bad.bad = []apierr.FieldViolation{{Field: "public_key", Reason: "is not an nkey"}}
	got, err = decide(m, bad)
	aggtest.Rejected(t, got, err, apierr.KindInvalid, "public_key")

	// Joining again with the same key is no change, or records new addresses.
	again := givenModel(euCreated, token, &ev.NodeRegistered{Node: &configv1.Node{Id: "nod_9", Name: "edge9", ClusterId: "cls_eu", PublicKey: "UKEY9", PublicIpv4: "192.0.2.9"}})
	got, err = decide(again, req)
	aggtest.Then(t, got, err)
	moved := req
	moved.ipv4, moved.ipv6 = "192.0.2.10", "2001:db8::10"
	got, err = decide(again, moved)
	aggtest.Then(t, got, err, &ev.NodeAddressSet{NodeId: "nod_9", PublicIpv4: "192.0.2.10", PublicIpv6: "2001:db8::10"})
	if d, _ := again.join(moved); d.version != 3 {
		t.Fatalf("address change against version %d, want 3 (the node's event)", d.version)
	}
	for name, tt := range map[string]struct {
		m    *model
		j    joining
		code connect.Code
	}{
		"name with another key": {again, joining{tokenID: "jt_a", digest: digest, name: "edge9", key: "UOTHER", now: now}, connect.CodeAlreadyExists},
		"key of another node":   {again, joining{tokenID: "jt_a", digest: digest, name: "edge10", key: "UKEY9", now: now}, connect.CodeAlreadyExists},
		"name registered without a key": {givenModel(euCreated, token, edge1),
			joining{tokenID: "jt_a", digest: digest, name: "edge1", key: "UKEY9", now: now}, connect.CodeAlreadyExists},
		"key of a removed node": {givenModel(euCreated, token, &ev.NodeRegistered{Node: &configv1.Node{Id: "nod_9", Name: "edge9", ClusterId: "cls_eu", PublicKey: "UKEY9"}},
			&ev.NodeRemoved{NodeId: "nod_9"}), req, connect.CodePermissionDenied},
		"revoked token": {givenModel(euCreated, token, &ev.JoinTokenRevoked{TokenId: "jt_a"}), req, connect.CodeUnauthenticated},
	} {
		if got, err := decide(tt.m, tt.j); connect.CodeOf(err) != tt.code || got != nil {
			t.Fatalf("%s: %v %v, want %v", name, got, err, tt.code)
		}
	}
	got, err = decide(givenModel(token), req) // the token's cluster is gone
	aggtest.Rejected(t, got, err, apierr.KindFailedPrecondition, "")
}
