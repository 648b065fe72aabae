package node

import (
	"slices"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

func TestReportRoles(t *testing.T) {
	n := &Node{opts: Options{HTTPAddr: "127.0.0.1:0"}}
	st := &syncv1.NodeStatus{Dns: configv1.NodeDnsState_NODE_DNS_STATE_ANSWERING}
	n.reportRoles(st)
	if want := []string{"dns", "http"}; !slices.Equal(st.Roles, want) {
		t.Errorf("before a snapshot: %v, want %v", st.Roles, want)
	}
	n.setRoles(&syncv1.Snapshot{Apps: []*configv1.App{
		{Id: "a"},
		{Id: "b", Role: &configv1.App_Stream{Stream: &configv1.StreamApp{}}},
		{Id: "c", Role: &configv1.App_ForwardProxy{ForwardProxy: &configv1.ForwardProxyApp{HttpPorts: []uint32{3128}}}},
	}})
	st = &syncv1.NodeStatus{Dns: configv1.NodeDnsState_NODE_DNS_STATE_OFF}
	n.reportRoles(st)
	if want := []string{"forward", "http", "stream"}; !slices.Equal(st.Roles, want) {
		t.Errorf("with stream and HTTP forward-proxy apps: %v, want %v", st.Roles, want)
	}
}

// TestRoleCountFollowsDeltas checks the incremental count against a count of
// the whole snapshot while apps gain and lose roles.
func TestRoleCountFollowsDeltas(t *testing.T) {
	stream := func(id string) *configv1.App {
		return &configv1.App{Id: id, Role: &configv1.App_Stream{Stream: &configv1.StreamApp{}}}
	}
	socks := func(id string) *configv1.App {
		return &configv1.App{Id: id, Role: &configv1.App_ForwardProxy{ForwardProxy: &configv1.ForwardProxyApp{Socks5Ports: []uint32{1080}}}}
	}
	a, b := &configv1.App{Id: "a"}, stream("b")
	steps := []struct {
		apps []*configv1.App
		want []string
	}{
		{[]*configv1.App{a, b}, []string{"stream"}},
		{[]*configv1.App{a, stream("b"), socks("c")}, []string{"stream", "socks5"}},
		{[]*configv1.App{a, &configv1.App{Id: "b"}, socks("c")}, []string{"socks5"}},
		{[]*configv1.App{a}, nil},
		{[]*configv1.App{stream("a")}, []string{"stream"}},
	}
	var c roleCount
	for i, s := range steps {
		if got := c.update(s.apps); !slices.Equal(got, s.want) {
			t.Errorf("step %d: %v, want %v", i, got, s.want)
		}
		var fresh roleCount
		if got := fresh.update(s.apps); !slices.Equal(got, s.want) {
			t.Errorf("step %d, counted whole: %v, want %v", i, got, s.want)
		}
	}
}
