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

// partitionUsers: clusters in the partition, apps and zones naming it in
// their working copy or a release that runs.
func (p *projection) partitionUsers(id string, zones Zones) string {
	var zs []string
	if zones != nil {
		zs = zones.ZonesIn(id) // outside read: dns folds under its lock, reading ours
	}
	var u usage
	p.read(func(st *state) {
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
		for _, z := range zs {
			u.add("zones", z)
		}
	})
	return u.String()
}

// clusterUsers: its nodes, unexpired join tokens, clusters that have it as
// a parent, and gateway records that name it (by id or name).
func (p *projection) clusterUsers(c *configv1.Cluster, now time.Time, zones Zones) string {
	var records usage
	gatewayRecords(zones, func(r string) bool { return r == c.Id || r == c.Name }, &records)
	var u usage
	p.read(func(st *state) {
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
		for _, r := range records.users["gateway records"] {
			u.add("gateway records", r)
		}
	})
	return u.String()
}

// gatewayRecordsNaming lists the gateway records that name a cluster by
// name (they would lose it when it is renamed).
func gatewayRecordsNaming(zones Zones, name string) string {
	var u usage
	gatewayRecords(zones, func(r string) bool { return r == name }, &u)
	return u.String()
}

// gatewayRecords adds to u the gateway records whose cluster reference
// matches.
func gatewayRecords(zones Zones, match func(ref string) bool, u *usage) {
	if zones != nil {
		for _, r := range zones.GatewayRecords(match) {
			u.add("gateway records", r)
		}
	}
}
