package waf

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/pkg/listfilter"
)

// The filterable fields of the WAF service's List RPCs (docs/api.md,
// "Filtering").

func tsTime(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

var policySchema = listfilter.Schema[*wafv1.WafPolicy]{
	"id":             listfilter.String((*wafv1.WafPolicy).GetId),
	"name":           listfilter.String((*wafv1.WafPolicy).GetName),
	"mode":           listfilter.String(func(p *wafv1.WafPolicy) string { return ModeName(p.GetMode()) }),
	"paranoia_level": listfilter.Number(func(p *wafv1.WafPolicy) float64 { return float64(max(p.GetParanoiaLevel(), 1)) }),
	"partition":      listfilter.Strings((*wafv1.WafPolicy).GetPartitionIds),
	"custom_rules":   listfilter.Number(func(p *wafv1.WafPolicy) float64 { return float64(len(p.GetCustomRules())) }),
	"crs_disabled":   listfilter.Bool((*wafv1.WafPolicy).GetCrsDisabled),
	"labels":         listfilter.Map((*wafv1.WafPolicy).GetLabels),
}

var releaseSchema = listfilter.Schema[*wafv1.Release]{
	"number":      listfilter.Number(func(r *wafv1.Release) float64 { return float64(r.GetNumber()) }),
	"note":        listfilter.String((*wafv1.Release).GetNote),
	"actor":       listfilter.String((*wafv1.Release).GetActor),
	"kind":        listfilter.String((*wafv1.Release).GetKind),
	"staging":     listfilter.Bool((*wafv1.Release).GetStaging),
	"promoted_by": listfilter.String((*wafv1.Release).GetPromotedBy),
	"time":        listfilter.Time(func(r *wafv1.Release) time.Time { return tsTime(r.GetTime()) }),
}

// ModeName is a mode as users write it: "off", "detect", "block".
func ModeName(m wafv1.WafMode) string {
	switch m {
	case wafv1.WafMode_WAF_MODE_DETECT:
		return "detect"
	case wafv1.WafMode_WAF_MODE_BLOCK:
		return "block"
	}
	return "off"
}
