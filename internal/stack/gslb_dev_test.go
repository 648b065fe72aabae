package stack_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/internal/edge"
	"github.com/strata-edge/strata/node/geo/geotest"
	"github.com/strata-edge/strata/node/join"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// GSLB end to end: a gateway record over cluster "default" (the dev node,
// 127.0.0.1, located in Frankfurt) and cluster "nyc" (a second node,
// 127.0.0.2, in New York) answers real UDP queries with the nearest
// cluster by the query's client subnet (geotest's networks: 203.0.113.0/24
// Frankfurt, 198.51.100.0/24 New York). When the dev node's active checks
// can no longer reach the nyc node (its tier address stops accepting), the
// nodes service fails it although it still says healthy, and the New York
// clients fail over to Frankfurt.
func TestDevGSLBNearestAndPeerFailover(t *testing.T) {
	dev := runDev(t)
	admin := clientsFor(dev.api, dev.token)
	bg := context.Background()
	must[*configv1.UpdateClusterResponse](t)(admin.config.UpdateCluster(bg, &configv1.UpdateClusterRequest{Cluster: "default",
		Location: &configv1.ClusterLocation{Country: "DE", Continent: "EU", Latitude: 50.11, Longitude: 8.68}}))
	must[*configv1.CreateClusterResponse](t)(admin.config.CreateCluster(bg, &configv1.CreateClusterRequest{Name: "nyc", Partition: "default"}))
	must[*configv1.UpdateClusterResponse](t)(admin.config.UpdateCluster(bg, &configv1.UpdateClusterRequest{Cluster: "nyc",
		Location: &configv1.ClusterLocation{Country: "US", Continent: "NA", Latitude: 40.71, Longitude: -74.01}}))
	must[*dnsv1.CreateZoneResponse](t)(admin.dns.CreateZone(bg, &dnsv1.CreateZoneRequest{Name: "gslb.test", Nameservers: []string{"ns1.gslb.test."}}))
	must[*dnsv1.AddRecordResponse](t)(admin.dns.AddRecord(bg, &dnsv1.AddRecordRequest{Zone: "gslb.test", Record: &dnsv1.Record{
		Name: "www", Type: dnsv1.RecordType_RECORD_TYPE_A, Ttl: 5,
		GatewayTargets: []*dnsv1.GatewayTarget{{Cluster: "default"}, {Cluster: "nyc", Weight: 2}},
	}}))
	must[*dnsv1.CreateReleaseResponse](t)(admin.dns.CreateRelease(bg, &dnsv1.CreateReleaseRequest{Zone: "gslb.test"}))

	// The nyc node's tier address: a listener the test closes.
	tier, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tier.Close()
	go func() {
		for {
			c, err := tier.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	jt := must[*configv1.CreateJoinTokenResponse](t)(admin.nodes.CreateJoinToken(bg, &configv1.CreateJoinTokenRequest{Cluster: "nyc", AutoApprove: true}))
	nyc, err := edge.Start(bg, edge.Options{
		Options: join.Options{DataDir: t.TempDir(), Name: "nyc-1", JoinToken: jt.GetToken(), Joiner: clientsFor(dev.api, "").nodes,
			PublicIPs: []string{"127.0.0.2"}, Poll: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)},
		HTTPAddr: "127.0.0.1:0", DNSAddr: "127.0.0.1:0", GeoDB: geotest.WriteDB(t), TierAddr: tier.Addr().String(),
	})
	if err != nil {
		t.Fatalf("start nyc-1: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(bg, 20*time.Second)
		defer cancel()
		_ = nyc.Stop(ctx)
	})
	dnsAddr := nyc.DNSAddr()
	want := func(subnet, addr string) {
		t.Helper()
		natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
			got, scope, err := ecsA(dnsAddr, "www.gslb.test.", subnet)
			if err != nil || got != addr || scope != 24 {
				return fmt.Errorf("www.gslb.test A for %s = %q (scope %d), %v; want %s (scope 24)", subnet, got, scope, err, addr)
			}
			return nil
		})
	}
	want("198.51.100.0", "127.0.0.2")
	want("203.0.113.0", "127.0.0.1")
	start := time.Now()
	_ = tier.Close()
	want("198.51.100.0", "127.0.0.1")
	t.Logf("New York clients failed over %s after nyc-1's tier address closed", time.Since(start).Round(100*time.Millisecond))
	natstest.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		res, err := admin.config.ListNodes(bg, &configv1.ListNodesRequest{})
		if err != nil {
			return err
		}
		for _, n := range res.GetNodes() {
			if n.GetNode().GetName() == "nyc-1" {
				if n.GetHealthy() || !strings.Contains(n.GetHealthReason(), "peers cannot reach it") || n.GetPeerChecks() != "1/1 cannot reach it" {
					return fmt.Errorf("nyc-1: healthy %v, reason %q, peers %q", n.GetHealthy(), n.GetHealthReason(), n.GetPeerChecks())
				}
				return nil
			}
		}
		return fmt.Errorf("nyc-1 not listed")
	})
}

// ecsA asks addr for name's A record with an EDNS client subnet /24 and
// returns the first address and the scope of the echoed subnet.
func ecsA(addr, name, subnet string) (string, uint8, error) {
	m := new(mdns.Msg).SetQuestion(name, mdns.TypeA)
	m.SetEdns0(1232, false)
	opt := m.IsEdns0()
	opt.Option = append(opt.Option, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.ParseIP(subnet).To4()})
	r, _, err := new(mdns.Client).Exchange(m, addr)
	if err != nil {
		return "", 0, err
	}
	if r.Rcode != mdns.RcodeSuccess || len(r.Answer) == 0 {
		return "", 0, fmt.Errorf("rcode %s, %d answers", mdns.RcodeToString[r.Rcode], len(r.Answer))
	}
	var scope uint8
	if o := r.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if s, ok := e.(*mdns.EDNS0_SUBNET); ok {
				scope = s.SourceScope
			}
		}
	}
	a, ok := r.Answer[0].(*mdns.A)
	if !ok {
		return "", 0, fmt.Errorf("answer %v", r.Answer[0])
	}
	return a.A.String(), scope, nil
}
