package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// What uses a partition or a cluster, for the refusals of DeletePartition,
// DeleteCluster and a cluster rename. Each returns "" when nothing does,
// else a list like `clusters "fra", "ams"; apps "shop" (app_1)`.

// usage collects the users of an object by kind, in a stable order.
type usage struct {
	kinds []string
	users map[string][]string
}

func (u *usage) add(kind, user string) {
	if u.users == nil {
		u.users = map[string][]string{}
	}
	if _, ok := u.users[kind]; !ok {
		u.kinds = append(u.kinds, kind)
	}
	if !slices.Contains(u.users[kind], user) {
		u.users[kind] = append(u.users[kind], user)
	}
}

// maxUsersShown bounds each kind's list; the rest is counted.
const maxUsersShown = 5

func (u *usage) String() string {
	var parts []string
	for _, k := range u.kinds {
		us := u.users[k]
		slices.Sort(us)
		more := ""
		if len(us) > maxUsersShown {
			more = fmt.Sprintf(" and %d more", len(us)-maxUsersShown)
			us = us[:maxUsersShown]
		}
		parts = append(parts, k+" "+strings.Join(us, ", ")+more)
	}
	return strings.Join(parts, "; ")
}

// Zones tells what DNS zones use a partition or a cluster (the dns
// service, set with UseZones): each user as `"example.com" (zone_1)` or
// `www in zone "example.com"`.
type Zones interface {
	ZonesIn(partition string) []string
	GatewayRecords(match func(cluster string) bool) []string
}

// UseZones makes deletes and renames of partitions and clusters check the
// zones z knows of (before Start; without it zones are not checked).
func (s *Service) UseZones(z Zones) { s.zones = z }

// Metrics tells what Metric SQL definitions name a partition (the metrics
// service, set with UseMetrics): each as `"hosts" (met_1)`. A definition
// without partitions runs on every partition and keeps none.
type Metrics interface {
	MetricsIn(partition string) []string
}

// UseMetrics makes deletes of partitions check the metric definitions m
// knows of (before Start; without it they are not checked).
func (s *Service) UseMetrics(m Metrics) { s.metrics = m }

// partitionUsers: clusters in the partition, apps and zones naming it in
// their working copy or a release that runs; zones are the zones in it
// (Zones.ZonesIn, read outside the state: dns folds under its lock, reading
// ours), metrics the metric definitions naming it (Metrics.MetricsIn).
func (st *state) partitionUsers(id string, zones []string, metrics ...string) string {
	var u usage
	for _, c := range st.clusters {
		if c.PartitionId == id {
			u.add("clusters", fmt.Sprintf("%q", c.Name))
		}
	}
	for appID, e := range st.apps {
		a := e.agg
		if !a.Exists() || a.Gone() {
			continue
		}
		for _, c := range []*configv1.App{a.draftView(), a.Released(), a.Stable()} {
			if slices.Contains(c.GetPartitionIds(), id) {
				u.add("apps", fmt.Sprintf("%q (%s)", a.draftView().GetName(), appID))
				break
			}
		}
	}
	for _, z := range zones {
		u.add("zones", z)
	}
	for _, m := range metrics {
		u.add("metrics", m)
	}
	return u.String()
}

// clusterUsers: its nodes, unexpired join tokens, clusters that have it as
// a parent, and records, the gateway records that name it (by id or name).
func (st *state) clusterUsers(c *configv1.Cluster, now time.Time, records []string) string {
	var u usage
	for _, n := range st.nodes {
		if n.ClusterId == c.Id {
			u.add("nodes", fmt.Sprintf("%q (%s)", n.Name, n.Id))
		}
	}
	for _, t := range st.tokens {
		if t.ClusterId == c.Id && (t.ExpiresAt == nil || t.ExpiresAt.AsTime().After(now)) {
			u.add("join tokens", t.Id)
		}
	}
	for _, o := range st.clusters {
		if slices.Contains(o.ParentClusterIds, c.Id) {
			u.add("clusters (as their parent)", fmt.Sprintf("%q", o.Name))
		}
	}
	for _, r := range records {
		u.add("gateway records", r)
	}
	return u.String()
}

// gatewayRecords lists the gateway records whose cluster reference matches.
func gatewayRecords(zones Zones, match func(ref string) bool) []string {
	if zones == nil {
		return nil
	}
	return zones.GatewayRecords(match)
}

// usedBy formats users of one kind as the usage checks do.
func usedBy(kind string, users []string) string {
	var u usage
	for _, r := range users {
		u.add(kind, r)
	}
	return u.String()
}
