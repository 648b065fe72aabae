package wafengine

import (
	"fmt"
	"strings"
	"testing"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
)

// benignJSON is a JSON order of about size bytes.
func benignJSON(size int) string {
	var b strings.Builder
	b.WriteString(`{"customer":{"name":"Ada Lovelace","email":"ada@example.com"},"items":[`)
	for i := 0; b.Len() < size-40; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%05d","qty":%d,"note":"gift wrap please"}`, i, i%3+1)
	}
	b.WriteString(`],"currency":"EUR"}`)
	return b.String()
}

// BenchmarkInspect: a policy in BLOCK mode at PL1 with body inspection on,
// benign requests (the cost every request pays).
//
//	go test -run '^$' -bench Inspect -benchtime 200x ./pkg/wafengine/
func BenchmarkInspect(b *testing.B) {
	w := mustCompile(b, &wafv1.WafPolicy{Id: "bench", Mode: wafv1.WafMode_WAF_MODE_BLOCK, RequestBody: &wafv1.BodyInspection{Enabled: true}})
	body := benignJSON(4 << 10)
	for _, bc := range []struct {
		name string
		req  *req
	}{
		{"GET", newReq("GET", "/products/42?sort=price&page=2", "", "")},
		{"POST-JSON-4KiB", newReq("POST", "/api/orders", "application/json", body)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if v := w.Inspect(bc.req); v.Action != None {
				b.Fatalf("benign request flagged: %+v", v)
			}
			b.ReportAllocs()
			for b.Loop() {
				w.Inspect(bc.req)
			}
		})
	}
}
