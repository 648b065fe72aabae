package node_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// lookupAll returns the sorted A answers of name.
func lookupAll(addr, name string) ([]string, error) {
	m := new(mdns.Msg).SetQuestion(name, mdns.TypeA)
	r, _, err := new(mdns.Client).Exchange(m, addr)
	if err != nil {
		return nil, err
	}
	if r.Rcode != mdns.RcodeSuccess {
		return nil, fmt.Errorf("rcode %s", mdns.RcodeToString[r.Rcode])
	}
	var out []string
	for _, rr := range r.Answer {
		out = append(out, rr.(*mdns.A).A.String())
	}
	slices.Sort(out)
	return out, nil
}

// The node answers gateway records with the live sets the nodes service
// publishes on its partition's gateway subject, keyed by cluster id or name,
// and ignores sets of other partitions and older sets.
func TestNodeAnswersGatewayRecordsFromLiveSets(t *testing.T) {
	hub, leafURL := runHub(t)
	nc := natstest.Connect(t, hub)
	p := newPublisher(t, nc)
	p.release(app(upstream(t, "A")))
	n := startNode(t, node.Options{DataDir: t.TempDir(), HubLeafURLs: []string{leafURL}, DNSAddr: "127.0.0.1:0"})
	p.releaseZone(&dnsv1.Zone{Id: "z1", Name: "example.com.", Nameservers: []string{"ns1.example.com."}, Records: []*dnsv1.Record{
		{Id: "r1", Name: "@", Type: dnsv1.RecordType_RECORD_TYPE_A, GatewayCluster: "edge-1", GatewayAddresses: []string{"192.0.2.99"}},
		{Id: "r2", Name: "byid", Type: dnsv1.RecordType_RECORD_TYPE_A, GatewayCluster: "clu_1", GatewayAddresses: []string{"192.0.2.99"}},
	}})
	want := func(name string, addrs ...string) {
		t.Helper()
		natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			got, err := lookupAll(n.DNSAddr(), name)
			if err != nil || !slices.Equal(got, addrs) {
				return fmt.Errorf("%s A = %v, %v; want %v", name, got, err, addrs)
			}
			return nil
		})
	}
	// Before any live set: the snapshot's addresses.
	want("example.com.", "192.0.2.99")

	const node1Partition = partition
	at := time.Now()
	publish := func(partition string, t0 time.Time, addrs ...string) {
		t.Helper()
		data, _ := proto.Marshal(&syncv1.GatewaySet{PartitionId: partition, Time: timestamppb.New(t0),
			Clusters: []*syncv1.ClusterAddresses{{ClusterId: "clu_1", ClusterName: "edge-1", Addresses: addrs}}})
		// Always on this node's subject: the payload must name its partition.
		if err := nc.Publish(natsutil.GatewaysSubject(node1Partition), data); err != nil {
			t.Fatal(err)
		}
	}
	// The subscription reaches the hub across the leaf link asynchronously,
	// so the set is repeated like the nodes service does.
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		publish(partition, at, "192.0.2.1", "192.0.2.2")
		got, err := lookupAll(n.DNSAddr(), "example.com.")
		if err != nil || !slices.Equal(got, []string{"192.0.2.1", "192.0.2.2"}) {
			return fmt.Errorf("A = %v, %v", got, err)
		}
		return nil
	})
	want("byid.example.com.", "192.0.2.1", "192.0.2.2")

	at = at.Add(time.Second)
	publish(partition, at, "192.0.2.1")
	want("example.com.", "192.0.2.1")
	// A set naming another partition and a reordered older set change
	// nothing; the next set (published after them, so they were handled
	// first) does.
	publish("other", at.Add(time.Hour), "203.0.113.1")
	publish(partition, at.Add(-time.Second), "203.0.113.2")
	at = at.Add(time.Second)
	publish(partition, at, "192.0.2.1", "192.0.2.3")
	want("example.com.", "192.0.2.1", "192.0.2.3")
	// The control plane's clock steps back an hour: its sets apply at once,
	// and the ones after them too.
	at = at.Add(-time.Hour)
	publish(partition, at, "192.0.2.4")
	want("example.com.", "192.0.2.4")
	at = at.Add(time.Second)
	publish(partition, at, "192.0.2.5")
	want("example.com.", "192.0.2.5")
	// No healthy node: NODATA, not the snapshot's fallback.
	at = at.Add(time.Second)
	publish(partition, at)
	want("example.com.")
}
