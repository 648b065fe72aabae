package config

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/aggtest"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/eventstore"
)

// givenState folds events into the state of a new read model.
func givenState(events ...proto.Message) *state {
	st := stateOf(testProjection(false))
	aggtest.Given(aggtest.Func(func(pos uint64, msg proto.Message) { st.apply(eventstore.Event{Position: pos}, msg) }), events...)
	return st
}

// one is a decision's event as a list: none when it changes nothing.
func one[M proto.Message](msg M, err error) ([]proto.Message, error) {
	if !msg.ProtoReflect().IsValid() {
		return nil, err
	}
	return []proto.Message{msg}, err
}

var (
	euPart   = &ev.PartitionCreated{Partition: &configv1.Partition{Id: "par_eu", Name: "eu"}}
	usPart   = &ev.PartitionCreated{Partition: &configv1.Partition{Id: "par_us", Name: "us"}}
	fraClus  = &ev.ClusterCreated{Cluster: &configv1.Cluster{Id: "cls_fra", Name: "fra", PartitionId: "par_eu"}}
	amsClus  = &ev.ClusterCreated{Cluster: &configv1.Cluster{Id: "cls_ams", Name: "ams", PartitionId: "par_eu"}}
	nycClus  = &ev.ClusterCreated{Cluster: &configv1.Cluster{Id: "cls_nyc", Name: "nyc", PartitionId: "par_us"}}
	shopInEU = &ev.AppCreated{AppId: "app_shop", Settings: &ev.AppSettings{Name: "shop", PartitionIds: []string{"par_eu"}}}
)

func TestPartitionDecisions(t *testing.T) {
	st := givenState(euPart)
	got, err := one(st.createPartition("par_new", "asia"))
	aggtest.Then(t, got, err, &ev.PartitionCreated{Partition: &configv1.Partition{Id: "par_new", Name: "asia"}})
	got, err = one(st.createPartition("par_new", "eu"))
	aggtest.Rejected(t, got, err, apierr.KindInvalid, "name")
	if !isAlreadyExists(err) {
		t.Fatalf("a taken name is not reported as existing (the default partition relies on it): %v", err)
	}
	got, err = one(st.createPartition("par_new", "no spaces"))
	aggtest.Rejected(t, got, err, apierr.KindInvalid, "name")

	id, msg, err := st.renamePartition("eu", "europe")
	aggtest.Then(t, events(msg), err, &ev.PartitionRenamed{PartitionId: "par_eu", Name: "europe"})
	if id != "par_eu" {
		t.Fatalf("renamed %q, want par_eu", id)
	}
	_, msg, err = st.renamePartition("par_eu", "eu")
	aggtest.Then(t, events(msg), err) // its own name already
	_, msg, err = st.renamePartition("", "europe")
	aggtest.Rejected(t, events(msg), err, apierr.KindInvalid, "partition")
	_, msg, err = st.renamePartition("par_gone", "europe")
	aggtest.Rejected(t, events(msg), err, apierr.KindNotFound, "")
	st = givenState(euPart, usPart)
	_, msg, err = st.renamePartition("eu", "us")
	aggtest.Rejected(t, events(msg), err, apierr.KindInvalid, "name")
}

func TestDeletePartitionDecision(t *testing.T) {
	st := givenState(euPart, usPart)
	got, err := one(st.deletePartition("us", nil))
	aggtest.Then(t, got, err, &ev.PartitionDeleted{PartitionId: "par_us"})
	got, err = one(st.deletePartition("", nil))
	aggtest.Rejected(t, got, err, apierr.KindInvalid, "partition")
	got, err = one(st.deletePartition("asia", nil))
	aggtest.Rejected(t, got, err, apierr.KindNotFound, "")
	// Clusters, apps and zones in a partition keep it, and the refusal names them.
	for _, tt := range []struct {
		name  string
		given []proto.Message
		zones []string
	}{
		{`clusters "fra"`, []proto.Message{euPart, fraClus}, nil},
		{`apps "shop" (app_shop)`, []proto.Message{euPart, shopInEU}, nil},
		{`zones "example.com" (zone_1)`, []proto.Message{euPart}, []string{`"example.com" (zone_1)`}},
	} {
		got, err := one(givenState(tt.given...).deletePartition("eu", tt.zones))
		aggtest.Rejected(t, got, err, apierr.KindFailedPrecondition, "")
		if !strings.Contains(err.Error(), tt.name) {
			t.Fatalf("refusal %q does not name %s", err, tt.name)
		}
	}
	// So do the metric definitions naming it.
	got, err = one(givenState(euPart).deletePartition("eu", nil, `"hosts" (met_1)`))
	aggtest.Rejected(t, got, err, apierr.KindFailedPrecondition, "")
	if !strings.Contains(err.Error(), `metrics "hosts" (met_1)`) {
		t.Fatalf("refusal %q does not name the metric", err)
	}
}

func TestClusterDecisions(t *testing.T) {
	st := givenState(euPart, fraClus)
	got, err := one(st.createCluster("cls_new", "ams", "eu"))
	aggtest.Then(t, got, err, &ev.ClusterCreated{Cluster: &configv1.Cluster{Id: "cls_new", Name: "ams", PartitionId: "par_eu"}})
	got, err = one(st.createCluster("cls_new", "fra", "eu"))
	aggtest.Rejected(t, got, err, apierr.KindInvalid, "name")
	got, err = one(st.createCluster("cls_new", "ams", "asia"))
	aggtest.Rejected(t, got, err, apierr.KindInvalid, "partition")
	got, err = one(st.createCluster("cls_new", "", ""))
	aggtest.Rejected(t, got, err, apierr.KindInvalid, "name")
	aggtest.Violation(t, err, "partition", "is empty")

	st = givenState(euPart, usPart, fraClus, amsClus, nycClus)
	disabled, rename := true, "frankfurt"
	_, msg, err := st.updateCluster("fra", clusterChange{dnsDisabled: &disabled, parents: []string{"ams"}, name: &rename})
	aggtest.Then(t, events(msg), err, &ev.ClusterUpdated{Cluster: &configv1.Cluster{
		Id: "cls_fra", Name: "frankfurt", PartitionId: "par_eu", DnsDisabled: true, ParentClusterIds: []string{"cls_ams"}}})
	same := "fra"
	c, msg, err := st.updateCluster("cls_fra", clusterChange{name: &same, parents: []string{}})
	aggtest.Then(t, events(msg), err) // nothing changes
	if c.GetId() != "cls_fra" {
		t.Fatalf("unchanged cluster %v", c)
	}
	_, msg, err = st.updateCluster("fra", clusterChange{name: &rename, namedBy: []string{"www in zone \"example.com\""}})
	aggtest.Rejected(t, events(msg), err, apierr.KindFailedPrecondition, "")
	_, msg, err = st.updateCluster("fra", clusterChange{parents: []string{"nyc", "fra", "gone", "ams", "ams"}})
	aggtest.Rejected(t, events(msg), err, apierr.KindInvalid, "parents.clusters[0]")
	aggtest.Violation(t, err, "parents.clusters[0]", "another partition")
	aggtest.Violation(t, err, "parents.clusters[1]", "its own parent")
	aggtest.Violation(t, err, "parents.clusters[2]", "does not exist")
	aggtest.Violation(t, err, "parents.clusters[4]", "listed twice")
	_, msg, err = st.updateCluster("", clusterChange{})
	aggtest.Rejected(t, events(msg), err, apierr.KindInvalid, "cluster")
	_, msg, err = st.updateCluster("gone", clusterChange{})
	aggtest.Rejected(t, events(msg), err, apierr.KindNotFound, "")

	// ams has fra as its parent: fra may not have ams as its own.
	st = givenState(euPart, fraClus, amsClus, &ev.ClusterUpdated{Cluster: &configv1.Cluster{
		Id: "cls_ams", Name: "ams", PartitionId: "par_eu", ParentClusterIds: []string{"cls_fra"}}})
	_, msg, err = st.updateCluster("fra", clusterChange{parents: []string{"ams"}})
	aggtest.Rejected(t, events(msg), err, apierr.KindInvalid, "parents.clusters[0]")
	aggtest.Violation(t, err, "parents.clusters[0]", "a cycle")
}

func TestClusterLocationDecisions(t *testing.T) {
	st := givenState(euPart, fraClus)
	_, msg, err := st.updateCluster("fra", clusterChange{location: &configv1.ClusterLocation{Country: "de", Continent: "eu", Latitude: 50.1, Longitude: 8.7}})
	aggtest.Then(t, events(msg), err, &ev.ClusterUpdated{Cluster: &configv1.Cluster{Id: "cls_fra", Name: "fra", PartitionId: "par_eu",
		Location: &configv1.ClusterLocation{Country: "DE", Continent: "EU", Latitude: 50.1, Longitude: 8.7}}})
	_, msg, err = st.updateCluster("fra", clusterChange{location: &configv1.ClusterLocation{Country: "Germany", Continent: "XX", Latitude: 91, Longitude: -181}})
	aggtest.Rejected(t, events(msg), err, apierr.KindInvalid, "location.country")
	aggtest.Violation(t, err, "location.country", "ISO 3166-1")
	aggtest.Violation(t, err, "location.continent", "continent code")
	aggtest.Violation(t, err, "location.latitude", "-90..90")
	aggtest.Violation(t, err, "location.longitude", "-180..180")

	// An empty location clears it.
	st = givenState(euPart, &ev.ClusterCreated{Cluster: &configv1.Cluster{Id: "cls_fra", Name: "fra", PartitionId: "par_eu",
		Location: &configv1.ClusterLocation{Country: "DE"}}})
	_, msg, err = st.updateCluster("fra", clusterChange{location: &configv1.ClusterLocation{}})
	aggtest.Then(t, events(msg), err, &ev.ClusterUpdated{Cluster: &configv1.Cluster{Id: "cls_fra", Name: "fra", PartitionId: "par_eu"}})
}

func TestDeleteClusterDecision(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	st := givenState(euPart, fraClus, amsClus)
	got, err := one(st.deleteCluster("fra", now, nil))
	aggtest.Then(t, got, err, &ev.ClusterDeleted{ClusterId: "cls_fra"})
	got, err = one(st.deleteCluster("", now, nil))
	aggtest.Rejected(t, got, err, apierr.KindInvalid, "cluster")
	got, err = one(st.deleteCluster("gone", now, nil))
	aggtest.Rejected(t, got, err, apierr.KindNotFound, "")
	// An expired join token no longer keeps a cluster.
	st = givenState(euPart, fraClus, &ev.JoinTokenCreated{TokenId: "jt_old", ClusterId: "cls_fra", ExpiresAt: timestamppb.New(now.Add(-time.Second))})
	got, err = one(st.deleteCluster("fra", now, nil))
	aggtest.Then(t, got, err, &ev.ClusterDeleted{ClusterId: "cls_fra"})

	for name, given := range map[string][]proto.Message{
		`nodes "edge1" (nod_1)`:                {&ev.NodeRegistered{Node: &configv1.Node{Id: "nod_1", Name: "edge1", ClusterId: "cls_fra"}}},
		`join tokens jt_1`:                     {&ev.JoinTokenCreated{TokenId: "jt_1", ClusterId: "cls_fra"}},
		`clusters (as their parent) "ams"`:     {&ev.ClusterUpdated{Cluster: &configv1.Cluster{Id: "cls_ams", Name: "ams", PartitionId: "par_eu", ParentClusterIds: []string{"cls_fra"}}}},
		`gateway records www in zone "ex.com"`: nil,
	} {
		st := givenState(append([]proto.Message{euPart, fraClus, amsClus}, given...)...)
		var records []string
		if given == nil {
			records = []string{`www in zone "ex.com"`}
		}
		got, err := one(st.deleteCluster("fra", now, records))
		aggtest.Rejected(t, got, err, apierr.KindFailedPrecondition, "")
		if !strings.Contains(err.Error(), name) {
			t.Fatalf("refusal %q does not name %s", err, name)
		}
	}
}

// events is a decision's event as a list (none for nil).
func events[M proto.Message](msg M) []proto.Message {
	got, _ := one(msg, nil)
	return got
}
