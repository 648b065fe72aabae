package crsftw

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"
)

// Target sends one request and reports what the WAF did.
type Target func(ctx context.Context, r Request) (Outcome, error)

// Reflect is the answer of the test backend (go-ftw's albedo): a request to /reflect
// carries the response as JSON {"status", "headers", "body" or "encodedBody"}; any other
// request gets 200 with a short text body.
func Reflect(r Request) (status int, headers [][2]string, body []byte) {
	u, _ := url.Parse(r.URI)
	if u == nil || u.Path != "/reflect" {
		return 200, [][2]string{{"Content-Type", "text/plain"}}, []byte("ok\n")
	}
	var spec struct {
		Status      int               `json:"status"`
		Headers     map[string]string `json:"headers"`
		Body        string            `json:"body"`
		EncodedBody string            `json:"encodedBody"`
	}
	if err := json.Unmarshal(r.Body, &spec); err != nil {
		return 400, nil, []byte("bad reflect spec\n")
	}
	status = spec.Status
	if status == 0 {
		status = 200
	}
	keys := make([]string, 0, len(spec.Headers))
	for k := range spec.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		headers = append(headers, [2]string{k, spec.Headers[k]})
	}
	if _, ok := spec.Headers["Content-Type"]; !ok {
		headers = append(headers, [2]string{"Content-Type", "text/html"})
	}
	body = []byte(spec.Body)
	if spec.EncodedBody != "" {
		if b, err := base64.StdEncoding.DecodeString(spec.EncodedBody); err == nil {
			body = b
		}
	}
	return status, headers, body
}

// Coraza is a target that runs each request through w in process, the way a proxy
// does: request headers, body, then the Reflect response, stopping at an interruption.
func Coraza(w coraza.WAF) Target {
	return func(_ context.Context, r Request) (Outcome, error) {
		tx := w.NewTransaction()
		defer tx.Close()
		o := Outcome{Status: 200}
		done := func(it *types.Interruption) Outcome {
			if it != nil {
				o.Status = it.Status
			}
			tx.ProcessLogging()
			for _, m := range tx.MatchedRules() {
				id := m.Rule().ID()
				o.IDs = append(o.IDs, id)
				o.Log = append(o.Log, m.ErrorLog())
				if m.Message() != "" && (id < 900000 || id >= 902000) {
					o.Detected = append(o.Detected, id)
				}
			}
			return o
		}
		tx.ProcessConnection("127.0.0.1", 40000, "127.0.0.1", 80)
		proto := r.Version
		if proto == "" {
			proto = "HTTP/1.1"
		}
		tx.ProcessURI(r.URI, r.Method, proto)
		for _, h := range r.Headers {
			tx.AddRequestHeader(h[0], h[1])
			if strings.EqualFold(h[0], "Host") {
				tx.SetServerName(h[1])
			}
		}
		if it := tx.ProcessRequestHeaders(); it != nil {
			return done(it), nil
		}
		if len(r.Body) > 0 {
			if it, _, err := tx.WriteRequestBody(r.Body); err != nil {
				return o, err
			} else if it != nil {
				return done(it), nil
			}
		}
		it, err := tx.ProcessRequestBody()
		if err != nil {
			return o, err
		}
		if it != nil {
			return done(it), nil
		}
		status, hs, body := Reflect(r)
		o.Status = status
		for _, h := range hs {
			tx.AddResponseHeader(h[0], h[1])
		}
		tx.AddResponseHeader("Content-Length", strconv.Itoa(len(body)))
		if it := tx.ProcessResponseHeaders(status, proto); it != nil {
			return done(it), nil
		}
		if tx.IsResponseBodyAccessible() && len(body) > 0 {
			if it, _, err := tx.WriteResponseBody(body); err != nil {
				return o, err
			} else if it != nil {
				return done(it), nil
			}
		}
		it, err = tx.ProcessResponseBody()
		if err != nil {
			return o, err
		}
		return done(it), nil
	}
}

// Result is one case's verdict: Fail is "" when it passed; Skipped cases ask nothing
// of the WAF.
type Result struct {
	Case    *Case
	Outcome Outcome
	Fail    string
	Skipped bool
}

// Run sends every case to t, parallel goroutines at a time (0: GOMAXPROCS).
func Run(ctx context.Context, cases []Case, t Target, parallel int) []Result {
	if parallel <= 0 {
		parallel = runtime.GOMAXPROCS(0)
	}
	res := make([]Result, len(cases))
	var wg sync.WaitGroup
	next := make(chan int)
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c := &cases[i]
				res[i].Case = c
				if !c.Want.Checks() {
					res[i].Skipped = true
					continue
				}
				o, err := t(ctx, c.Req)
				res[i].Outcome = o
				if err != nil {
					res[i].Fail = "error: " + err.Error()
					continue
				}
				res[i].Fail = c.Check(o)
			}
		}()
	}
	for i := range cases {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return res
}

// Family counts the results of one rule family.
type Family struct {
	Name                    string
	Passed, Failed, Skipped int
}

// Summarize counts results per family, in family order, with a "total" row last.
func Summarize(res []Result) []Family {
	by := map[string]*Family{}
	total := &Family{Name: "total"}
	for _, r := range res {
		if r.Case == nil {
			continue
		}
		f := by[r.Case.Family]
		if f == nil {
			f = &Family{Name: r.Case.Family}
			by[r.Case.Family] = f
		}
		for _, x := range []*Family{f, total} {
			switch {
			case r.Skipped:
				x.Skipped++
			case r.Fail == "":
				x.Passed++
			default:
				x.Failed++
			}
		}
	}
	var out []Family
	for _, f := range by {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return append(out, *total)
}

// Failed is the set of case names that failed.
func Failed(res []Result) map[string]string {
	out := map[string]string{}
	for _, r := range res {
		if r.Case != nil && !r.Skipped && r.Fail != "" {
			out[r.Case.Name()] = r.Fail
		}
	}
	return out
}

// Table renders families as a Markdown table; with base, a second column pair shows
// another run (e.g. Coraza alone) side by side.
func Table(title string, fams []Family, baseTitle string, base []Family) string {
	var b strings.Builder
	idx := map[string]Family{}
	for _, f := range base {
		idx[f.Name] = f
	}
	if base != nil {
		fmt.Fprintf(&b, "| family | %s passed | %s failed | %s passed | %s failed | skipped |\n|---|---:|---:|---:|---:|---:|\n", title, title, baseTitle, baseTitle)
	} else {
		fmt.Fprintf(&b, "| family | passed | failed | skipped |\n|---|---:|---:|---:|\n")
	}
	for _, f := range fams {
		if base != nil {
			g := idx[f.Name]
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d |\n", f.Name, f.Passed, f.Failed, g.Passed, g.Failed, f.Skipped)
		} else {
			fmt.Fprintf(&b, "| %s | %d | %d | %d |\n", f.Name, f.Passed, f.Failed, f.Skipped)
		}
	}
	return b.String()
}
