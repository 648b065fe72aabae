package operators

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
)

// crsPL1 is CRS v4 at paranoia level 1 in blocking mode, as a node runs it (with
// Coraza's @rx literal prefilter on, its fastest setting).
const crsPL1 = `
Include @coraza.conf-recommended
SecRuleEngine On
SecRxPreFilter On
Include @crs-setup.conf.example
Include @owasp_crs/*.conf`

func newCRS(tb testing.TB) coraza.WAF {
	w, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(crsPL1))
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// builtinCRS is compiled before anything in this test binary registers the operators,
// so it runs Coraza's own @rx and @pm: the baseline of every comparison.
var builtinCRS = sync.OnceValue(func() coraza.WAF {
	w, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(crsPL1))
	if err != nil {
		panic(err)
	}
	return w
})

func init() { builtinCRS() }

// JSONBody is a benign 4 KiB JSON document (an order with line items), the body of the
// bench-waf POST.
func jsonBody(size int) string {
	var b strings.Builder
	b.WriteString(`{"order":{"id":"ord_8f2c1a","customer":{"name":"Ada Lovelace","email":"ada@example.com","phone":"+44 20 7946 0958"},"items":[`)
	for i := 0; b.Len() < size-80; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%05d","title":"Blue cotton shirt, size M","qty":%d,"price":"19.99"}`, i, i%5+1)
	}
	b.WriteString(`],"note":"Leave at the back door, please."}}`)
	return b.String()
}

type benchReq struct {
	method, uri, ctype, body string
}

var benchReqs = []struct {
	name string
	req  benchReq
}{
	{"GET", benchReq{"GET", "/api/v1/products?category=shirts&page=2&sort=price", "", ""}},
	{"JSON1K", benchReq{"POST", "/api/v1/orders", "application/json", jsonBody(1024)}},
	{"JSON4K", benchReq{"POST", "/api/v1/orders", "application/json", jsonBody(4096)}},
	{"Form1K", benchReq{"POST", "/account/profile", "application/x-www-form-urlencoded", url.Values{"name": {"Ada Lovelace"}, "bio": {strings.Repeat("Mathematician and writer. ", 38)}}.Encode()}},
}

// run sends r through w the way a proxy does and returns the interruption status (0: none).
func run(w coraza.WAF, r benchReq) int {
	tx := w.NewTransaction()
	defer tx.Close()
	tx.ProcessConnection("10.1.2.3", 51234, "127.0.0.1", 8080)
	tx.ProcessURI(r.uri, r.method, "HTTP/1.1")
	tx.AddRequestHeader("Host", "shop.example.com")
	tx.AddRequestHeader("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
	tx.AddRequestHeader("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	tx.AddRequestHeader("Accept-Language", "en-GB,en;q=0.5")
	tx.AddRequestHeader("Cookie", "session=3f9a0c2e8b7d4e1f; theme=dark")
	if r.body != "" {
		tx.AddRequestHeader("Content-Type", r.ctype)
		tx.AddRequestHeader("Content-Length", fmt.Sprint(len(r.body)))
	}
	if it := tx.ProcessRequestHeaders(); it != nil {
		return it.Status
	}
	if r.body != "" {
		if _, _, err := tx.WriteRequestBody([]byte(r.body)); err != nil {
			panic(err)
		}
	}
	it, err := tx.ProcessRequestBody()
	if err != nil {
		panic(err)
	}
	if it != nil {
		return it.Status
	}
	return 0
}

// BenchmarkCRS is one benign request through CRS v4 at PL1, Coraza's operators vs ours.
func BenchmarkCRS(b *testing.B) {
	base := builtinCRS()
	Register()
	ours := newCRS(b)
	for _, c := range benchReqs {
		for _, e := range []struct {
			name string
			w    coraza.WAF
		}{{"coraza", base}, {"strata", ours}} {
			b.Run(c.name+"/"+e.name, func(b *testing.B) {
				if b.N > 300 { // a JSON body costs tens of ms: -benchtime=2000x would take an hour
					b.Skipf("b.N=%d: run with -benchtime=100x (task bench-waf does)", b.N)
				}
				if st := run(e.w, c.req); st != 0 {
					b.Fatalf("benign %s answered %d", c.name, st)
				}
				b.ReportAllocs()
				cpu0 := cpuTime()
				for b.Loop() {
					run(e.w, c.req)
				}
				// on a shared machine wall time swings with the load; CPU time does not
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// BenchmarkRX is one CRS-sized alternation on inputs of growing length: Go's regexp
// (Coraza's engine) vs RE2; the crossover sets re2MinLen.
func BenchmarkRX(b *testing.B) {
	rxs, _ := crsArgs()
	var longest string
	for _, p := range rxs {
		if len(p) > len(longest) && !matchesArbitraryBytes(p) {
			longest = p
		}
	}
	op, err := newRX(plugintypes.OperatorOptions{Arguments: longest})
	if err != nil {
		b.Fatal(err)
	}
	r := op.(*rx)
	for _, n := range []int{8, 32, 128, 1024} {
		v := strings.Repeat("benign text ", n/12+1)[:n]
		b.Run(fmt.Sprintf("len%d/goregexp", n), func(b *testing.B) {
			for b.Loop() {
				r.std.MatchString(v)
			}
		})
		b.Run(fmt.Sprintf("len%d/re2", n), func(b *testing.B) {
			for b.Loop() {
				r.fast.MatchString(v)
			}
		})
	}
}

// BenchmarkPM is CRS's largest @pm list on benign text: Coraza's automaton vs ours.
func BenchmarkPM(b *testing.B) {
	_, pms := crsArgs()
	var longest string
	for _, p := range pms {
		if len(p) > len(longest) {
			longest = p
		}
	}
	op, err := newPM(plugintypes.OperatorOptions{Arguments: longest})
	if err != nil {
		b.Fatal(err)
	}
	ref := corazaPM(strings.Split(strings.ToLower(longest), " "))
	for _, n := range []int{32, 1024} {
		v := strings.Repeat("Benign Text ", n/12+1)[:n]
		b.Run(fmt.Sprintf("len%d/coraza", n), func(b *testing.B) {
			for b.Loop() {
				petarEvaluate(ref, &captureTx{}, v)
			}
		})
		b.Run(fmt.Sprintf("len%d/strata", n), func(b *testing.B) {
			for b.Loop() {
				op.Evaluate(&captureTx{}, v)
			}
		})
	}
}

// cpuTime is the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
