package stack_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/internal/edge"
	"github.com/strata-edge/strata/internal/stack"
	"github.com/strata-edge/strata/node/join"
	"github.com/strata-edge/strata/pkg/natsauth"
	"github.com/strata-edge/strata/pkg/natsauth/natsauthtest"
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
	authDir := filepath.Join(t.TempDir(), "nats-auth")
	authority, err := natsauth.LoadOrCreate(authDir)
	if err != nil {
		t.Fatal(err)
	}
	hub := natsauthtest.RunHub(t, authority)
	userJWT, seed, err := authority.ControlUser()
	if err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(t.TempDir(), "control.creds")
	if err := natsauth.WriteCredentials(creds, userJWT, seed); err != nil {
		t.Fatal(err)
	}
	api, admin := runControl(t, stack.ControlOptions{NATSURL: hub.Server.ClientURL(), NATSCreds: creds, Services: stack.KnownServices,
		NATSAuthDir: authDir, LeafURLs: []string{hub.LeafURL}})
	ctx := context.Background()
	jt := must[*configv1.CreateJoinTokenResponse](t)(admin.nodes.CreateJoinToken(ctx, &configv1.CreateJoinTokenRequest{Cluster: "default", AutoApprove: true}))
	ext, err := edge.Start(ctx, edge.Options{Options: join.Options{DataDir: t.TempDir(), Name: "ext-1", JoinToken: jt.Token,
		Joiner: clientsFor(api, "").nodes, Logger: slog.New(slog.DiscardHandler)}, HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
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
