package stack_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// TestNodeLivenessSaysWhyItLeftTheGateways: a node joined to `strata
// control` reports its metrics with its own credentials; once it stops
// (and says goodbye), the metrics service records it down after 15 s
// without a report, with the nodes service's reason it left the gateway
// answers.
func TestNodeLivenessSaysWhyItLeftTheGateways(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 15 s liveness timeout")
	}
	admin, ext := runExternalHubNode(t)
	ctx := context.Background()
	node := ext.NodeID()
	// Its reports arrive (the node's permissions allow its own subject).
	natstest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		ns, err := admin.metric.GetNodeStats(ctx, &metricsv1.GetNodeStatsRequest{NodeId: node})
		if err != nil {
			return err
		}
		if ns.GetLastReport() == nil {
			return fmt.Errorf("no report of %s yet", node)
		}
		return nil
	})
	sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
	defer scancel()
	if err := ext.Stop(sctx); err != nil {
		t.Fatalf("stop edge: %v", err)
	}
	natstest.CheckFor(t, 40*time.Second, 200*time.Millisecond, func() error {
		res, err := admin.metric.ListHealth(ctx, &metricsv1.ListHealthRequest{NodeId: node})
		if err != nil {
			return err
		}
		for _, h := range res.GetChanges() {
			if h.GetServer() == "" && !h.GetHealthy() {
				if !strings.HasPrefix(h.GetReason(), "no metrics report for 15s; out of the gateway answers: ") {
					return fmt.Errorf("reason %q", h.GetReason())
				}
				t.Logf("recorded: %s", h.GetReason())
				return nil
			}
		}
		return fmt.Errorf("changes %v", res.GetChanges())
	})
}
