package config

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
)

// ResolveObject resolves the objects this service owns for authorization,
// by id or name, with their parents: a cluster belongs to its partition, a
// node to its cluster, an app to its partitions (those of the working copy
// and of the newest release, so a grant must cover both while an app moves).
// Register it with resolvers.Register(svc, authz.KindPartition,
// authz.KindCluster, authz.KindNode, authz.KindApp).
func (s *Service) ResolveObject(ctx context.Context, kind, ref string) (authz.ResolvedObject, error) {
	obj, err := s.resolveObject(kind, ref)
	if errors.Is(err, authz.ErrUnknownObject) {
		// It may have been created a moment ago, here or on another replica.
		if err := s.catchUp(ctx); err != nil {
			return authz.ResolvedObject{}, err
		}
		obj, err = s.resolveObject(kind, ref)
	}
	return obj, err
}

func (s *Service) resolveObject(kind, ref string) (obj authz.ResolvedObject, err error) {
	s.proj.Read(func(st *state) { obj, err = st.resolveObject(kind, ref) })
	return obj, err
}

func (st *state) resolveObject(kind, ref string) (authz.ResolvedObject, error) {
	unknown := fmt.Errorf("%s %q: %w", kind, ref, authz.ErrUnknownObject)
	switch kind {
	case authz.KindPartition:
		id, ok := st.resolvePartition(ref)
		if !ok {
			return authz.ResolvedObject{}, unknown
		}
		return authz.ResolvedObject{Object: authz.Object{Kind: kind, ID: id}, Name: st.partitions[id].GetName()}, nil
	case authz.KindCluster:
		c := st.clusters[ref]
		if c == nil {
			c = st.clusters[st.clusterByName[ref]]
		}
		if c == nil {
			return authz.ResolvedObject{}, unknown
		}
		return authz.ResolvedObject{Object: authz.Object{Kind: kind, ID: c.GetId()}, Name: c.GetName(),
			Parents: []authz.Object{{Kind: authz.KindPartition, ID: c.GetPartitionId()}}}, nil
	case authz.KindNode:
		n := st.nodes[ref]
		if n == nil {
			// Node names are unique per cluster only.
			var err error
			n, err = authz.ByIDOrName(kind, ref, maps.Values(st.nodes), (*configv1.Node).GetId, (*configv1.Node).GetName,
				func(n *configv1.Node) string {
					return n.GetId() + " (cluster " + st.clusters[n.GetClusterId()].GetName() + ")"
				})
			if err != nil {
				return authz.ResolvedObject{}, err
			}
		}
		if n == nil {
			return authz.ResolvedObject{}, unknown
		}
		return authz.ResolvedObject{Object: authz.Object{Kind: kind, ID: n.GetId()}, Name: n.GetName(),
			Parents: []authz.Object{{Kind: authz.KindCluster, ID: n.GetClusterId()}}}, nil
	case authz.KindApp:
		e := st.apps[ref]
		if e == nil {
			// The apps that hold the name (in their working copy or a live
			// release) are the candidates.
			var err error
			e, err = authz.ByIDOrName(kind, ref, func(yield func(*appEntry) bool) {
				for _, id := range st.names[ref] {
					if c := st.apps[id]; c != nil && c.agg.Exists() && !yield(c) {
						return
					}
				}
			}, func(e *appEntry) string { return e.agg.ID() }, func(e *appEntry) string { return e.agg.draftView().GetName() },
				func(e *appEntry) string { return e.agg.ID() })
			if err != nil {
				return authz.ResolvedObject{}, err
			}
		}
		if e == nil || !e.agg.Exists() {
			return authz.ResolvedObject{}, unknown
		}
		draft := e.agg.draftView()
		parts := slices.Clone(draft.GetPartitionIds())
		if r := e.agg.Released(); r != nil {
			for _, pt := range r.GetPartitionIds() {
				if !slices.Contains(parts, pt) {
					parts = append(parts, pt)
				}
			}
		}
		obj := authz.ResolvedObject{Object: authz.Object{Kind: kind, ID: e.agg.ID()}, Name: draft.GetName()}
		for _, pt := range parts {
			obj.Parents = append(obj.Parents, authz.Object{Kind: authz.KindPartition, ID: pt})
		}
		return obj, nil
	}
	return authz.ResolvedObject{}, fmt.Errorf("config: %s %q: %w", kind, ref, authz.ErrNoResolver)
}

var _ authz.ObjectResolver = (*Service)(nil)

// ResolvePartition maps a partition id or name to its id (the DNS service
// resolves zone partitions with it).
func (s *Service) ResolvePartition(ref string) (string, bool) {
	return s.proj.resolvePartition(ref)
}

// PartitionIDs lists the id of every partition, sorted (the purge service
// sends a purge scoped to everything to each of them).
func (s *Service) PartitionIDs() (out []string) {
	s.proj.Read(func(st *state) { out = slices.Sorted(maps.Keys(st.partitions)) })
	return out
}

// NodePartition is the partition of node id, through its cluster (the purge
// service counts the nodes a purge waits for with it).
func (s *Service) NodePartition(id string) (partition string, ok bool) {
	s.proj.Read(func(st *state) {
		if n := st.nodes[id]; n != nil {
			c := st.clusters[n.GetClusterId()]
			partition, ok = c.GetPartitionId(), c != nil
		}
	})
	return partition, ok
}

// ResolveCluster maps a cluster id or name to its id and its partition (the
// ddos service keys policies by cluster and sends them to its partition).
func (s *Service) ResolveCluster(ref string) (id, partition string, ok bool) {
	c, ok := s.proj.resolveCluster(ref)
	if !ok {
		return "", "", false
	}
	return c.GetId(), c.GetPartitionId(), true
}

// NodeCluster is the cluster of node id (the ddos service counts the nodes
// a block waits for with it).
func (s *Service) NodeCluster(id string) (cluster string, ok bool) {
	s.proj.Read(func(st *state) {
		if n := st.nodes[id]; n != nil {
			cluster, ok = n.GetClusterId(), true
		}
	})
	return cluster, ok
}

// AppDomains returns the domains of app id's working copy (the cert service
// checks that a certificate attached to the app names one of them).
func (s *Service) AppDomains(ctx context.Context, id string) ([]string, error) {
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	var out []string
	found := false
	s.proj.Read(func(st *state) {
		if e := st.apps[id]; e != nil && e.agg.Exists() {
			out, found = slices.Clone(e.agg.draftView().GetDomains()), true
		}
	})
	if !found {
		return nil, apierr.NotFound("app", id)
	}
	return out, nil
}

// GatewayAddresses returns the public addresses of the approved, enabled
// nodes of cluster (id or name), sorted: what the dns service puts on a
// gateway record naming it when the zone is released.
func (s *Service) GatewayAddresses(cluster string) (out []string) {
	s.proj.Read(func(st *state) {
		c, _ := st.resolveCluster(cluster)
		for _, n := range st.nodes {
			if c == nil || n.ClusterId != c.Id || !n.Approved || n.Disabled {
				continue
			}
			for _, a := range []string{n.PublicIpv4, n.PublicIpv6} {
				if a != "" {
					out = append(out, a)
				}
			}
		}
	})
	slices.Sort(out)
	return out
}

// ClusterLocation returns the location of cluster (id or name), nil when
// unknown: what the dns service puts on a GSLB record's targets when the zone
// is released.
func (s *Service) ClusterLocation(cluster string) (out *configv1.ClusterLocation) {
	s.proj.Read(func(st *state) {
		if c, ok := st.resolveCluster(cluster); ok {
			out = c.GetLocation()
		}
	})
	return out
}
