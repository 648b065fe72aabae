package stack_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/internal/edge"
	"github.com/strata-edge/strata/node/join"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// Zone staging end to end: the dev node is on the stable track, a second
// node joins on the staging track. A staging zone release is served by the
// staging node only; the stable node keeps serving the stable release until
// the promotion, then serves it too; a revert reaches both.
func TestDevZoneStagingReleaseReachesStagingNodesOnly(t *testing.T) {
	dev := runDev(t, withDNS)
	stableDNS := dev.value(t, "dns")
	api := dev.api
	token := dev.token
	admin := clientsFor(api, token)
	zones := admin.dns
	bg := context.Background()
	must[*dnsv1.CreateZoneResponse](t)(zones.CreateZone(bg, &dnsv1.CreateZoneRequest{Name: "stg.test", Nameservers: []string{"ns1.stg.test."}}))
	www := must[*dnsv1.AddRecordResponse](t)(zones.AddRecord(bg, &dnsv1.AddRecordRequest{Zone: "stg.test", Record: &dnsv1.Record{
		Name: "www", Type: dnsv1.RecordType_RECORD_TYPE_A, Data: "192.0.2.1", Ttl: 5,
	}})).GetRecord()
	must[*dnsv1.CreateReleaseResponse](t)(zones.CreateRelease(bg, &dnsv1.CreateReleaseRequest{Zone: "stg.test"}))

	jt := must[*configv1.CreateJoinTokenResponse](t)(admin.nodes.CreateJoinToken(bg, &configv1.CreateJoinTokenRequest{Cluster: "default", AutoApprove: true, Staging: true}))
	stg, err := edge.Start(bg, edge.Options{
		Options: join.Options{DataDir: t.TempDir(), Name: "edge-staging", JoinToken: jt.GetToken(), Joiner: clientsFor(api, "").nodes,
			PublicIPs: []string{"127.0.0.2"}, Poll: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)},
		HTTPAddr: "127.0.0.1:0", DNSAddr: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatalf("start the staging node: %v", err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(bg, 20*time.Second)
		defer cancel()
		if err := stg.Stop(sctx); err != nil {
			t.Errorf("stop the staging node: %v", err)
		}
	})
	stagingDNS := stg.DNSAddr()
	serves := func(addr, want string) func() error {
		return func() error {
			got, err := gatewayA(addr, "www.stg.test.")
			if err != nil || !slices.Equal(got, []string{want}) {
				return fmt.Errorf("www.stg.test A at %s = %v, %v; want %s", addr, got, err, want)
			}
			return nil
		}
	}
	eventually := func(addr, want string) {
		t.Helper()
		natstest.CheckFor(t, 40*time.Second, 50*time.Millisecond, serves(addr, want))
	}
	eventually(stableDNS, "192.0.2.1")
	eventually(stagingDNS, "192.0.2.1")

	www.Data = "192.0.2.2"
	must[*dnsv1.UpdateRecordResponse](t)(zones.UpdateRecord(bg, &dnsv1.UpdateRecordRequest{Zone: "stg.test", Record: www}))
	rel := must[*dnsv1.CreateReleaseResponse](t)(zones.CreateRelease(bg, &dnsv1.CreateReleaseRequest{Zone: "stg.test", Staging: true}))
	if !rel.GetRelease().GetStaging() || rel.GetRelease().GetNumber() != 2 {
		t.Fatalf("staging release %v", rel.GetRelease())
	}
	eventually(stagingDNS, "192.0.2.2")
	// The stable node got every version the staging node did (one log):
	// it keeps serving release 1.
	for range 10 {
		if err := serves(stableDNS, "192.0.2.1")(); err != nil {
			t.Fatalf("stable node after a staging release: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	must[*dnsv1.PromoteReleaseResponse](t)(zones.PromoteRelease(bg, &dnsv1.PromoteReleaseRequest{Zone: "stg.test"}))
	eventually(stableDNS, "192.0.2.2")
	must[*dnsv1.RevertZoneResponse](t)(zones.RevertZone(bg, &dnsv1.RevertZoneRequest{Zone: "stg.test", ToRelease: 1}))
	eventually(stableDNS, "192.0.2.1")
	eventually(stagingDNS, "192.0.2.1")
}
