package nodes_test

import (
	"strings"
	"testing"

	"connectrpc.com/connect"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// The config API's node commands run here, on the same read model as Join:
// a name is taken whichever of the two took it first, and every command is
// one event on the node's stream (none when nothing changes).
func TestNodeCommands(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	tok := e.createToken(t, &configv1.CreateJoinTokenRequest{AutoApprove: true})
	if _, err := e.anon.Join(ctx, &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: "joined", PublicKey: newKey(t).pub}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, field, reason string
		req                 *configv1.RegisterNodeRequest
	}{
		{"joined name", "name", `node "joined" already exists`, &configv1.RegisterNodeRequest{Name: "joined", Cluster: clusterName}},
		{"no cluster", "cluster", "is empty", &configv1.RegisterNodeRequest{Name: "n"}},
		{"unknown cluster", "cluster", `cluster "nowhere" does not exist`, &configv1.RegisterNodeRequest{Name: "n", Cluster: "nowhere"}},
		{"bad name", "name", "invalid character", &configv1.RegisterNodeRequest{Name: "N!", Cluster: clusterName}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.RegisterNode(ctx, tt.req)
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tt.field+": ") || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("RegisterNode: %v, want %s: ...%s", err, tt.field, tt.reason)
			}
		})
	}

	n, err := e.svc.RegisterNode(ctx, &configv1.RegisterNodeRequest{Name: "edge-r", Cluster: clusterName, Staging: true})
	if err != nil || !n.GetNode().GetApproved() || !n.GetNode().GetStaging() || n.GetNode().GetPublicKey() != "" {
		t.Fatalf("RegisterNode: %v %v", n, err)
	}
	id := n.GetNode().GetId()
	for _, staging := range []bool{true, false, false} { // the first and last change nothing
		got, err := e.svc.SetNodeStaging(ctx, &configv1.SetNodeStagingRequest{NodeId: id, Staging: staging})
		if err != nil || got.GetNode().GetStaging() != staging {
			t.Fatalf("SetNodeStaging(%v): %v %v", staging, got, err)
		}
	}
	if _, err := e.svc.RemoveNode(ctx, &configv1.RemoveNodeRequest{NodeId: "edge-r"}); err != nil { // by name
		t.Fatal(err)
	}
	evs, err := e.store.ReadStream(ctx, "node."+id, 0)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	if want := "config.node.registered config.node.staging_set config.node.removed"; strings.Join(types, " ") != want {
		t.Fatalf("node stream: %v, want %s", types, want)
	}
	if _, err := e.svc.RemoveNode(ctx, &configv1.RemoveNodeRequest{NodeId: id}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("RemoveNode twice: %v, want not_found", err)
	}
	if _, err := e.svc.SetNodeStaging(ctx, &configv1.SetNodeStagingRequest{NodeId: id}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("SetNodeStaging of a removed node: %v, want not_found", err)
	}
}
