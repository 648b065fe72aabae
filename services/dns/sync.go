package dns

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/services/edgesync"
)

// KindZone is the kind this service contributes to the partition tracks
// (node/store/kinds.go decodes it): on each of the zone's partitions, the
// stable track gets what stable nodes serve, the staging track the newest
// release.
const KindZone = "zone"

var zoneSyncKind = edgesync.Kind{Name: KindZone, View: func(s *syncv1.Snapshot, objs []proto.Message) { s.Zones = edgesync.As[*dnsv1.Zone](objs) }}

// Gateways returns the public addresses of the approved, enabled nodes of a
// cluster (id or name), sorted (the config service): what a gateway record
// carries to the nodes until the first live gateway set arrives.
type Gateways interface {
	GatewayAddresses(cluster string) []string
	// ClusterLocation is where the cluster is (nil when unknown): GSLB
	// records' targets carry it.
	ClusterLocation(cluster string) *configv1.ClusterLocation
}

// runs is what the zone's releases run on each track.
func (z *Zone) runs() edgesync.Runs[*dnsv1.Zone] {
	return edgesync.Runs[*dnsv1.Zone]{Stable: z.Stable(), Staging: z.Released()}
}

// values is z, gateway addresses filled in, on its partitions.
func (st *state) values(z *dnsv1.Zone) map[string]proto.Message {
	return edgesync.Everywhere(st.withGatewayAddresses(z), z.PartitionIds)
}

// withGatewayAddresses returns z with the gateway records' addresses filled
// in as of the release. z is shared and never changed: a record to fill
// means a copy.
func (st *state) withGatewayAddresses(z *dnsv1.Zone) *dnsv1.Zone {
	if st.gateways == nil || !slices.ContainsFunc(z.GetRecords(), isGateway) {
		return z
	}
	z = proto.Clone(z).(*dnsv1.Zone)
	for _, r := range z.Records {
		if r.GatewayCluster != "" {
			r.GatewayAddresses = st.gateways.GatewayAddresses(r.GatewayCluster)
		}
		for _, gt := range r.GatewayTargets {
			gt.Addresses = st.gateways.GatewayAddresses(gt.Cluster)
			gt.Location = st.gateways.ClusterLocation(gt.Cluster)
		}
	}
	return z
}

// isGateway reports whether r answers with cluster addresses.
func isGateway(r *dnsv1.Record) bool {
	return r.GetGatewayCluster() != "" || len(r.GetGatewayTargets()) > 0
}

// gatewayClusters are the cluster references of a gateway record.
func gatewayClusters(r *dnsv1.Record) []string {
	if c := r.GetGatewayCluster(); c != "" {
		return []string{c}
	}
	out := make([]string, 0, len(r.GetGatewayTargets()))
	for _, gt := range r.GetGatewayTargets() {
		out = append(out, gt.GetCluster())
	}
	return out
}

// live reports whether zone z exists somewhere: not deleted, or its
// deletion not released yet.
func live(z *Zone) bool {
	return z.Exists() && !z.rel.Gone()
}

// contents are the working copy and the releases the nodes serve of z.
func contents(z *Zone) []*dnsv1.Zone {
	out := []*dnsv1.Zone{z.Working()}
	for _, r := range []*dnsv1.Zone{z.Released(), z.Stable()} {
		if r != nil && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// ZonesIn lists the live zones that name partition in their working copy or
// release, as `"example.com" (zone_1)` (the config service refuses to
// delete a partition in use).
func (s *Service) ZonesIn(partition string) (out []string) {
	s.proj.Read(func(st *state) {
		for id, e := range st.zones {
			if !live(e.agg) {
				continue
			}
			for _, c := range contents(e.agg) {
				if slices.Contains(c.GetPartitionIds(), partition) {
					out = append(out, fmt.Sprintf("%q (%s)", strings.TrimSuffix(e.agg.Working().GetName(), "."), id))
					break
				}
			}
		}
	})
	return out
}

// GatewayRecords lists the gateway records of live zones whose cluster
// reference (id or name) matches, as `www in zone "example.com"` (the config
// service refuses to delete or rename a cluster in use).
func (s *Service) GatewayRecords(match func(cluster string) bool) (out []string) {
	s.proj.Read(func(st *state) {
		for _, e := range st.zones {
			if !live(e.agg) {
				continue
			}
			for _, c := range contents(e.agg) {
				for _, r := range c.GetRecords() {
					if slices.ContainsFunc(gatewayClusters(r), match) {
						out = append(out, fmt.Sprintf("%s in zone %q", r.GetName(), strings.TrimSuffix(c.GetName(), ".")))
					}
				}
			}
		}
	})
	return out
}
