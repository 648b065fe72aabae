package node_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// track plays the config service for a partition's stable track with apps,
// zones and cluster settings: every change is one delta and the full
// snapshot.
type track struct {
	p        *publisher
	zones    map[string]*dnsv1.Zone
	clusters map[string]*configv1.Cluster
}

func newTrack(p *publisher) *track {
	return &track{p: p, zones: map[string]*dnsv1.Zone{}, clusters: map[string]*configv1.Cluster{}}
}

// publish sends d (its versions filled in) and the snapshot after it.
func (tr *track) publish(d *syncv1.Delta) uint64 {
	p := tr.p
	p.t.Helper()
	d.PartitionId, d.FromVersion, d.ToVersion = partition, p.version, p.version+1
	p.version = d.ToVersion
	for _, r := range d.Upserts {
		switch r.Kind {
		case "app":
			a := &configv1.App{}
			proto.Unmarshal(r.Payload, a)
			p.apps[a.GetId()] = a
		case "zone":
			z := &dnsv1.Zone{}
			proto.Unmarshal(r.Payload, z)
			tr.zones[z.GetId()] = z
		case "cluster":
			c := &configv1.Cluster{}
			proto.Unmarshal(r.Payload, c)
			tr.clusters[c.GetId()] = c
		}
	}
	snap := &syncv1.Snapshot{PartitionId: partition, Version: p.version}
	for _, a := range p.apps {
		snap.Apps = append(snap.Apps, a)
	}
	for _, z := range tr.zones {
		snap.Zones = append(snap.Zones, z)
	}
	for _, c := range tr.clusters {
		snap.Clusters = append(snap.Clusters, c)
	}
	return p.send(d, snap)
}

func zoneWWW(addr string) *dnsv1.Zone {
	return &dnsv1.Zone{Id: "z1", Name: "example.com.", Nameservers: []string{"ns1.example.com."}, Records: []*dnsv1.Record{
		{Id: "r1", Name: "www", Type: dnsv1.RecordType_RECORD_TYPE_A, Data: addr},
	}}
}

// wantDNS polls until www.example.com answers addr at dnsAddr.
func wantDNS(t *testing.T, dnsAddr, addr string) {
	t.Helper()
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		got, err := lookupA(dnsAddr, "www.example.com.")
		if err != nil || got != addr {
			return fmt.Errorf("www.example.com A at %s = %q, %v; want %s", dnsAddr, got, err, addr)
		}
		return nil
	})
}

// silent checks that nothing answers DNS at addr over UDP or TCP, and that
// both ports are free: the node closed its listeners.
func silent(addr string) error {
	m := new(mdns.Msg).SetQuestion("www.example.com.", mdns.TypeA)
	for _, netw := range []string{"udp", "tcp"} {
		c := &mdns.Client{Net: netw, Timeout: 300 * time.Millisecond}
		if r, _, err := c.Exchange(m, addr); err == nil {
			return fmt.Errorf("%s %s still answers: %s", netw, addr, mdns.RcodeToString[r.Rcode])
		}
	}
	ua, _ := net.ResolveUDPAddr("udp", addr)
	u, err := net.ListenUDP("udp", ua)
	if err != nil {
		return fmt.Errorf("udp port not free: %w", err)
	}
	u.Close()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("tcp port not free: %w", err)
	}
	l.Close()
	return nil
}

// statusFeed collects node n1's heartbeats.
func statusFeed(t *testing.T, nc *nats.Conn) chan *syncv1.NodeStatus {
	t.Helper()
	statuses := make(chan *syncv1.NodeStatus, 64)
	if _, err := nc.Subscribe(natsutil.NodeStatusSubject("n1"), func(m *nats.Msg) {
		st := new(syncv1.NodeStatus)
		if proto.Unmarshal(m.Data, st) == nil {
			select {
			case statuses <- st:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return statuses
}

// waitStatus waits for a heartbeat that ok accepts.
func waitStatus(t *testing.T, statuses chan *syncv1.NodeStatus, ok func(*syncv1.NodeStatus) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	var last *syncv1.NodeStatus
	for {
		select {
		case st := <-statuses:
			if ok(st) {
				return
			}
			last = st
		case <-deadline:
			t.Fatalf("no such heartbeat; last: %v", last)
		}
	}
}

// A node whose cluster turns DNS off closes its DNS listeners (the ports are
// free) while it keeps serving HTTP; turning it on answers again on the same
// address; a node restarted offline keeps the stored setting; another
// cluster's setting changes nothing.
func TestNodeDNSFollowsClusterSetting(t *testing.T) {
	hub, leafURL := runHub(t)
	nc := natstest.Connect(t, hub)
	statuses := statusFeed(t, nc)
	p := newPublisher(t, nc)
	tr := newTrack(p)
	tr.publish(&syncv1.Delta{Schema: natsutil.SyncSchema, Upserts: store.Upserts(app(upstream(t, "A")), zoneWWW("192.0.2.1"))})
	dir := t.TempDir()
	opts := node.Options{DataDir: dir, HubLeafURLs: []string{leafURL}, DNSAddr: "127.0.0.1:0"}
	n := startNode(t, opts) // cluster c1
	addr := n.DNSAddr()
	wantDNS(t, addr, "192.0.2.1")

	// Another cluster of the partition: nothing changes here.
	v := tr.publish(&syncv1.Delta{Schema: natsutil.SyncSchema, Upserts: store.Upserts(&configv1.Cluster{Id: "c2", Name: "other", PartitionId: partition, DnsDisabled: true})})
	waitServes(t, n, v, "A")
	wantDNS(t, addr, "192.0.2.1")

	v = tr.publish(&syncv1.Delta{Schema: natsutil.SyncSchema, Upserts: store.Upserts(&configv1.Cluster{Id: "c1", Name: "edge", PartitionId: partition, DnsDisabled: true})})
	waitServes(t, n, v, "A") // HTTP goes on
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error { return silent(addr) })
	if st := n.DNS(); st.Answering || !st.ClusterOff || n.DNSAddr() != "" {
		t.Fatalf("DNS state %+v, DNSAddr %q: want closed, turned off by the cluster", st, n.DNSAddr())
	}
	waitStatus(t, statuses, func(st *syncv1.NodeStatus) bool {
		return st.GetVersion() == v && st.GetDns() == configv1.NodeDnsState_NODE_DNS_STATE_OFF && st.GetHealthy()
	})
	// Zones released while off are served once on.
	tr.publish(&syncv1.Delta{Schema: natsutil.SyncSchema, Upserts: store.Upserts(zoneWWW("192.0.2.2"))})
	v = tr.publish(&syncv1.Delta{Schema: natsutil.SyncSchema, Upserts: store.Upserts(&configv1.Cluster{Id: "c1", Name: "edge", PartitionId: partition})})
	wantDNS(t, addr, "192.0.2.2")
	waitServes(t, n, v, "A")
	if n.DNSAddr() != addr {
		t.Fatalf("DNS answers at %s after turning on again, want the same %s", n.DNSAddr(), addr)
	}

	// Off, then restarted without the hub: the stored setting holds.
	tr.publish(&syncv1.Delta{Schema: natsutil.SyncSchema, Upserts: store.Upserts(&configv1.Cluster{Id: "c1", Name: "edge", PartitionId: partition, DnsDisabled: true})})
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error { return silent(addr) })
	stopNode(t, n)
	hub.Shutdown()
	hub.WaitForShutdown()
	opts.DNSAddr = addr
	n2 := startNode(t, opts)
	if got, err := get(n2); err != nil || got != "A" {
		t.Fatalf("restarted node: GET = %q, %v; want A", got, err)
	}
	if st := n2.DNS(); st.Answering || !st.ClusterOff {
		t.Fatalf("restarted node: DNS state %+v, want off from the stored snapshot", st)
	}
	if err := silent(addr); err != nil {
		t.Fatalf("restarted node: %v", err)
	}
}

// A snapshot that the proxy or the DNS server rejects changes neither: both
// keep running the previous version, the node reports itself unhealthy, and
// the next good snapshot applies to both.
func TestNodeAppliesSnapshotsAllOrNothing(t *testing.T) {
	hub, leafURL := runHub(t)
	nc := natstest.Connect(t, hub)
	statuses := statusFeed(t, nc)
	p := newPublisher(t, nc)
	tr := newTrack(p)
	a, b, c := upstream(t, "A"), upstream(t, "B"), upstream(t, "C")
	v1 := tr.publish(&syncv1.Delta{Schema: natsutil.SyncSchema, Upserts: store.Upserts(app(a), zoneWWW("192.0.2.1"))})
	n := startNode(t, node.Options{DataDir: t.TempDir(), HubLeafURLs: []string{leafURL}, DNSAddr: "127.0.0.1:0",
		Heartbeat: time.Hour}) // statuses only after each apply
	waitServes(t, n, v1, "A")
	dnsAddr := n.DNSAddr()
	wantDNS(t, dnsAddr, "192.0.2.1")

	// waitRejected waits for the status the node sends after rejecting v:
	// unhealthy at v1, with the reason.
	waitRejected := func(v uint64, reason string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case st := <-statuses:
				if st.GetHealthy() || st.GetVersion() != v1 {
					continue
				}
				if !strings.Contains(st.GetApplyError(), reason) || st.GetDns() != configv1.NodeDnsState_NODE_DNS_STATE_ANSWERING {
					t.Fatalf("status after rejecting %d: apply_error %q, dns %v; want %q, answering", v, st.GetApplyError(), st.GetDns(), reason)
				}
				return
			case <-deadline:
				t.Fatalf("no unhealthy status at version %d after version %d", v1, v)
			}
		}
	}
	keepsOld := func() {
		t.Helper()
		if got, err := get(n); err != nil || got != "A" || n.Version() != v1 {
			t.Fatalf("proxy: GET = %q, %v at version %d; want A at %d", got, err, n.Version(), v1)
		}
		if got, err := lookupA(dnsAddr, "www.example.com."); err != nil || got != "192.0.2.1" {
			t.Fatalf("dns: www = %q, %v; want the old 192.0.2.1", got, err)
		}
	}

	// A zone the DNS server cannot compile, beside a good app change.
	bad := zoneWWW("not-an-address")
	v := tr.publish(&syncv1.Delta{Schema: natsutil.SyncSchema, Upserts: store.Upserts(app(b), bad)})
	waitRejected(v, "dns: config version")
	keepsOld()

	// An app the proxy rejects (two apps claiming one domain), beside a good zone.
	dup := app(c)
	dup.Id, dup.Name = "web2", "web2"
	v = tr.publish(&syncv1.Delta{Schema: natsutil.SyncSchema, Upserts: store.Upserts(dup, zoneWWW("192.0.2.3"))})
	waitRejected(v, "proxy: config version")
	keepsOld()

	// Fixed: both move.
	fixed := app(c)
	fixed.Id, fixed.Name = "web2", "web2"
	fixed.Domains = []string{"other.example.com"}
	v = tr.publish(&syncv1.Delta{Schema: natsutil.SyncSchema, Upserts: store.Upserts(app(b), fixed, zoneWWW("192.0.2.4"))})
	waitServes(t, n, v, "B")
	wantDNS(t, dnsAddr, "192.0.2.4")
}
