package dns

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/dns/v1"
	"github.com/strata-edge/strata/pkg/aggtest"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/release"
)

// given rehydrates a zone from events.
func given(msgs ...proto.Message) *Zone { return aggtest.Given(NewZone("z1"), msgs...) }

var (
	then          = aggtest.Then
	thenRejected  = aggtest.Rejected
	wantViolation = aggtest.Violation
)

// zoneLog is a zone with the events it was folded from (reverts replay them).
type zoneLog struct {
	zone    *Zone
	history []proto.Message
}

func givenLog(msgs ...proto.Message) *zoneLog {
	l := &zoneLog{zone: NewZone("z1")}
	for _, m := range msgs {
		l.apply(m)
	}
	return l
}

func (l *zoneLog) apply(m proto.Message) {
	l.history = append(l.history, m)
	l.zone.Apply(uint64(len(l.history)), m)
}

func (l *zoneLog) revert(to uint64, note string) ([]proto.Message, error) {
	return l.zone.Revert(to, note, l.history)
}

func created() *ev.ZoneCreated {
	return &ev.ZoneCreated{ZoneId: "z1", Settings: &ev.ZoneSettings{Name: "example.com.", PartitionIds: []string{"p1"}}}
}

func added(id, name string, t dnsv1.RecordType, data string) *ev.RecordAdded {
	return &ev.RecordAdded{ZoneId: "z1", Record: &dnsv1.Record{Id: id, Name: name, Type: t, Data: data}}
}

func released() *ev.ZoneReleased { return &ev.ZoneReleased{ZoneId: "z1"} }

func TestCreate(t *testing.T) {
	msgs, err := NewZone("z1").Create(Settings{Name: "Example.COM", Partitions: []string{"p1"}, Nameservers: []string{"NS1.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	c := msgs[0].(*ev.ZoneCreated)
	if c.Settings.Name != "example.com." || c.Settings.Nameservers[0] != "ns1.example.com." {
		t.Fatalf("settings not canonical: %v", c.Settings)
	}
	_, err = NewZone("z1").Create(Settings{Name: strings.Repeat("a", 64) + ".com"})
	wantViolation(t, err, "name", "more than 63")
	wantViolation(t, err, "partitions", "at least one")
	if _, err := given(created()).Create(Settings{Name: "x.com", Partitions: []string{"p1"}}); !apierr.IsKind(err, apierr.KindFailedPrecondition) {
		t.Fatalf("second create: %v", err)
	}
}

func TestAddRecordValidates(t *testing.T) {
	z := given(created(), added("r1", "www", tCNAME, "x.example.org."), added("r2", "a", tCNAME, "b"),
		&ev.RecordAdded{ZoneId: "z1", Record: &dnsv1.Record{Id: "r3", Name: "gs", Type: tA, GatewayTargets: []*dnsv1.GatewayTarget{{Cluster: "eu"}, {Cluster: "us", Weight: 2}}}})
	tests := []struct {
		name          string
		rec           *dnsv1.Record
		field, reason string
	}{
		{name: "CNAME beside other data", rec: &dnsv1.Record{Name: "www", Type: tA, Data: "192.0.2.1"}, field: "record", reason: "CNAME owner has no other data"},
		{name: "CNAME at apex", rec: &dnsv1.Record{Name: "@", Type: tCNAME, Data: "x.example.org."}, field: "record", reason: "apex"},
		{name: "CNAME loop", rec: &dnsv1.Record{Name: "b", Type: tCNAME, Data: "a"}, field: "record", reason: "CNAME loop"},
		{name: "out of zone", rec: &dnsv1.Record{Name: "www.example.org.", Type: tA, Data: "192.0.2.1"}, field: "record.name", reason: "outside the zone"},
		{name: "bad data", rec: &dnsv1.Record{Name: "x", Type: tA, Data: "nope"}, field: "record.data", reason: "not valid A data"},
		{name: "no type", rec: &dnsv1.Record{Name: "x", Data: "192.0.2.1"}, field: "record.type", reason: "required"},
		{name: "gateway on MX", rec: &dnsv1.Record{Name: "x", Type: tMX, GatewayCluster: "eu"}, field: "record.gateway_cluster", reason: "only A and AAAA"},
		{name: "GSLB on MX", rec: &dnsv1.Record{Name: "x", Type: tMX, GatewayTargets: []*dnsv1.GatewayTarget{{Cluster: "eu"}}}, field: "record.gateway_targets", reason: "only A and AAAA"},
		{name: "GSLB and one cluster", rec: &dnsv1.Record{Name: "x", Type: tA, GatewayCluster: "eu", GatewayTargets: []*dnsv1.GatewayTarget{{Cluster: "eu"}}}, field: "record.gateway_targets", reason: "not both"},
		{name: "GSLB with data", rec: &dnsv1.Record{Name: "x", Type: tA, Data: "192.0.2.1", GatewayTargets: []*dnsv1.GatewayTarget{{Cluster: "eu"}}}, field: "record.data", reason: "must be empty"},
		{name: "GSLB empty cluster", rec: &dnsv1.Record{Name: "x", Type: tA, GatewayTargets: []*dnsv1.GatewayTarget{{Cluster: "eu"}, {Cluster: " "}}}, field: "record.gateway_targets[1].cluster", reason: "required"},
		{name: "GSLB cluster twice", rec: &dnsv1.Record{Name: "x", Type: tA, GatewayTargets: []*dnsv1.GatewayTarget{{Cluster: "eu"}, {Cluster: "eu"}}}, field: "record.gateway_targets[1].cluster", reason: "listed twice"},
		{name: "GSLB weight", rec: &dnsv1.Record{Name: "x", Type: tA, GatewayTargets: []*dnsv1.GatewayTarget{{Cluster: "eu", Weight: 1001}}}, field: "record.gateway_targets[0].weight", reason: "more than 1000"},
		{name: "GSLB too many", rec: &dnsv1.Record{Name: "x", Type: tA, GatewayTargets: manyTargets(17)}, field: "record.gateway_targets", reason: "limit of 16"},
		{name: "A beside GSLB", rec: &dnsv1.Record{Name: "gs", Type: tA, Data: "192.0.2.1"}, field: "record", reason: "only record of its name, type and match"},
		{name: "bad CIDR", rec: &dnsv1.Record{Name: "x", Type: tA, Data: "192.0.2.1", Match: &dnsv1.GeoMatch{Cidrs: []string{"10.0.0.0/33"}}}, field: "record.match.cidrs[0]", reason: "not a CIDR"},
		{name: "bad continent", rec: &dnsv1.Record{Name: "x", Type: tA, Data: "192.0.2.1", Match: &dnsv1.GeoMatch{Continents: []string{"XX"}}}, field: "record.match.continents[0]", reason: "not a continent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := z.AddRecord(tc.rec)
			wantViolation(t, err, tc.field, tc.reason)
		})
	}
	// One error per problem, in our words: the conflict is named once, on
	// the record being added, and bad data says what the type wants instead
	// of the DNS library's message.
	_, err := z.AddRecord(&dnsv1.Record{Name: "www", Type: tA, Data: "192.0.2.1"})
	if vs := apierr.Violations(err); len(vs) != 1 {
		t.Errorf("A beside a CNAME: %d violations, want 1: %v", len(vs), vs)
	}
	_, err = z.AddRecord(&dnsv1.Record{Name: "x", Type: tA, Data: "1.2.3"})
	if vs := apierr.Violations(err); len(vs) != 1 || vs[0].Reason != `"1.2.3" is not valid A data: want an IPv4 address, e.g. 192.0.2.10` {
		t.Errorf("bad A data: %v", vs)
	}
	// Zone names are checked, and worded, like app domains.
	_, err = NewZone("z2").Create(Settings{Name: "bad..zone", Partitions: []string{"p1"}})
	wantViolation(t, err, "name", `"bad..zone" has an empty label (two dots in a row)`)

	msgs, err := z.AddRecord(&dnsv1.Record{Name: "api", Type: tA, Data: "192.0.2.9"})
	if err != nil {
		t.Fatal(err)
	}
	if r := msgs[0].(*ev.RecordAdded).Record; !strings.HasPrefix(r.Id, prefixRecord) {
		t.Fatalf("record id %q", r.Id)
	}
}

func manyTargets(n int) []*dnsv1.GatewayTarget {
	out := make([]*dnsv1.GatewayTarget, n)
	for i := range out {
		out[i] = &dnsv1.GatewayTarget{Cluster: fmt.Sprintf("c%d", i)}
	}
	return out
}

// A GSLB record keeps its targets and weights; what only snapshots carry
// is dropped; an AAAA GSLB record beside the A one and one with another
// match are fine.
func TestAddGSLBRecord(t *testing.T) {
	z := given(created())
	msgs, err := z.AddRecord(&dnsv1.Record{Name: "www", Type: tA, GatewayTargets: []*dnsv1.GatewayTarget{
		{Cluster: " fra ", Weight: 3, Addresses: []string{"192.0.2.1"}}, {Cluster: "nyc"}}})
	if err != nil {
		t.Fatal(err)
	}
	r := msgs[0].(*ev.RecordAdded).Record
	want := []*dnsv1.GatewayTarget{{Cluster: "fra", Weight: 3}, {Cluster: "nyc"}}
	if len(r.GatewayTargets) != 2 || !proto.Equal(r.GatewayTargets[0], want[0]) || !proto.Equal(r.GatewayTargets[1], want[1]) {
		t.Fatalf("targets %v, want %v", r.GatewayTargets, want)
	}
	z = given(created(), msgs[0])
	if _, err := z.AddRecord(&dnsv1.Record{Name: "www", Type: tAAAA, GatewayTargets: want}); err != nil {
		t.Fatal(err)
	}
	if _, err := z.AddRecord(&dnsv1.Record{Name: "www", Type: tA, Data: "192.0.2.7", Match: &dnsv1.GeoMatch{Countries: []string{"JP"}}}); err != nil {
		t.Fatal(err)
	}
	if out := ExportZoneFile(z.Working()); !strings.Contains(out, "; gateway: www\t300\tIN\tA\t<nearest healthy of fra=3 nyc=1>") {
		t.Errorf("export:\n%s", out)
	}
}

func TestReleaseAndRevert(t *testing.T) {
	l := givenLog(created(), added("r1", "www", tA, "192.0.2.1"), released(),
		&ev.RecordUpdated{ZoneId: "z1", Record: &dnsv1.Record{Id: "r1", Name: "www", Type: tA, Data: "192.0.2.2"}}, released())
	z := l.zone
	if z.LatestRelease() != 2 || z.Pending() != 0 || z.Released().GetRecords()[0].GetData() != "192.0.2.2" || z.Released().GetRelease() != 2 {
		t.Fatalf("after two releases: latest %d pending %d released %v", z.LatestRelease(), z.Pending(), z.Released())
	}
	if _, err := z.Release("", false); !apierr.IsKind(err, apierr.KindFailedPrecondition) {
		t.Fatalf("release without changes: %v", err)
	}
	// when: revert to 1
	msgs, err := l.revert(1, "back")
	if err != nil {
		t.Fatal(err)
	}
	r := msgs[0].(*ev.ZoneReverted)
	if r.ToRelease != 1 || r.Records[0].GetData() != "192.0.2.1" {
		t.Fatalf("revert event %v", r)
	}
	l.apply(r)
	// Release 1 (and 3) is what runs now: reverting to it is refused.
	if _, err := l.revert(1, ""); !apierr.IsKind(err, apierr.KindFailedPrecondition) || !strings.Contains(err.Error(), "nothing to release") {
		t.Fatalf("revert to the live content: %v", err)
	}
	// Changes that cancel out leave nothing to release.
	l.apply(added("r9", "tmp", tA, "192.0.2.9"))
	l.apply(&ev.RecordRemoved{ZoneId: "z1", RecordId: "r9"})
	if _, err := z.Release("", false); !apierr.IsKind(err, apierr.KindFailedPrecondition) || !strings.Contains(err.Error(), "nothing to release") {
		t.Fatalf("release of changes that cancel out: %v", err)
	}
	// then: release 3 has release 1's content, history kept
	if z.LatestRelease() != 3 || z.Released().GetRecords()[0].GetData() != "192.0.2.1" {
		t.Fatalf("after revert: latest %d content %v", z.LatestRelease(), z.Released())
	}
	if c, _, _ := release.At(NewZone("z1"), l.history, 2); c.GetRecords()[0].GetData() != "192.0.2.2" {
		t.Fatalf("release 2 rewritten: %v", c)
	}
	// a revert can be reverted
	msgs, err = l.revert(2, "")
	if err != nil {
		t.Fatal(err)
	}
	l.apply(msgs[0])
	if z.Released().GetRecords()[0].GetData() != "192.0.2.2" {
		t.Fatalf("revert of the revert: %v", z.Released())
	}
	if _, err := l.revert(9, ""); len(apierr.Violations(err)) == 0 {
		t.Fatalf("revert to a missing release: %v", err)
	}
}

func TestDeleteNeedsARelease(t *testing.T) {
	l := givenLog(created(), added("r1", "www", tA, "192.0.2.1"), released(), &ev.ZoneDeleted{ZoneId: "z1"})
	z := l.zone
	if z.Released() == nil {
		t.Fatal("a pending delete already removed the released zone")
	}
	l.apply(released())
	if z.Released() != nil {
		t.Fatalf("released after a delete release: %v", z.Released())
	}
	if _, err := z.AddRecord(&dnsv1.Record{Name: "x", Type: tA, Data: "192.0.2.1"}); !apierr.IsKind(err, apierr.KindNotFound) {
		t.Fatalf("add to a deleted zone: %v", err)
	}
	msgs, err := l.revert(1, "undelete")
	if err != nil {
		t.Fatal(err)
	}
	l.apply(msgs[0])
	if z.Released() == nil || z.Deleted() {
		t.Fatal("revert did not bring the zone back")
	}
}

func TestImportReplacesRecords(t *testing.T) {
	z := given(created(), added("r1", "old", tA, "192.0.2.1"))
	msgs, err := z.Import("$TTL 60\n@ IN NS ns9.example.com.\nwww IN A 192.0.2.7\n")
	if err != nil {
		t.Fatal(err)
	}
	z.Apply(3, msgs[0])
	w := z.Working()
	if len(w.Records) != 1 || w.Records[0].Name != "www" || w.Nameservers[0] != "ns9.example.com." || w.PartitionIds[0] != "p1" {
		t.Fatalf("after import: %v", w)
	}
	_, err = z.Import("www IN CNAME a\nwww IN A 192.0.2.1\n")
	wantViolation(t, err, "line 2", "CNAME owner has no other data")
}

const (
	tA     = dnsv1.RecordType_RECORD_TYPE_A
	tCNAME = dnsv1.RecordType_RECORD_TYPE_CNAME
	tMX    = dnsv1.RecordType_RECORD_TYPE_MX
	tAAAA  = dnsv1.RecordType_RECORD_TYPE_AAAA
)

// A staging release reaches the staging track only; promoting it makes it
// stable too; a release of nothing new, or a promotion of what stable nodes
// run, is refused with the command that would help.
func TestStagingReleaseAndPromote(t *testing.T) {
	l := givenLog(created(), added("r1", "www", tA, "192.0.2.1"), released(),
		&ev.RecordUpdated{ZoneId: "z1", Record: &dnsv1.Record{Id: "r1", Name: "www", Type: tA, Data: "192.0.2.2"}})
	z := l.zone
	if _, err := z.Promote(""); !apierr.IsKind(err, apierr.KindFailedPrecondition) || !strings.Contains(err.Error(), "already runs on stable nodes") {
		t.Fatalf("promote without a staging release: %v", err)
	}
	msgs, err := z.Release("try", true)
	if err != nil {
		t.Fatal(err)
	}
	l.apply(msgs[0])
	if z.StagingRelease() != 2 || z.StableRelease() != 1 || z.Released().GetRecords()[0].GetData() != "192.0.2.2" || z.Stable().GetRecords()[0].GetData() != "192.0.2.1" {
		t.Fatalf("after a staging release: staging %d %v, stable %d %v", z.StagingRelease(), z.Released(), z.StableRelease(), z.Stable())
	}
	if _, err := z.Release("", true); !apierr.IsKind(err, apierr.KindFailedPrecondition) {
		t.Fatalf("second staging release without changes: %v", err)
	}
	if _, err := z.Release("", false); !apierr.IsKind(err, apierr.KindFailedPrecondition) || !strings.Contains(err.Error(), "strata dns release promote --zone z1") {
		t.Fatalf("stable release of the staging content: %v", err)
	}
	msgs, err = z.Promote("ok")
	if err != nil {
		t.Fatal(err)
	}
	l.apply(msgs[0])
	if z.StableRelease() != 2 || z.Stable() != z.Released() || z.LatestRelease() != 2 {
		t.Fatalf("after promote: stable %d staging %d latest %d", z.StableRelease(), z.StagingRelease(), z.LatestRelease())
	}
	// A revert reaches both tracks, replayed from the log.
	msgs, err = l.revert(1, "")
	if err != nil {
		t.Fatal(err)
	}
	l.apply(msgs[0])
	if z.StableRelease() != 3 || z.StagingRelease() != 3 || z.Stable().GetRecords()[0].GetData() != "192.0.2.1" {
		t.Fatalf("after revert: stable %d staging %d %v", z.StableRelease(), z.StagingRelease(), z.Stable())
	}
}

// Given a zone's history, when a command, then these events or this refusal.
func TestZoneCommands(t *testing.T) {
	www := added("r1", "www", tA, "192.0.2.1")
	z := given(created(), www)
	moved := &dnsv1.Record{Id: "r1", Name: "www", Type: tA, Data: "192.0.2.2"}
	got, err := z.UpdateRecord(moved)
	then(t, got, err, &ev.RecordUpdated{ZoneId: "z1", Record: moved})
	got, err = z.UpdateRecord(&dnsv1.Record{Id: "r9", Name: "x", Type: tA, Data: "192.0.2.2"})
	thenRejected(t, got, err, apierr.KindNotFound, "")
	got, err = z.RemoveRecord("r1")
	then(t, got, err, &ev.RecordRemoved{ZoneId: "z1", RecordId: "r1"})
	got, err = z.RemoveRecord("r9")
	thenRejected(t, got, err, apierr.KindNotFound, "")
	got, err = z.Update(Settings{Name: "other.org", Partitions: []string{"p2"}})
	then(t, got, err, &ev.ZoneUpdated{ZoneId: "z1", Settings: &ev.ZoneSettings{Name: "example.com.", PartitionIds: []string{"p2"}}})
	got, err = z.Update(Settings{})
	thenRejected(t, got, err, apierr.KindInvalid, "partitions")
	got, err = z.Import(strings.Repeat(";", maxZoneFileBytes+1))
	thenRejected(t, got, err, apierr.KindInvalid, "zone_file")
	got, err = z.Release("first", false)
	then(t, got, err, &ev.ZoneReleased{ZoneId: "z1", Note: "first"})
	got, err = z.Delete()
	then(t, got, err, &ev.ZoneDeleted{ZoneId: "z1"})

	z = given(created(), &ev.ZoneDeleted{ZoneId: "z1"})
	got, err = z.Delete()
	thenRejected(t, got, err, apierr.KindNotFound, "")
	got, err = z.RemoveRecord("r1")
	thenRejected(t, got, err, apierr.KindNotFound, "")

	z = given()
	got, err = z.Release("", false)
	thenRejected(t, got, err, apierr.KindNotFound, "")
	got, err = z.Promote("")
	thenRejected(t, got, err, apierr.KindNotFound, "")
	got, err = z.Update(Settings{Partitions: []string{"p1"}})
	thenRejected(t, got, err, apierr.KindNotFound, "")
}
