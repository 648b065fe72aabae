package config

import (
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/services/edgesync"
)

// The kinds this service contributes to the partition tracks, by their
// names in the sync contract (node/store/kinds.go decodes them).
const (
	kindApp     = "app"
	kindCluster = "cluster"
	// KindEndpoints: dynamic server sets (endpoints.go), without releases.
	kindEndpoints = "upstream_endpoints"
)

var kinds = []edgesync.Kind{
	{Name: kindApp, View: func(s *syncv1.Snapshot, objs []proto.Message) { s.Apps = edgesync.As[*configv1.App](objs) }},
	{Name: kindCluster, View: func(s *syncv1.Snapshot, objs []proto.Message) { s.Clusters = edgesync.As[*configv1.Cluster](objs) }},
	{Name: kindEndpoints, View: func(s *syncv1.Snapshot, objs []proto.Message) {
		s.UpstreamEndpoints = edgesync.As[*configv1.UpstreamEndpoints](objs)
	}},
}
