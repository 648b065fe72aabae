package dns

import (
	"context"
	"fmt"

	"github.com/strata-edge/strata/pkg/authz"
)

// ResolveObject resolves zones (kind "dns_zone", by id or name) for the
// authorization interceptor; a zone's parents are its partitions.
func (s *Service) ResolveObject(ctx context.Context, kind, ref string) (authz.ResolvedObject, error) {
	if kind != authz.KindDNSZone {
		return authz.ResolvedObject{}, fmt.Errorf("dns: kind %q: %w", kind, authz.ErrNoResolver)
	}
	if err := s.catchUp(ctx); err != nil {
		return authz.ResolvedObject{}, err
	}
	var out authz.ResolvedObject
	var err error
	s.proj.Read(func(st *state) {
		e := st.lookup(ref)
		if e == nil {
			err = fmt.Errorf("zone %q: %w", ref, authz.ErrUnknownObject)
			return
		}
		w := e.agg.Working()
		out = authz.ResolvedObject{Object: authz.Object{Kind: authz.KindDNSZone, ID: e.agg.ID()}, Name: w.GetName()}
		for _, p := range w.GetPartitionIds() {
			out.Parents = append(out.Parents, authz.Object{Kind: authz.KindPartition, ID: p})
		}
	})
	return out, err
}

var _ authz.ObjectResolver = (*Service)(nil)
