package dns

import (
	"strings"
	"time"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/pkg/listfilter"
)

// The filterable fields of the DNS service's List RPCs (docs/api.md,
// "Filtering").

var zoneSchema = listfilter.Schema[*dnsv1.ZoneSummary]{
	"id":              listfilter.String((*dnsv1.ZoneSummary).GetId),
	"name":            listfilter.String((*dnsv1.ZoneSummary).GetName),
	"partition_ids":   listfilter.Strings((*dnsv1.ZoneSummary).GetPartitionIds),
	"records":         listfilter.Number(func(z *dnsv1.ZoneSummary) float64 { return float64(z.GetRecords()) }),
	"latest_release":  listfilter.Number(func(z *dnsv1.ZoneSummary) float64 { return float64(z.GetLatestRelease()) }),
	"pending_changes": listfilter.Number(func(z *dnsv1.ZoneSummary) float64 { return float64(z.GetPendingChanges()) }),
	"unreleased":      listfilter.Bool(func(z *dnsv1.ZoneSummary) bool { return z.GetPendingChanges() > 0 }),
	"deleted":         listfilter.Bool((*dnsv1.ZoneSummary).GetDeleted),
}

func zoneKey(z *dnsv1.ZoneSummary) string { return listfilter.Key(z.GetName(), z.GetId()) }

// recordSchema: type compares the name without its prefix ("A", "MX").
var recordSchema = listfilter.Schema[*dnsv1.Record]{
	"id":              listfilter.String((*dnsv1.Record).GetId),
	"name":            listfilter.String((*dnsv1.Record).GetName),
	"type":            listfilter.String(func(r *dnsv1.Record) string { return strings.TrimPrefix(r.GetType().String(), "RECORD_TYPE_") }),
	"ttl":             listfilter.Number(func(r *dnsv1.Record) float64 { return float64(r.GetTtl()) }),
	"data":            listfilter.String((*dnsv1.Record).GetData),
	"disabled":        listfilter.Bool((*dnsv1.Record).GetDisabled),
	"gateway_cluster": listfilter.String((*dnsv1.Record).GetGatewayCluster),
}

var releaseSchema = listfilter.Schema[*dnsv1.Release]{
	"number":      listfilter.Number(func(r *dnsv1.Release) float64 { return float64(r.GetNumber()) }),
	"note":        listfilter.String((*dnsv1.Release).GetNote),
	"actor":       listfilter.String((*dnsv1.Release).GetActor),
	"kind":        listfilter.String((*dnsv1.Release).GetKind),
	"staging":     listfilter.Bool((*dnsv1.Release).GetStaging),
	"promoted_by": listfilter.String((*dnsv1.Release).GetPromotedBy),
	"time": listfilter.Time(func(r *dnsv1.Release) time.Time {
		if r.GetTime() == nil {
			return time.Time{}
		}
		return r.GetTime().AsTime()
	}),
}

func releaseKey(r *dnsv1.Release) string { return listfilter.Asc(r.GetNumber()) }
