package metrics

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/services/edgesync"
)

// KindMetric is the kind this service contributes to the partition tracks
// (node/store/kinds.go decodes it into Snapshot.metrics).
const KindMetric = "metric"

var metricSyncKind = edgesync.Kind{Name: KindMetric, View: func(s *syncv1.Snapshot, objs []proto.Message) {
	s.Metrics = make([]*metricsv1.MetricDefinition, len(objs))
	for i, o := range objs {
		s.Metrics[i] = o.(*metricsv1.MetricDefinition)
	}
}}

// A definition takes effect at once (no release, see README.md), so the
// stable and the staging track of each partition get the same content.
var tracks = []bool{false, true}

// syncMetric sends m's definition to the tracks of its partitions (every
// partition when it names none), or removes it from every track when m was
// deleted. Called while folding, in log order.
func (st *state) syncMetric(m *Metric, e eventstore.Event) {
	if st.sync == nil {
		return
	}
	values := st.values(m.Definition())
	for _, staging := range tracks {
		st.sync.Apply(e.Position, e.Metadata.Time, edgesync.Change{Kind: KindMetric, ID: m.ID(), Staging: staging, Values: values})
	}
}

// syncEverywhere moves the definitions that run on every partition after a
// partition was created or deleted.
func (st *state) syncEverywhere(e eventstore.Event) {
	if st.sync == nil {
		return
	}
	var changes []edgesync.Change
	for id, m := range st.metrics {
		if d := m.Definition(); d != nil && len(d.GetPartitionIds()) == 0 {
			for _, staging := range tracks {
				changes = append(changes, edgesync.Change{Kind: KindMetric, ID: id, Staging: staging, Values: st.values(d)})
			}
		}
	}
	if len(changes) > 0 {
		st.sync.Apply(e.Position, e.Metadata.Time, changes...)
	}
}

// values are d on each of its partitions: the ones it names, or every
// partition as of the event being folded. nil (d deleted) removes it.
func (st *state) values(d *metricsv1.MetricDefinition) map[string]proto.Message {
	if d == nil {
		return nil
	}
	parts := d.GetPartitionIds()
	if len(parts) == 0 {
		for p := range st.partitions {
			parts = append(parts, p)
		}
		slices.Sort(parts)
	}
	return edgesync.Everywhere(d, parts)
}

// MetricsIn lists the live definitions that name partition, as
// `"hosts" (met_1)` (the config service refuses to delete a partition in
// use). A definition of every partition names none.
func (s *Service) MetricsIn(partition string) (out []string) {
	s.proj.Read(func(st *state) {
		for _, d := range st.list() {
			if slices.Contains(d.GetPartitionIds(), partition) {
				out = append(out, fmt.Sprintf("%q (%s)", d.GetName(), d.GetId()))
			}
		}
	})
	return out
}
