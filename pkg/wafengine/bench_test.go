package wafengine

import (
	"fmt"
	"strings"
	"syscall"
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

// BenchmarkResponse: a benign GET answered by a 4 KiB JSON response, the
// policy in BLOCK mode at PL1, without and with inspect_responses (the
// request phases, plus the response phases 3 and 4 over the body).
// cpu-ns/op (the process's CPU time per op) is what a busy shared machine
// disturbs least.
//
//	go test -run '^$' -bench Response -benchtime 200x ./pkg/wafengine/
func BenchmarkResponse(b *testing.B) {
	body := benignJSON(4 << 10)
	get := newReq("GET", "/api/orders/42", "", "")
	for _, on := range []bool{false, true} {
		p := &wafv1.WafPolicy{Id: "bench", Mode: wafv1.WafMode_WAF_MODE_BLOCK, InspectResponses: on}
		w := mustCompile(b, p)
		b.Run(fmt.Sprintf("inspect_responses=%v", on), func(b *testing.B) {
			b.ReportAllocs()
			var ru0, ru1 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			defer func() {
				_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
				cpu := ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
				b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
			}()
			for b.Loop() {
				v, x := w.Begin(get)
				if v.Action != None {
					b.Fatalf("benign request flagged: %+v", v)
				}
				if on && x == nil {
					b.Fatal("no exchange with inspect_responses")
				}
				if rv := x.Response(newResp("application/json", body)); rv.Action != None {
					b.Fatalf("benign response flagged: %+v", rv)
				}
			}
		})
	}
}
