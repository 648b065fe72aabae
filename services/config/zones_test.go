package config

import (
	"net/http"
	"net/http/httptest"
	"testing"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/gen/strata/dns/v1/dnsv1connect"
	dnssvc "github.com/strata-edge/strata/services/dns"
)

// DNS releases ride in the partition's snapshot timeline: a zone release is a
// new snapshot version carrying the zone, and a delta upserting it; removing
// the zone's partition or deleting it is a delta deleting it.
func TestZoneReleasesMovePartitionSnapshots(t *testing.T) {
	e := newEnv(t, envOptions{})
	d, err := dnssvc.New(dnssvc.Options{Store: e.store, Partitions: e.svc})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop(e.ctx) })
	mux := http.NewServeMux()
	mux.Handle(d.Handler())
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := dnsv1connect.NewDnsServiceClient(srv.Client(), srv.URL)

	pid, ok := e.svc.ResolvePartition("default")
	if !ok {
		t.Fatal("no default partition")
	}
	before := e.svc.proj.snapshot(pid, false).GetVersion()
	z, err := c.CreateZone(e.ctx, &dnsv1.CreateZoneRequest{Name: "example.com", Partitions: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddRecord(e.ctx, &dnsv1.AddRecordRequest{Zone: "example.com", Record: &dnsv1.Record{Name: "www", Type: dnsv1.RecordType_RECORD_TYPE_A, Data: "192.0.2.1"}}); err != nil {
		t.Fatal(err)
	}
	if v := e.svc.proj.snapshot(pid, false).GetVersion(); v != before {
		t.Fatalf("pending zone changes moved the snapshot to %d", v)
	}
	rel, err := c.CreateRelease(e.ctx, &dnsv1.CreateReleaseRequest{Zone: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.proj.WaitFor(e.ctx, rel.Version); err != nil {
		t.Fatal(err)
	}
	for _, staging := range []bool{false, true} {
		snap := e.svc.proj.snapshot(pid, staging)
		if snap.GetVersion() != rel.Version || len(snap.GetZones()) != 1 || snap.GetZones()[0].GetId() != z.GetZone().GetId() ||
			snap.GetZones()[0].GetRelease() != 1 {
			t.Fatalf("staging=%v: snapshot %d zones %v, want version %d with the zone at release 1", staging, snap.GetVersion(), snap.GetZones(), rel.Version)
		}
	}
	if _, err := c.DeleteZone(e.ctx, &dnsv1.DeleteZoneRequest{Zone: "example.com"}); err != nil {
		t.Fatal(err)
	}
	rel, err = c.CreateRelease(e.ctx, &dnsv1.CreateReleaseRequest{Zone: z.GetZone().GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.proj.WaitFor(e.ctx, rel.Version); err != nil {
		t.Fatal(err)
	}
	if snap := e.svc.proj.snapshot(pid, false); snap.GetVersion() != rel.Version || len(snap.GetZones()) != 0 {
		t.Fatalf("after the delete release: version %d zones %v", snap.GetVersion(), snap.GetZones())
	}
}
