package ddos

import (
	"google.golang.org/protobuf/proto"

	ddosv1 "github.com/strata-edge/strata/gen/strata/ddos/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/services/edgesync"
)

// KindPolicy is the kind this service contributes to the partition tracks
// (node/store/kinds.go decodes it into Snapshot.ddos_policies): on the
// cluster's partition, the stable track gets what stable nodes run, the
// staging track the newest release. Its id is the cluster id.
const KindPolicy = "ddos_policy"

var policySyncKind = edgesync.Kind{Name: KindPolicy, View: func(s *syncv1.Snapshot, objs []proto.Message) {
	s.DdosPolicies = edgesync.As[*ddosv1.DdosPolicy](objs)
}}

// runs is what the policy's releases run on each track.
func (p *Policy) runs() edgesync.Runs[*ddosv1.DdosPolicy] {
	return edgesync.Runs[*ddosv1.DdosPolicy]{Stable: p.Stable(), Staging: p.Released()}
}

// values is pol on the cluster's partition.
func (p *Policy) values(pol *ddosv1.DdosPolicy) map[string]proto.Message {
	return edgesync.Everywhere(pol, []string{p.Partition()})
}
