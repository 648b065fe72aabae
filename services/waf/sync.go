package waf

import (
	"slices"

	"google.golang.org/protobuf/proto"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/ids"
	"github.com/strata-edge/strata/services/edgesync"
)

// KindPolicy is the kind this service contributes to the partition tracks
// (node/store/kinds.go decodes it into Snapshot.waf_policies): on each of
// the policy's partitions (every partition when it names none), the stable
// track gets what stable nodes run, the staging track the newest release.
// Its id is the policy id.
const KindPolicy = "waf_policy"

var policySyncKind = edgesync.Kind{Name: KindPolicy, View: func(s *syncv1.Snapshot, objs []proto.Message) {
	s.WafPolicies = edgesync.As[*wafv1.WafPolicy](objs)
}}

const prefixPolicy = "wafp_"

func newPolicyID() string { return ids.New(prefixPolicy) }

// runs is what the policy's releases run on each track.
func (p *Policy) runs() edgesync.Runs[*wafv1.WafPolicy] {
	return edgesync.Runs[*wafv1.WafPolicy]{Stable: p.Stable(), Staging: p.Released()}
}

// syncEverywhere moves the released policies that run on every partition
// after a partition was created or deleted.
func (st *state) syncEverywhere(e eventstore.Event) {
	if st.sync == nil {
		return
	}
	var changes []edgesync.Change
	for id, entry := range st.policies {
		for _, t := range []struct {
			staging bool
			cur     *wafv1.WafPolicy
		}{{false, entry.agg.Stable()}, {true, entry.agg.Released()}} {
			if t.cur != nil && len(t.cur.GetPartitionIds()) == 0 {
				changes = append(changes, edgesync.Change{Kind: KindPolicy, ID: id, Staging: t.staging, Values: st.values(t.cur)})
			}
		}
	}
	if len(changes) > 0 {
		st.sync.Apply(e.Position, e.Metadata.Time, changes...)
	}
}

// values is p on each of its partitions: the ones it names, or every
// partition as of the event being folded. nil (p nil) removes it.
func (st *state) values(p *wafv1.WafPolicy) map[string]proto.Message {
	if p == nil {
		return nil
	}
	parts := p.GetPartitionIds()
	if len(parts) == 0 {
		for id := range st.partitions {
			parts = append(parts, id)
		}
		slices.Sort(parts)
	}
	return edgesync.Everywhere(p, parts)
}
