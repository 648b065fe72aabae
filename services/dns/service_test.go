package dns

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/gen/strata/dns/v1/dnsv1connect"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/eventstore/eventstoretest"
	"github.com/strata-edge/strata/pkg/testenv"
)

// newClients runs a Service on a real embedded JetStream event store behind an
// HTTP/2 server and returns a Connect and a gRPC client.
func newClients(t *testing.T) (*Service, []dnsv1connect.DnsServiceClient, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	store, _, _ := eventstoretest.JetStream(t)
	svc, err := New(Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	srv := testenv.ServeAs(t, "alice", svc.Handler)
	return svc, []dnsv1connect.DnsServiceClient{
		dnsv1connect.NewDnsServiceClient(srv.Client(), srv.URL),
		dnsv1connect.NewDnsServiceClient(srv.Client(), srv.URL, connect.WithGRPC()),
	}, ctx
}

func code(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return 0
}

func TestServiceLifecycle(t *testing.T) {
	svc, clients, ctx := newClients(t)
	for i, c := range clients {
		name := []string{"connect.example", "grpc.example"}[i]
		t.Run(name, func(t *testing.T) {
			cr, err := c.CreateZone(ctx, &dnsv1.CreateZoneRequest{Name: name, Nameservers: []string{"ns1." + name}})
			if err != nil {
				t.Fatal(err)
			}
			zone := cr.GetZone().GetId()
			if _, err := c.CreateZone(ctx, &dnsv1.CreateZoneRequest{Name: name}); code(err) != connect.CodeInvalidArgument {
				t.Fatalf("duplicate zone name: %v", err)
			}
			ar, err := c.AddRecord(ctx, &dnsv1.AddRecordRequest{Zone: name, ExpectedVersion: &cr.Version,
				Record: &dnsv1.Record{Name: "www", Type: dnsv1.RecordType_RECORD_TYPE_A, Data: "192.0.2.1"}})
			if err != nil {
				t.Fatal(err)
			}
			// A stale etag is refused and nothing is stored.
			if _, err := c.AddRecord(ctx, &dnsv1.AddRecordRequest{Zone: zone, ExpectedVersion: &cr.Version,
				Record: &dnsv1.Record{Name: "api", Type: dnsv1.RecordType_RECORD_TYPE_A, Data: "192.0.2.2"}}); code(err) != connect.CodeAborted {
				t.Fatalf("stale expected_version: %v", err)
			}
			_, err = c.AddRecord(ctx, &dnsv1.AddRecordRequest{Zone: zone, Record: &dnsv1.Record{Name: "www", Type: dnsv1.RecordType_RECORD_TYPE_CNAME, Data: "x.example.org."}})
			if code(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "CNAME") {
				t.Fatalf("CNAME beside A: %v", err)
			}
			rel, err := c.CreateRelease(ctx, &dnsv1.CreateReleaseRequest{Zone: zone, Note: "first"})
			if err != nil || rel.GetRelease().GetNumber() != 1 || rel.GetRelease().GetActor() != "alice" {
				t.Fatalf("release: %v %v", rel, err)
			}
			if _, err := c.ImportZone(ctx, &dnsv1.ImportZoneRequest{Zone: zone, ZoneFile: "www IN A 192.0.2.9\n\nbad IN A 1.2.3\n"}); code(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "line 3") {
				t.Fatalf("bad import: %v", err)
			}
			if _, err := c.ImportZone(ctx, &dnsv1.ImportZoneRequest{Zone: zone, ZoneFile: "www IN A 192.0.2.9\nmail IN A 192.0.2.25\n"}); err != nil {
				t.Fatal(err)
			}
			diff, err := c.DiffZone(ctx, &dnsv1.DiffZoneRequest{Zone: zone})
			if err != nil || !strings.Contains(diff.GetText(), "-www\t300\tIN\tA\t192.0.2.1") || !strings.Contains(diff.GetText(), "+mail") || len(diff.GetChanges()) != 1 {
				t.Fatalf("diff: %v %v", diff, err)
			}
			if _, err := c.CreateRelease(ctx, &dnsv1.CreateReleaseRequest{Zone: zone}); err != nil {
				t.Fatal(err)
			}
			rv, err := c.RevertZone(ctx, &dnsv1.RevertZoneRequest{Zone: zone, ToRelease: 1, Note: "undo import"})
			if err != nil || rv.GetRelease().GetNumber() != 3 || rv.GetRelease().GetRevertedTo() != 1 {
				t.Fatalf("revert: %v %v", rv, err)
			}
			ex, err := c.ExportZone(ctx, &dnsv1.ExportZoneRequest{Zone: zone, Released: true})
			if err != nil || !strings.Contains(ex.GetZoneFile(), "192.0.2.1") || strings.Contains(ex.GetZoneFile(), "mail") {
				t.Fatalf("export after revert: %v %v", ex, err)
			}
			ls, err := c.ListReleases(ctx, &dnsv1.ListReleasesRequest{Zone: zone})
			if err != nil || len(ls.GetReleases()) != 3 {
				t.Fatalf("releases: %v %v", ls, err)
			}
			recs, err := c.ListRecords(ctx, &dnsv1.ListRecordsRequest{Zone: zone, Name: "www"})
			if err != nil || len(recs.GetRecords()) != 1 || recs.GetRecords()[0].GetId() != ar.GetRecord().GetId() {
				t.Fatalf("records after revert: %v %v", recs, err)
			}
		})
	}
	if got := len(svc.ReleasedZones()); got != 2 {
		t.Fatalf("released zones: %d, want 2", got)
	}
	if _, err := clients[0].GetZone(ctx, &dnsv1.GetZoneRequest{Zone: "nope.example"}); code(err) != connect.CodeNotFound {
		t.Fatalf("missing zone: %v", err)
	}
}

func TestResolveObject(t *testing.T) {
	svc, clients, ctx := newClients(t)
	cr, err := clients[0].CreateZone(ctx, &dnsv1.CreateZoneRequest{Name: "example.com", Partitions: []string{"p1"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{cr.GetZone().GetId(), "example.com", "EXAMPLE.com."} {
		o, err := svc.ResolveObject(ctx, "dns_zone", ref)
		if err != nil || o.ID != cr.GetZone().GetId() || len(o.Parents) != 1 || o.Parents[0].ID != "p1" {
			t.Fatalf("resolve %q: %+v %v", ref, o, err)
		}
	}
	if _, err := svc.ResolveObject(ctx, "dns_zone", "nope.example"); err == nil {
		t.Fatal("unknown zone resolved")
	}
}

// An undecodable DNS event is skipped with an error, and the applied
// position passes it: a write waiting for a later position does not hang.
func TestUndecodableEventAdvances(t *testing.T) {
	p := newProjection(&state{zones: map[string]*zoneEntry{}})
	if err := p.Handle(eventstore.Event{Position: 3, Type: TypeZoneCreated, Data: []byte{0xff, 0xff}}); err == nil {
		t.Fatal("undecodable event: no error")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.WaitFor(ctx, 3); err != nil || p.Applied() != 3 {
		t.Fatalf("applied %d after an undecodable event at 3: %v", p.Applied(), err)
	}
}
