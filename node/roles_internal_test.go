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
