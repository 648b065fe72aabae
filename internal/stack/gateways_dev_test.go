package stack_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/internal/edge"
	"github.com/strata-edge/strata/node/join"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// A gateway record of cluster "default" answers with the public addresses of
// its healthy online nodes: the dev node (127.0.0.1) and a second node
// (127.0.0.2). When the second node stops cleanly, its goodbye takes it out
// of the answer at once (well before the 15 s after which a silent node
// counts as offline); started again, it comes back.
func TestDevGatewayRecordFollowsNodeLiveness(t *testing.T) {
	dev := runDev(t, withDNS)
	dnsAddr := dev.value(t, "dns")
	api := dev.api
	token := dev.token
	admin := clientsFor(api, token)
	zones := admin.dns
	bg := context.Background()
	must[*dnsv1.CreateZoneResponse](t)(zones.CreateZone(bg, &dnsv1.CreateZoneRequest{Name: "gw.test", Nameservers: []string{"ns1.gw.test."}}))
	must[*dnsv1.AddRecordResponse](t)(zones.AddRecord(bg, &dnsv1.AddRecordRequest{Zone: "gw.test", Record: &dnsv1.Record{
		Name: "@", Type: dnsv1.RecordType_RECORD_TYPE_A, GatewayCluster: "default", Ttl: 5,
	}}))
	must[*dnsv1.CreateReleaseResponse](t)(zones.CreateRelease(bg, &dnsv1.CreateReleaseRequest{Zone: "gw.test"}))

	jt := must[*configv1.CreateJoinTokenResponse](t)(admin.nodes.CreateJoinToken(bg, &configv1.CreateJoinTokenRequest{Cluster: "default", AutoApprove: true}))
	dir := t.TempDir()
	start := func(token string) *edge.Edge {
		t.Helper()
		e, err := edge.Start(bg, edge.Options{
			Options: join.Options{DataDir: dir, Name: "edge-b", JoinToken: token, Joiner: clientsFor(api, "").nodes,
				PublicIPs: []string{"127.0.0.2"}, Poll: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)},
			HTTPAddr: "127.0.0.1:0",
		})
		if err != nil {
			t.Fatalf("StartEdge: %v", err)
		}
		return e
	}
	stop := func(e *edge.Edge) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bg, 20*time.Second)
		defer cancel()
		if err := e.Stop(sctx); err != nil {
			t.Fatalf("stop edge-b: %v", err)
		}
	}
	wantWithin := func(d time.Duration, addrs ...string) {
		t.Helper()
		natstest.CheckFor(t, d, 50*time.Millisecond, func() error {
			got, err := gatewayA(dnsAddr, "gw.test.")
			if err != nil || !slices.Equal(got, addrs) {
				return fmt.Errorf("gw.test A = %v, %v; want %v", got, err, addrs)
			}
			return nil
		})
	}
	want := func(addrs ...string) { t.Helper(); wantWithin(40*time.Second, addrs...) }
	edge := start(jt.GetToken())
	want("127.0.0.1", "127.0.0.2")
	stop(edge)
	// Not the 15 s age-out of a crash: the goodbye is honoured when Stop
	// returns, and the dev node has the new set a NATS hop later.
	wantWithin(3*time.Second, "127.0.0.1")
	edge = start("") // the stored identity; heartbeats resume
	t.Cleanup(func() { stop(edge) })
	want("127.0.0.1", "127.0.0.2")
}

func gatewayA(addr, name string) ([]string, error) {
	r, _, err := new(mdns.Client).Exchange(new(mdns.Msg).SetQuestion(name, mdns.TypeA), addr)
	if err != nil {
		return nil, err
	}
	if r.Rcode != mdns.RcodeSuccess {
		return nil, fmt.Errorf("rcode %s", mdns.RcodeToString[r.Rcode])
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*mdns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out, nil
}
