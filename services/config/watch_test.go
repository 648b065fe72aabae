package config

import (
	"context"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// WatchNodes over HTTP: the initial set, then a registered node and a
// removed one arrive as changes.
func TestWatchNodes(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client
	first := must(c.RegisterNode(e.ctx, &configv1.RegisterNodeRequest{Name: "first", Cluster: "default"}))(t).Node.Id
	ctx, cancel := context.WithTimeout(e.ctx, 15*time.Second)
	defer cancel()
	stream, err := c.WatchNodes(ctx, &configv1.WatchNodesRequest{Filter: `name != "ignored"`})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	next := func() *configv1.WatchNodesResponse {
		t.Helper()
		if !stream.Receive() {
			t.Fatalf("stream ended: %v", stream.Err())
		}
		return stream.Msg()
	}
	if m := next(); !m.Initial || len(m.Nodes) != 1 || m.Nodes[0].Node.Id != first {
		t.Fatalf("initial %v", m)
	}
	must(c.RegisterNode(e.ctx, &configv1.RegisterNodeRequest{Name: "ignored", Cluster: "default"}))(t)
	second := must(c.RegisterNode(e.ctx, &configv1.RegisterNodeRequest{Name: "second", Cluster: "default"}))(t).Node.Id
	// Other status changes may come first (lag grows with time): read a
	// bounded number of messages for the one expected.
	until := func(what string, ok func(*configv1.WatchNodesResponse) bool) {
		t.Helper()
		for range 20 {
			m := next()
			for _, n := range m.Nodes {
				if n.Node.Name == "ignored" {
					t.Fatalf("filtered node sent: %v", m)
				}
			}
			if ok(m) {
				return
			}
		}
		t.Fatalf("no %s", what)
	}
	until("registration", func(m *configv1.WatchNodesResponse) bool {
		return !m.Initial && len(m.Nodes) > 0 && m.Nodes[len(m.Nodes)-1].Node.Id == second
	})
	must(c.RemoveNode(e.ctx, &configv1.RemoveNodeRequest{NodeId: first}))(t)
	until("removal", func(m *configv1.WatchNodesResponse) bool {
		return len(m.RemovedNodeIds) == 1 && m.RemovedNodeIds[0] == first
	})
	// A bad filter fails the stream's first Receive, naming the field.
	bad, _ := c.WatchNodes(ctx, &configv1.WatchNodesRequest{Filter: `nope = 1`})
	if bad.Receive() {
		t.Fatal("bad filter accepted")
	}
	wantField(t, bad.Err(), "filter")
}
