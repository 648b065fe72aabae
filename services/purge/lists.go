package purge

import (
	"strings"
	"time"

	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/pkg/listfilter"
)

// The filterable fields of ListPurges and ListPushes (docs/api.md).

var purgeSchema = listfilter.Schema[*purgev1.Purge]{
	"id":            listfilter.String((*purgev1.Purge).GetId),
	"kind":          listfilter.String(func(p *purgev1.Purge) string { return enumName(p.GetKind().String(), "PURGE_KIND_") }),
	"values":        listfilter.Strings((*purgev1.Purge).GetValues),
	"soft":          listfilter.Bool((*purgev1.Purge).GetSoft),
	"actor":         listfilter.String((*purgev1.Purge).GetActor),
	"created_at":    listfilter.Time(func(p *purgev1.Purge) time.Time { return p.GetCreatedAt().AsTime() }),
	"partition_ids": listfilter.Strings((*purgev1.Purge).GetPartitionIds),
	"done":          listfilter.Bool(func(p *purgev1.Purge) bool { return p.GetNodesDone() >= p.GetNodesTotal() }),
}

var pushSchema = listfilter.Schema[*purgev1.Push]{
	"id":            listfilter.String((*purgev1.Push).GetId),
	"app_id":        listfilter.String((*purgev1.Push).GetAppId),
	"cluster_ids":   listfilter.Strings((*purgev1.Push).GetClusterIds),
	"actor":         listfilter.String((*purgev1.Push).GetActor),
	"created_at":    listfilter.Time(func(p *purgev1.Push) time.Time { return p.GetCreatedAt().AsTime() }),
	"partition_ids": listfilter.Strings((*purgev1.Push).GetPartitionIds),
	"urls_failed":   listfilter.Number(func(p *purgev1.Push) float64 { return float64(p.GetUrlsFailed()) }),
	"done":          listfilter.Bool(func(p *purgev1.Push) bool { return p.GetNodesDone() >= p.GetNodesTotal() }),
}

// enumName is an enum value's name without its prefix, lower case
// ("PURGE_KIND_URL" -> "url").
func enumName(name, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(name, prefix))
}
