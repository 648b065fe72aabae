package metrics

import (
	"google.golang.org/protobuf/proto"

	ev "github.com/strata-edge/strata/gen/strata/events/metrics/v1"
	"github.com/strata-edge/strata/pkg/eventtype"
)

// Stable event type ids: stored with every event, never derived from Go or
// proto names, never changed.
const (
	TypeMetricDefined = "metrics.metric.defined"
	TypeMetricDeleted = "metrics.metric.deleted"
)

var registry = eventtype.New("metrics", map[string]proto.Message{
	TypeMetricDefined: (*ev.MetricDefined)(nil),
	TypeMetricDeleted: (*ev.MetricDeleted)(nil),
})

// The registry's operations under the names the metrics service's callers use.
var (
	Encode = registry.Encode
	Decode = registry.Decode
)

// MetricIDOf returns the metric an event belongs to.
func MetricIDOf(msg proto.Message) string {
	switch m := msg.(type) {
	case *ev.MetricDefined:
		return m.GetDefinition().GetId()
	case *ev.MetricDeleted:
		return m.GetMetricId()
	}
	return ""
}

// MetricStream is the event stream of one metric definition.
func MetricStream(id string) string { return "metric." + id }
