package nodes

import (
	"context"
	"fmt"

	"github.com/strata-edge/strata/pkg/authz"
)

// ResolveObject resolves join tokens for authorization: a token belongs to
// its cluster, so a grant over the cluster (or its partition) covers it.
// Register it with resolvers.Register(svc, authz.KindJoinToken).
func (s *Service) ResolveObject(ctx context.Context, kind, ref string) (authz.ResolvedObject, error) {
	if kind != authz.KindJoinToken {
		return authz.ResolvedObject{}, fmt.Errorf("nodes: %s %q: %w", kind, ref, authz.ErrNoResolver)
	}
	if err := s.catchUp(ctx); err != nil {
		return authz.ResolvedObject{}, err
	}
	st, ok := s.model.token(ref)
	if !ok {
		return authz.ResolvedObject{}, fmt.Errorf("join token %q: %w", ref, authz.ErrUnknownObject)
	}
	return authz.ResolvedObject{
		Object:  authz.Object{Kind: authz.KindJoinToken, ID: st.token.GetId()},
		Name:    st.token.GetId(),
		Parents: []authz.Object{{Kind: authz.KindCluster, ID: st.token.GetClusterId()}},
	}, nil
}

var _ authz.ObjectResolver = (*Service)(nil)
