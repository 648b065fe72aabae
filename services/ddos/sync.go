package ddos

import (
	"google.golang.org/protobuf/proto"

	ddosv1 "github.com/strata-edge/strata/gen/strata/ddos/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/eventstore"
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

// syncPolicy sends each track the policy's content when a release,
// promotion or revert changed it. Called while folding, in log order.
func (st *state) syncPolicy(p *Policy, prevStaging, prevStable *ddosv1.DdosPolicy, e eventstore.Event) {
	if st.sync == nil {
		return
	}
	for _, t := range []struct {
		staging   bool
		prev, cur *ddosv1.DdosPolicy
	}{{false, prevStable, p.Stable()}, {true, prevStaging, p.Released()}} {
		if t.prev == t.cur {
			continue
		}
		var values map[string]proto.Message
		if t.cur != nil {
			values = edgesync.Everywhere(t.cur, []string{p.Partition()})
		}
		st.sync.Apply(e.Position, e.Metadata.Time, edgesync.Change{Kind: KindPolicy, ID: p.Cluster(), Staging: t.staging, Values: values})
	}
}
