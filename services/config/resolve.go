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

func (s *Service) resolveObject(kind, ref string) (authz.ResolvedObject, error) {
	p := s.proj
	p.mu.RLock()
	defer p.mu.RUnlock()
	unknown := fmt.Errorf("%s %q: %w", kind, ref, authz.ErrUnknownObject)
	switch kind {
	case authz.KindPartition:
		id, ok := p.resolvePartitionLocked(ref)
		if !ok {
			return authz.ResolvedObject{}, unknown
		}
		return authz.ResolvedObject{Object: authz.Object{Kind: kind, ID: id}, Name: p.partitions[id].GetName()}, nil
	case authz.KindCluster:
		c := p.clusters[ref]
		if c == nil {
			c = p.clusters[p.clusterByName[ref]]
		}
		if c == nil {
			return authz.ResolvedObject{}, unknown
		}
		return authz.ResolvedObject{Object: authz.Object{Kind: kind, ID: c.GetId()}, Name: c.GetName(),
			Parents: []authz.Object{{Kind: authz.KindPartition, ID: c.GetPartitionId()}}}, nil
	case authz.KindNode:
		n := p.nodes[ref]
		if n == nil {
			// Node names are unique per cluster only.
			var err error
			n, err = authz.ByIDOrName(kind, ref, maps.Values(p.nodes), (*configv1.Node).GetId, (*configv1.Node).GetName,
				func(n *configv1.Node) string {
					return n.GetId() + " (cluster " + p.clusters[n.GetClusterId()].GetName() + ")"
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
		e := p.apps[ref]
		if e == nil {
			// The apps that hold the name (in their working copy or a live
			// release) are the candidates.
			var err error
			e, err = authz.ByIDOrName(kind, ref, func(yield func(*appEntry) bool) {
				for _, id := range p.names[ref] {
					if c := p.apps[id]; c != nil && c.agg.Exists() && !yield(c) {
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
func (s *Service) PartitionIDs() []string {
	p := s.proj
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]string, 0, len(p.partitions))
	for id := range p.partitions {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// NodePartition is the partition of node id, through its cluster (the purge
// service counts the nodes a purge waits for with it).
func (s *Service) NodePartition(id string) (string, bool) {
	p := s.proj
	p.mu.RLock()
	defer p.mu.RUnlock()
	n := p.nodes[id]
	if n == nil {
		return "", false
	}
	c := p.clusters[n.GetClusterId()]
	if c == nil {
		return "", false
	}
	return c.GetPartitionId(), true
}

// AppDomains returns the domains of app id's working copy (the cert service
// checks that a certificate attached to the app names one of them).
func (s *Service) AppDomains(ctx context.Context, id string) ([]string, error) {
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	s.proj.mu.RLock()
	defer s.proj.mu.RUnlock()
	e := s.proj.apps[id]
	if e == nil || !e.agg.Exists() {
		return nil, apierr.NotFound("app", id)
	}
	return slices.Clone(e.agg.draftView().GetDomains()), nil
}

// GatewayAddresses returns the public addresses of the approved, enabled
// nodes of cluster (id or name), sorted: what the dns service puts on a
// gateway record naming it when the zone is released.
func (s *Service) GatewayAddresses(cluster string) []string {
	p := s.proj
	p.mu.RLock()
	defer p.mu.RUnlock()
	id := cluster
	if _, ok := p.clusters[id]; !ok {
		id = p.clusterByName[id]
	}
	var out []string
	for _, n := range p.nodes {
		if n.ClusterId != id || id == "" || !n.Approved || n.Disabled {
			continue
		}
		for _, a := range []string{n.PublicIpv4, n.PublicIpv6} {
			if a != "" {
				out = append(out, a)
			}
		}
	}
	slices.Sort(out)
	return out
}
