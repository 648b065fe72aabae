package metrics

import (
	"time"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/listfilter"
)

// The filterable fields of ListMetrics and ListHealth (docs/api.md).

var metricSchema = listfilter.Schema[*metricsv1.MetricDefinition]{
	"id":               listfilter.String((*metricsv1.MetricDefinition).GetId),
	"name":             listfilter.String((*metricsv1.MetricDefinition).GetName),
	"description":      listfilter.String((*metricsv1.MetricDefinition).GetDescription),
	"sql":              listfilter.String((*metricsv1.MetricDefinition).GetSql),
	"interval_seconds": listfilter.Number(func(m *metricsv1.MetricDefinition) float64 { return float64(m.GetIntervalSeconds()) }),
	"partition_ids":    listfilter.Strings((*metricsv1.MetricDefinition).GetPartitionIds),
	"created_at":       listfilter.Time(func(m *metricsv1.MetricDefinition) time.Time { return m.GetCreatedAt().AsTime() }),
	"updated_at":       listfilter.Time(func(m *metricsv1.MetricDefinition) time.Time { return m.GetUpdatedAt().AsTime() }),
}

var healthSchema = listfilter.Schema[*metricsv1.HealthChange]{
	"time":     listfilter.Time(func(c *metricsv1.HealthChange) time.Time { return c.GetTime().AsTime() }),
	"node_id":  listfilter.String((*metricsv1.HealthChange).GetNodeId),
	"app_id":   listfilter.String((*metricsv1.HealthChange).GetAppId),
	"upstream": listfilter.String((*metricsv1.HealthChange).GetUpstream),
	"server":   listfilter.String((*metricsv1.HealthChange).GetServer),
	"healthy":  listfilter.Bool((*metricsv1.HealthChange).GetHealthy),
	"reason":   listfilter.String((*metricsv1.HealthChange).GetReason),
}

// healthKey orders health changes newest first (as the store returns
// them), then by where they happened.
func healthKey(c *metricsv1.HealthChange) string {
	return listfilter.Key(listfilter.Desc(uint64(c.GetTime().AsTime().UnixNano())), c.GetNodeId(), c.GetAppId(), c.GetUpstream(), c.GetServer())
}
