package node_test

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// Heartbeats advertise the node's tier address: the bound HTTP listener by
// default, Options.TierAddr when given.
func TestNodeAdvertisesTierAddress(t *testing.T) {
	hub, leafURL := runHub(t)
	control := natstest.Connect(t, hub)
	sub, err := control.SubscribeSync(natsutil.NodeStatusSubject("n1"))
	if err != nil {
		t.Fatal(err)
	}
	control.Flush()
	expect := func(want func() string) {
		t.Helper()
		natstest.CheckFor(t, 10*time.Second, time.Millisecond, func() error {
			m, err := sub.NextMsg(time.Second)
			if err != nil {
				return err
			}
			var st syncv1.NodeStatus
			if err := proto.Unmarshal(m.Data, &st); err != nil {
				return err
			}
			if st.GetTierAddress() != want() {
				return fmt.Errorf("tier_address %q, want %q", st.GetTierAddress(), want())
			}
			return nil
		})
	}
	opts := node.Options{DataDir: t.TempDir(), HubLeafURLs: []string{leafURL}, Heartbeat: 20 * time.Millisecond}
	n := startNode(t, opts)
	expect(n.ProxyHTTPAddr)
	stopNode(t, n)

	opts.TierAddr = "shield-1.example.net:7480"
	startNode(t, opts)
	expect(func() string { return opts.TierAddr })
}
