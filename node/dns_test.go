package node_test

import (
	"fmt"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// releaseZone publishes a delta upserting z (apps unchanged), then the snapshot.
func (p *publisher) releaseZone(z *dnsv1.Zone) uint64 {
	p.t.Helper()
	d := &syncv1.Delta{PartitionId: partition, FromVersion: p.version, ToVersion: p.version + 1, Schema: natsutil.SyncSchema, Upserts: store.Upserts(z)}
	p.version = d.ToVersion
	snap := &syncv1.Snapshot{PartitionId: partition, Version: p.version, Zones: []*dnsv1.Zone{z}}
	for _, a := range p.apps {
		snap.Apps = append(snap.Apps, a)
	}
	return p.send(d, snap)
}

func lookupA(addr, name string) (string, error) {
	m := new(mdns.Msg).SetQuestion(name, mdns.TypeA)
	r, _, err := new(mdns.Client).Exchange(m, addr)
	if err != nil {
		return "", err
	}
	if len(r.Answer) != 1 {
		return "", fmt.Errorf("rcode %s, %d answers", mdns.RcodeToString[r.Rcode], len(r.Answer))
	}
	return r.Answer[0].(*mdns.A).A.String(), nil
}

// A released zone reaches the node's DNS server through the sync delta, is
// stored, and is still served after a restart without the hub.
func TestNodeServesReleasedZones(t *testing.T) {
	hub, leafURL := runHub(t)
	p := newPublisher(t, natstest.Connect(t, hub))
	p.release(app(upstream(t, "A")))
	dir := t.TempDir()
	n := startNode(t, node.Options{DataDir: dir, HubLeafURLs: []string{leafURL}, DNSAddr: "127.0.0.1:0"})
	zone := func(addr string) *dnsv1.Zone {
		return &dnsv1.Zone{Id: "z1", Name: "example.com.", Nameservers: []string{"ns1.example.com."}, Records: []*dnsv1.Record{
			{Id: "r1", Name: "www", Type: dnsv1.RecordType_RECORD_TYPE_A, Data: addr},
		}}
	}
	p.releaseZone(zone("192.0.2.1"))
	want := func(n *node.Node, addr string) {
		t.Helper()
		natstest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
			got, err := lookupA(n.DNSAddr(), "www.example.com.")
			if err != nil || got != addr {
				return fmt.Errorf("www.example.com A = %q, %v; want %s", got, err, addr)
			}
			return nil
		})
	}
	want(n, "192.0.2.1")
	v := p.releaseZone(zone("192.0.2.2"))
	want(n, "192.0.2.2")
	stopNode(t, n)

	hub.Shutdown()
	hub.WaitForShutdown()
	n2 := startNode(t, node.Options{DataDir: dir, HubLeafURLs: []string{leafURL}, DNSAddr: "127.0.0.1:0"})
	if n2.Version() != v {
		t.Fatalf("restarted node runs %d, want %d", n2.Version(), v)
	}
	if got, err := lookupA(n2.DNSAddr(), "www.example.com."); err != nil || got != "192.0.2.2" {
		t.Fatalf("restarted node without hub: %q, %v", got, err)
	}
}
