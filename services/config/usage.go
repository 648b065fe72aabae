package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	dnssvc "github.com/strata-edge/strata/services/dns"
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

// liveZone reports whether zone z exists somewhere: not deleted, or its
// deletion not released yet.
func liveZone(z *dnssvc.Zone) bool {
	return z.Exists() && (!z.Deleted() || z.Released() != nil || z.Pending() > 0)
}

// zoneContents are the working copy and the newest release of z.
func zoneContents(z *dnssvc.Zone) []*dnsv1.Zone {
	out := []*dnsv1.Zone{z.Working()}
	if r := z.Released(); r != nil {
		out = append(out, r)
	}
	return out
}

// partitionUsers: clusters in the partition, apps and zones naming it in
// their working copy or a release that runs.
func (p *projection) partitionUsers(id string) string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var u usage
	for _, c := range p.clusters {
		if c.PartitionId == id {
			u.add("clusters", fmt.Sprintf("%q", c.Name))
		}
	}
	for appID, e := range p.apps {
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
	for zoneID, z := range p.zones {
		if !liveZone(z) {
			continue
		}
		for _, c := range zoneContents(z) {
			if slices.Contains(c.GetPartitionIds(), id) {
				u.add("zones", fmt.Sprintf("%q (%s)", strings.TrimSuffix(z.Working().GetName(), "."), zoneID))
				break
			}
		}
	}
	return u.String()
}

// clusterUsers: its nodes, unexpired join tokens, clusters that have it as
// a parent, and gateway records that name it (by id or name).
func (p *projection) clusterUsers(c *configv1.Cluster, now time.Time) string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var u usage
	for _, n := range p.nodes {
		if n.ClusterId == c.Id {
			u.add("nodes", fmt.Sprintf("%q (%s)", n.Name, n.Id))
		}
	}
	for _, t := range p.tokens {
		if t.ClusterId == c.Id && (t.ExpiresAt == nil || t.ExpiresAt.AsTime().After(now)) {
			u.add("join tokens", t.Id)
		}
	}
	for _, o := range p.clusters {
		if slices.Contains(o.ParentClusterIds, c.Id) {
			u.add("clusters (as their parent)", fmt.Sprintf("%q", o.Name))
		}
	}
	p.gatewayRecords(func(r string) bool { return r == c.Id || r == c.Name }, &u)
	return u.String()
}

// gatewayRecordsNaming lists the gateway records that name a cluster by
// name (they would lose it when it is renamed).
func (p *projection) gatewayRecordsNaming(name string) string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var u usage
	p.gatewayRecords(func(r string) bool { return r == name }, &u)
	return u.String()
}

// gatewayRecords adds to u the gateway records of live zones whose cluster
// reference matches. Called with p.mu held.
func (p *projection) gatewayRecords(match func(ref string) bool, u *usage) {
	for _, z := range p.zones {
		if !liveZone(z) {
			continue
		}
		for _, c := range zoneContents(z) {
			for _, r := range c.GetRecords() {
				if r.GetGatewayCluster() != "" && match(r.GetGatewayCluster()) {
					u.add("gateway records", fmt.Sprintf("%s in zone %q", r.GetName(), strings.TrimSuffix(c.GetName(), ".")))
				}
			}
		}
	}
}
