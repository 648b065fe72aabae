package config

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/listfilter"
)

// The filterable fields of the config service's List RPCs other than
// ListApps (listapps.go); docs/api.md, "Filtering".

var partitionSchema = listfilter.Schema[*configv1.Partition]{
	"id":   listfilter.String((*configv1.Partition).GetId),
	"name": listfilter.String((*configv1.Partition).GetName),
}

func partitionKey(p *configv1.Partition) string { return listfilter.Key(p.GetName(), p.GetId()) }

var clusterSchema = listfilter.Schema[*configv1.Cluster]{
	"id":           listfilter.String((*configv1.Cluster).GetId),
	"name":         listfilter.String((*configv1.Cluster).GetName),
	"partition_id": listfilter.String((*configv1.Cluster).GetPartitionId),
	"dns_disabled": listfilter.Bool((*configv1.Cluster).GetDnsDisabled),
	"parents":      listfilter.Strings((*configv1.Cluster).GetParentClusterIds),
	"country":      listfilter.String(func(c *configv1.Cluster) string { return c.GetLocation().GetCountry() }),
	"continent":    listfilter.String(func(c *configv1.Cluster) string { return c.GetLocation().GetContinent() }),
}

func clusterKey(c *configv1.Cluster) string { return listfilter.Key(c.GetName(), c.GetId()) }

var nodeSchema = listfilter.Schema[*configv1.NodeInfo]{
	"id":              listfilter.String(func(n *configv1.NodeInfo) string { return n.GetNode().GetId() }),
	"name":            listfilter.String(func(n *configv1.NodeInfo) string { return n.GetNode().GetName() }),
	"cluster_id":      listfilter.String(func(n *configv1.NodeInfo) string { return n.GetNode().GetClusterId() }),
	"partition_id":    listfilter.String((*configv1.NodeInfo).GetPartitionId),
	"staging":         listfilter.Bool(func(n *configv1.NodeInfo) bool { return n.GetNode().GetStaging() }),
	"approved":        listfilter.Bool(func(n *configv1.NodeInfo) bool { return n.GetNode().GetApproved() }),
	"disabled":        listfilter.Bool(func(n *configv1.NodeInfo) bool { return n.GetNode().GetDisabled() }),
	"online":          listfilter.Bool((*configv1.NodeInfo).GetOnline),
	"in_sync":         listfilter.Bool((*configv1.NodeInfo).GetInSync),
	"healthy":         listfilter.Bool((*configv1.NodeInfo).GetHealthy),
	"track":           listfilter.String((*configv1.NodeInfo).GetTrack),
	"apply_error":     listfilter.String((*configv1.NodeInfo).GetApplyError),
	"publish_error":   listfilter.String((*configv1.NodeInfo).GetPublishError),
	"applied_version": listfilter.Number(func(n *configv1.NodeInfo) float64 { return float64(n.GetAppliedVersion()) }),
	"lag_releases":    listfilter.Number(func(n *configv1.NodeInfo) float64 { return float64(n.GetLagReleases()) }),
	"lag_seconds":     listfilter.Number((*configv1.NodeInfo).GetLagSeconds),
	"last_seen":       listfilter.Time(func(n *configv1.NodeInfo) time.Time { return tsTime(n.GetLastSeen()) }),
	"public_ipv4":     listfilter.String(func(n *configv1.NodeInfo) string { return n.GetNode().GetPublicIpv4() }),
	"public_ipv6":     listfilter.String(func(n *configv1.NodeInfo) string { return n.GetNode().GetPublicIpv6() }),
}

func nodeKey(n *configv1.NodeInfo) string {
	return listfilter.Key(n.GetNode().GetClusterId(), n.GetNode().GetName(), n.GetNode().GetId())
}

var releaseSchema = listfilter.Schema[*configv1.Release]{
	"number":      listfilter.Number(func(r *configv1.Release) float64 { return float64(r.GetNumber()) }),
	"note":        listfilter.String((*configv1.Release).GetNote),
	"actor":       listfilter.String((*configv1.Release).GetActor),
	"time":        listfilter.Time(func(r *configv1.Release) time.Time { return tsTime(r.GetTime()) }),
	"staging":     listfilter.Bool((*configv1.Release).GetStaging),
	"kind":        listfilter.String((*configv1.Release).GetKind),
	"object":      listfilter.String((*configv1.Release).GetObject),
	"promoted_by": listfilter.String((*configv1.Release).GetPromotedBy),
}

// releaseKey orders releases newest first.
func releaseKey(r *configv1.Release) string { return listfilter.Desc(r.GetNumber()) }

// tsTime is the time of a timestamp; the zero time for none.
func tsTime(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}
