package config

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/validate"
)

// The decisions of the partition and cluster commands, on the read model:
// each returns the event to record (nil: nothing changes) or the refusal.
// What the dns service knows (zones, gateway records) is read by the service
// beforehand and passed in: it is not read under the state's lock.

func exists(kind, name string) error {
	return &alreadyExists{apierr.Invalid(apierr.FieldViolation{Field: "name",
		Reason: fmt.Sprintf("%s %q already exists", kind, name)})}
}

func emptyRef(field string) error {
	return apierr.Invalid(apierr.FieldViolation{Field: field, Reason: fmt.Sprintf("is empty (give a %s id or name)", field)})
}

func checkName(name string) error {
	if r := validate.Name(name); r != "" {
		return apierr.Invalid(apierr.FieldViolation{Field: "name", Reason: r})
	}
	return nil
}

// createPartition decides CreatePartition of a new partition id.
func (st *state) createPartition(id, name string) (*ev.PartitionCreated, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if _, taken := st.resolvePartition(name); taken {
		return nil, exists("partition", name)
	}
	return &ev.PartitionCreated{Partition: &configv1.Partition{Id: id, Name: name}}, nil
}

// renamePartition decides RenamePartition of ref; it returns the partition's
// id too (renaming to its own name changes nothing).
func (st *state) renamePartition(ref, name string) (string, *ev.PartitionRenamed, error) {
	if ref == "" {
		return "", nil, emptyRef("partition")
	}
	if err := checkName(name); err != nil {
		return "", nil, err
	}
	id, ok := st.resolvePartition(ref)
	if !ok {
		return "", nil, apierr.NotFound("partition", ref)
	}
	if other, taken := st.resolvePartition(name); taken {
		if other == id {
			return id, nil, nil
		}
		return "", nil, exists("partition", name)
	}
	return id, &ev.PartitionRenamed{PartitionId: id, Name: name}, nil
}

// deletePartition decides DeletePartition of ref: nothing may use it; zones
// are the zones in it, metrics the metric definitions naming it.
func (st *state) deletePartition(ref string, zones []string, metrics ...string) (*ev.PartitionDeleted, error) {
	if ref == "" {
		return nil, emptyRef("partition")
	}
	id, ok := st.resolvePartition(ref)
	if !ok {
		return nil, apierr.NotFound("partition", ref)
	}
	if users := st.partitionUsers(id, zones, metrics...); users != "" {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("partition %q is in use by %s: move or delete them first", ref, users))
	}
	return &ev.PartitionDeleted{PartitionId: id}, nil
}

// createCluster decides CreateCluster of a new cluster id in partition.
func (st *state) createCluster(id, name, partition string) (*ev.ClusterCreated, error) {
	var v apierr.Fields
	v.Add("name", validate.Name(name))
	if partition == "" {
		v.Addf("partition", "is empty (give a partition id or name)")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if _, taken := st.resolveCluster(name); taken {
		return nil, exists("cluster", name)
	}
	pid, ok := st.resolvePartition(partition)
	if !ok {
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "partition",
			Reason: fmt.Sprintf("partition %q does not exist", partition)})
	}
	return &ev.ClusterCreated{Cluster: &configv1.Cluster{Id: id, Name: name, PartitionId: pid}}, nil
}

// clusterChange is UpdateCluster: nil fields stay as they are; parents are
// cluster ids or names.
type clusterChange struct {
	dnsDisabled *bool
	parents     []string
	name        *string
	// location replaces the cluster's location; an empty message clears it.
	location *configv1.ClusterLocation
	// namedBy are the gateway records that name the cluster by its current
	// name (they would lose it when it is renamed); read only for a rename.
	namedBy []string
}

// updateCluster decides UpdateCluster of ref; it returns the cluster as it
// is (the event is nil when nothing changes).
func (st *state) updateCluster(ref string, ch clusterChange) (*configv1.Cluster, *ev.ClusterUpdated, error) {
	if ref == "" {
		return nil, nil, emptyRef("cluster")
	}
	if ch.name != nil {
		if err := checkName(*ch.name); err != nil {
			return nil, nil, err
		}
	}
	c, ok := st.resolveCluster(ref)
	if !ok {
		return nil, nil, apierr.NotFound("cluster", ref)
	}
	next := proto.Clone(c).(*configv1.Cluster)
	if ch.dnsDisabled != nil {
		next.DnsDisabled = *ch.dnsDisabled
	}
	if ch.parents != nil {
		ids, err := st.parentClusters(c, ch.parents)
		if err != nil {
			return nil, nil, err
		}
		next.ParentClusterIds = ids
	}
	if ch.location != nil {
		loc, err := checkLocation(ch.location)
		if err != nil {
			return nil, nil, err
		}
		next.Location = loc
	}
	if name := ch.name; name != nil && *name != c.Name {
		if _, taken := st.resolveCluster(*name); taken {
			return nil, nil, exists("cluster", *name)
		}
		if refs := usedBy("gateway records", ch.namedBy); refs != "" {
			return nil, nil, apierr.FailedPrecondition(fmt.Sprintf("cannot rename cluster %q: %s name it; make them name the cluster by id (%s) first", c.Name, refs, c.Id))
		}
		next.Name = *name
	}
	if proto.Equal(next, c) {
		return c, nil, nil
	}
	next.CreatedAt, next.UpdatedAt = nil, nil // the projection sets them from the event
	return c, &ev.ClusterUpdated{Cluster: next}, nil
}

// parentClusters resolves parent references of cluster c: they must exist,
// be in c's partition (they serve the same apps), appear once, and not lead
// back to c through their own parents.
func (st *state) parentClusters(c *configv1.Cluster, refs []string) ([]string, error) {
	var v apierr.Fields
	ids := make([]string, 0, len(refs))
	for i, ref := range refs {
		field := fmt.Sprintf("parents.clusters[%d]", i)
		p, ok := st.resolveCluster(ref)
		switch {
		case !ok:
			v.Addf(field, "cluster %q does not exist", ref)
		case p.Id == c.Id:
			v.Addf(field, "a cluster cannot be its own parent")
		case p.PartitionId != c.PartitionId:
			v.Addf(field, "cluster %q is in another partition (parents must serve the same apps)", ref)
		case slices.Contains(ids, p.Id):
			v.Addf(field, "cluster %q is listed twice", ref)
		case st.reachesCluster(p.Id, c.Id):
			v.Addf(field, "cluster %q has %q among its own parents (a cycle)", ref, c.Name)
		default:
			ids = append(ids, p.Id)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return ids, nil
}

// deleteCluster decides DeleteCluster of ref at now: nothing may use it;
// records are the gateway records that name it.
func (st *state) deleteCluster(ref string, now time.Time, records []string) (*ev.ClusterDeleted, error) {
	if ref == "" {
		return nil, emptyRef("cluster")
	}
	c, ok := st.resolveCluster(ref)
	if !ok {
		return nil, apierr.NotFound("cluster", ref)
	}
	if users := st.clusterUsers(c, now, records); users != "" {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("cluster %q is in use by %s: remove or change them first", ref, users))
	}
	return &ev.ClusterDeleted{ClusterId: c.Id}, nil
}

// continents are the continent codes of GeoIP databases.
var continents = []string{"AF", "AN", "AS", "EU", "NA", "OC", "SA"}

// checkLocation validates a cluster location and returns it normalized
// (upper-case codes), or nil for an empty one (cleared).
func checkLocation(l *configv1.ClusterLocation) (*configv1.ClusterLocation, error) {
	out := &configv1.ClusterLocation{
		Country:   strings.ToUpper(strings.TrimSpace(l.GetCountry())),
		Continent: strings.ToUpper(strings.TrimSpace(l.GetContinent())),
		Latitude:  l.GetLatitude(),
		Longitude: l.GetLongitude(),
	}
	var v apierr.Fields
	if c := out.Country; c != "" && (len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z') {
		v.Addf("location.country", "%q is not an ISO 3166-1 alpha-2 code (\"DE\")", l.GetCountry())
	}
	if c := out.Continent; c != "" && !slices.Contains(continents, c) {
		v.Addf("location.continent", "%q is not a continent code (one of %s)", l.GetContinent(), strings.Join(continents, ", "))
	}
	if la := out.Latitude; math.IsNaN(la) || la < -90 || la > 90 {
		v.Addf("location.latitude", "%v is outside -90..90", la)
	}
	if lo := out.Longitude; math.IsNaN(lo) || lo < -180 || lo > 180 {
		v.Addf("location.longitude", "%v is outside -180..180", lo)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if proto.Equal(out, &configv1.ClusterLocation{}) {
		return nil, nil
	}
	return out, nil
}
