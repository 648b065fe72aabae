package ddos

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	ddosv1 "github.com/strata-edge/strata/gen/strata/ddos/v1"
	"github.com/strata-edge/strata/pkg/listfilter"
)

// The filterable fields of the DDoS service's List RPCs (docs/api.md,
// "Filtering").

func tsTime(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

var blockSchema = listfilter.Schema[*ddosv1.Block]{
	"id":          listfilter.String((*ddosv1.Block).GetId),
	"cidrs":       listfilter.Strings((*ddosv1.Block).GetCidrs),
	"actor":       listfilter.String((*ddosv1.Block).GetActor),
	"created_at":  listfilter.Time(func(b *ddosv1.Block) time.Time { return tsTime(b.GetCreatedAt()) }),
	"expires_at":  listfilter.Time(func(b *ddosv1.Block) time.Time { return tsTime(b.GetExpiresAt()) }),
	"nodes_total": listfilter.Number(func(b *ddosv1.Block) float64 { return float64(b.GetNodesTotal()) }),
	"nodes_done":  listfilter.Number(func(b *ddosv1.Block) float64 { return float64(b.GetNodesDone()) }),
	"done":        listfilter.Bool(func(b *ddosv1.Block) bool { return b.GetNodesDone() >= b.GetNodesTotal() }),
}

var releaseSchema = listfilter.Schema[*ddosv1.Release]{
	"number":      listfilter.Number(func(r *ddosv1.Release) float64 { return float64(r.GetNumber()) }),
	"note":        listfilter.String((*ddosv1.Release).GetNote),
	"actor":       listfilter.String((*ddosv1.Release).GetActor),
	"kind":        listfilter.String((*ddosv1.Release).GetKind),
	"staging":     listfilter.Bool((*ddosv1.Release).GetStaging),
	"promoted_by": listfilter.String((*ddosv1.Release).GetPromotedBy),
	"time":        listfilter.Time(func(r *ddosv1.Release) time.Time { return tsTime(r.GetTime()) }),
}

// page is one page of blocks, newest first (keyed by their place in the
// order, counting the blocks trimmed off it).
func (b *blocks) page(p *listfilter.Page[*ddosv1.Block]) ([]*ddosv1.Block, string) {
	var c listfilter.Collector[*ddosv1.Block]
	for i := len(b.order) - 1; i >= 0; i-- {
		id := b.order[i]
		if !p.Add(&c, listfilter.Desc(b.dropped+uint64(i)), func() *ddosv1.Block { return b.view(id) }) {
			break
		}
	}
	return c.Result()
}
