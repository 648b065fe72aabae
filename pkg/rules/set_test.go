package rules

import (
	"fmt"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"
	"testing"
)

// oneByOne is what a Set must equal: Match on each expression in turn.
func oneByOne(ms []*Matcher, r Request) []int {
	var out []int
	for i, m := range ms {
		if m == nil || m.Match(r) {
			out = append(out, i)
		}
	}
	return out
}

func compileAll(t testing.TB, exprs []string) []*Matcher {
	t.Helper()
	ms := make([]*Matcher, len(exprs))
	for i, e := range exprs {
		m, err := Compile(e)
		if err != nil {
			t.Fatalf("Compile(%q): %v", e, err)
		}
		ms[i] = m
	}
	return ms
}

// checkSet compares s with oneByOne on r, and with want when non-nil.
func checkSet(t *testing.T, ms []*Matcher, s *Set, r Request, want []int) {
	t.Helper()
	got := s.Match(r, nil)
	ref := oneByOne(ms, r)
	if !slices.Equal(got, ref) {
		t.Fatalf("Set.Match = %v, one by one = %v (path %q)", got, ref, r.Path())
	}
	if want != nil && !slices.Equal(got, want) {
		t.Fatalf("Set.Match = %v, want %v (path %q)", got, want, r.Path())
	}
	first := -1
	if len(ref) > 0 {
		first = ref[0]
	}
	if f := s.First(r); f != first {
		t.Fatalf("Set.First = %d, want %d", f, first)
	}
}

func TestSetMatchesLikeOneByOne(t *testing.T) {
	exprs := []string{
		0:  "PathRegexp(`(?i)^/wp-admin/`)",
		1:  "PathRegexp(`min`)", // inside "admin": an overlapping literal
		2:  "PathRegexp(`\\.php$`) && Method(`POST`)",
		3:  "!PathRegexp(`^/api/`)",                                  // negation of a regexp
		4:  "HeaderRegexp(`User-Agent`, `(?i)sqlmap|nikto`)",         // alternation of literals
		5:  "HeaderRegexp(`X-Absent`, `.*`)",                         // absent header: false even for .*
		6:  "QueryRegexp(`id`, `(?i)union\\s+select`)",               // (?i) over s: U+017F folds to s
		7:  "PathRegexp(`(?i)kelvin`)",                               // U+212A folds to k
		8:  "PathRegexp(`[^a-z/]`)",                                  // no literal: always a candidate
		9:  "",                                                       // matches everything
		10: "PathRegexp(`(?i)^/wp-admin/`) && Host(`a.example.com`)", // shares rule 0's regexp
		11: "HostRegexp(`^api\\.`) || PathRegexp(`\\x{FFFD}`)",       // U+FFFD matches invalid bytes
		12: "PathRegexp(`^/[a-z]+/[0-9]+$`)",
		13: "PathRegexp(`\\bselect\\b`)",
	}
	ms := compileAll(t, exprs)
	s := NewSet(ms)
	if s.Len() != len(exprs) {
		t.Fatalf("Len = %d", s.Len())
	}
	cases := []struct {
		name string
		v    *view
		want []int
	}{
		{"benign api call", &view{method: "GET", host: "shop.example.com", path: "/api/v1/items",
			headers: [][2]string{{"User-Agent", "Mozilla/5.0"}}}, []int{8, 9}},
		{"wp-admin, upper case", &view{method: "GET", host: "a.example.com", path: "/WP-ADMIN/index.php"},
			[]int{0, 3, 8, 9, 10}}, // min is case-sensitive
		{"php post", &view{method: "POST", host: "b.example.com", path: "/x.php"}, []int{2, 3, 8, 9}},
		{"scanner user agent", &view{method: "GET", host: "b.example.com", path: "/api/x",
			headers: [][2]string{{"User-Agent", "Mozilla/5.0 (sqlmap/1.7)"}}}, []int{4, 9}},
		{"union select with long s", &view{method: "GET", host: "b.example.com", path: "/api/q",
			params: [][2]string{{"id", "1 UNION \u017fELECT pw"}}}, []int{6, 9}},
		{"kelvin sign", &view{method: "GET", host: "b.example.com", path: "/\u212aelvin"}, []int{3, 7, 8, 9}},
		{"invalid utf-8", &view{method: "GET", host: "b.example.com", path: "/a\xffb"}, []int{3, 8, 9, 11}},
		{"host regexp", &view{method: "GET", host: "api.example.com", path: "/items/42"}, []int{3, 8, 9, 11, 12}},
		{"word boundary", &view{method: "GET", host: "x", path: "/q/select/1"}, []int{3, 8, 9, 13}},
		{"no word boundary", &view{method: "GET", host: "x", path: "/q/selection"}, []int{3, 9}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkSet(t, ms, s, c.v, c.want) })
	}
}

// TestSetCombinedAutomaton gives one field many candidates, so the RE2 set
// runs (and, for invalid UTF-8, the Go fallback).
func TestSetCombinedAutomaton(t *testing.T) {
	var exprs []string
	for i := range 40 {
		exprs = append(exprs, fmt.Sprintf("PathRegexp(`/[a-z]+/[0-9]{%d}$`)", i+1)) // no literal, no anchored prefix
	}
	exprs = append(exprs, "PathRegexp(`(?i)^/ſhop/`)", "PathRegexp(`[^\\x00-\\x7f]`)", "PathRegexp(`(?m)^x$`)", "PathRegexp(`\\z`)")
	ms := compileAll(t, exprs)
	s := NewSet(ms)
	if f := s.fields[0]; f.re2 == nil || len(f.always) < 40 {
		t.Fatalf("path field: re2 %v, %d regexps without literals; want a combined automaton over 40+", f.re2 != nil, len(f.always))
	}
	for _, p := range []string{"/shop/7", "/SHOP/7/x", "/ſhop/39", "/x/40", "/é/1", "/a\xff/3", "", "x", "/a/1/\nx"} {
		checkSet(t, ms, s, &view{method: "GET", host: "h", path: p}, nil)
	}
	checkSet(t, ms, s, &view{path: "/shop/12"}, []int{1, 40, 43})
}

// TestSetIndex: expressions narrowed by path and host are found exactly
// when Match finds them, also for a Request that breaks the lower-case
// host contract and a host EqualFold folds (U+212A is k).
func TestSetIndex(t *testing.T) {
	exprs := []string{
		0: "Host(`example.com`) && PathPrefix(`/api/`)",
		1: "Host(`*.example.com`) && Path(`/login`)",
		2: "PathPrefix(`/static/`, `/assets/`) || Path(`/favicon.ico`)",
		3: "Host(`kb.example.com`)",
		4: "PathPrefix(`/api/v2/`) && Method(`POST`)",
		5: "Method(`DELETE`)", // not indexed: every request
		6: "PathPrefix(`/`)",
		7: "Path(`/api/`) || HostRegexp(`^cdn[0-9]+\\.`)",
	}
	ms := compileAll(t, exprs)
	s := NewSet(ms)
	if len(s.idx.unindexed) != 1 {
		t.Fatalf("unindexed %v, want only [5]", s.idx.unindexed)
	}
	for _, c := range []struct {
		v    *view
		want []int
	}{
		{&view{method: "GET", host: "example.com", path: "/api/x"}, []int{0, 6}},
		{&view{method: "POST", host: "a.example.com", path: "/api/v2/x"}, []int{4, 6}},
		{&view{method: "GET", host: "a.b.example.com", path: "/login"}, []int{1, 6}},
		{&view{method: "GET", host: "example.com", path: "/login"}, []int{6}}, // a wildcard needs a label
		{&view{method: "GET", host: "x", path: "/assets/a.css"}, []int{2, 6}},
		{&view{method: "DELETE", host: "x", path: "/favicon.ico"}, []int{2, 5, 6}},
		{&view{method: "GET", host: "EXAMPLE.COM", path: "/api/"}, []int{0, 6, 7}},
		{&view{method: "GET", host: "\u212ab.example.com", path: "/"}, []int{3, 6}},
		{&view{method: "GET", host: "cdn7.example.com", path: "x"}, []int{7}},
	} {
		checkSet(t, ms, s, c.v, c.want)
	}
}

func TestSetAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector")
	}
	ms := compileAll(t, []string{
		"PathRegexp(`(?i)/wp-admin/`)", "HeaderRegexp(`User-Agent`, `(?i)sqlmap`)", "Host(`a.example.com`)",
		"PathRegexp(`/etc/passwd`)", "PathRegexp(`\\.\\./`)", "PathRegexp(`(?i)\\.(bak|old|swp)$`)",
	})
	s := NewSet(ms)
	v := typicalView()
	dst := make([]int, 0, 8)
	if got := s.Match(v, dst); len(got) != 0 {
		t.Fatalf("benign request matched %v", got)
	}
	if allocs := testing.AllocsPerRun(100, func() { s.Match(v, dst) }); allocs != 0 {
		t.Fatalf("Set.Match allocates %v times on a request no literal hits", allocs)
	}
}

func TestRequiredLiterals(t *testing.T) {
	for _, c := range []struct {
		re   string
		want []string // nil: no prefilter
	}{
		{`admin`, []string{"admin"}},
		{`(?i)ADMIN`, []string{"admin"}},
		{`(?i)select`, []string{"elect"}}, // s and k fold outside ASCII
		{`(?i)kelvin`, []string{"elvin"}}, //
		{`Foo\.php$`, []string{"foo.php"}},
		{`^/(wp-admin|phpmyadmin)/`, []string{"phpmyadmin", "wp-admin"}}, // the parser factors out "/"
		{`a+bcd`, []string{"bcd"}},
		{`(abc)+x`, []string{"abc"}},
		{`x(abc)*`, nil}, // "x" is too short
		{`(abc)?`, nil},
		{`^/[a-z]+$`, nil},
		{`ab|c`, nil},
		{`ab\x{FFFD}cd`, []string{"ab"}},
		{`(?:abc){2,3}`, []string{"abc"}},
	} {
		p, err := syntax.Parse(c.re, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := requiredLiterals(p)
		if ok != (c.want != nil) || !slices.Equal(got, c.want) {
			t.Errorf("requiredLiterals(%q) = %q, %v; want %q", c.re, got, ok, c.want)
		}
	}
}

// fuzzFixed are regexps the fuzzed ones share the path field with: some
// without literals, so that the candidates exceed maxGoCandidates and the
// combined automaton runs.
var fuzzFixed = []string{"^/", ".", "[0-9]", "(?i)admin", "min", `\bselect\b`}

// fuzzIndexed are rules the index narrows by host and path.
var fuzzIndexed = []string{
	"Host(`example.com`)", "Host(`*.example.com`) && PathPrefix(`/a`)", "Path(`/`)",
	"PathPrefix(`/a/b`) || Path(`/c`)", "Host(`ka.example.com`) && !Path(`/c`)", "PathPrefix(`/`) && Method(`POST`)",
}

// FuzzSet is the differential test: a Set of rules built from fuzzed
// regexps and a fuzzed expression must match exactly the rules Match does
// one by one, on fuzzed requests.
func FuzzSet(f *testing.F) {
	f.Add("(?i)union\\s+select", "[^a]", "\\x{FFFD}", "(?m)^a$", "Path(`/a`) || !Method(`GET`)", "/a\xffUNION \u017fELECT", "Mozilla", "1")
	f.Add("(?i)k", "\\pL+", "[[:alpha:]]\\b", "\\z", "PathRegexp(`x`) && HeaderRegexp(`X-A`, `^\\d`)", "/\u212a", "7up", "")
	f.Add("a|b|cd", "(a*)*$", "^$", "(?s).", "", "", "\n", "a\nb")
	f.Add("^7\\.", "(?i)^/Skip", "\\A/é", "^/a/[0-9]+x", "HeaderRegexp(`X-A`, `^7`)", "/a/1x", "7.2", "/SKIP")
	f.Add("(?i)ſ", "x{2,5}", "[\\x{80}-\\x{10FFFF}]", "\\B", "QueryRegexp(`q`, `é`)", "/ſ/é", "É", "é")
	f.Fuzz(func(t *testing.T, re1, re2, re3, re4, expr, path, header, query string) {
		q := func(s string) string {
			var b strings.Builder
			writeQuoted(&b, s)
			return b.String()
		}
		exprs := []string{
			"PathRegexp(" + q(re1) + ")",
			"PathRegexp(" + q(re2) + ") && !PathRegexp(" + q(re3) + ")",
			"PathRegexp(" + q(re3) + ") || HeaderRegexp(`X-A`, " + q(re1) + ")",
			"PathRegexp(" + q(re4) + ")",
			"QueryRegexp(`q`, " + q(re2) + ") && HostRegexp(" + q(re4) + ")",
			"HeaderRegexp(`X-A`, " + q(re3) + ") || HeaderRegexp(`X-A`, " + q(re4) + ")",
			expr,
		}
		for _, fx := range fuzzFixed {
			exprs = append(exprs, "PathRegexp("+q(fx)+")")
		}
		exprs = append(exprs, fuzzIndexed...)
		exprs = append(exprs,
			"PathPrefix("+q("/"+re1)+") && PathRegexp("+q(re2)+")",
			"Path("+q("/"+re3)+") || Host("+q(re4)+")",
			"Host("+q(re1)+", "+q("*."+re2)+") && !PathPrefix(`/x`)",
			"PathPrefix("+q(path)+") || Path("+q(query)+")")
		var ms []*Matcher
		for _, e := range exprs {
			if m, err := Compile(e); err == nil {
				ms = append(ms, m)
			}
		}
		s := NewSet(ms)
		for _, v := range []*view{
			{method: "GET", host: strings.ToLower(header), path: path,
				headers: [][2]string{{"X-A", header}}, params: [][2]string{{"q", query}}},
			{method: "POST", host: "example.com", path: query, headers: [][2]string{{"X-A", path}}},
			{method: "GET", host: path, path: header, params: [][2]string{{"q", path}}},
			{method: "GET", host: "x." + strings.ToLower(re2), path: "/" + re1, headers: [][2]string{{"X-A", re3}}},
			{method: "GET", host: re4, path: "/" + re3},
			{method: "GET", host: "EXAMPLE.com", path: "/a/b" + path},
			{method: "GET", host: "\u212aa.example.com", path: "/c"},
		} {
			got, ref := s.Match(v, nil), oneByOne(ms, v)
			if !slices.Equal(got, ref) {
				var rules []string
				for _, m := range ms {
					rules = append(rules, m.String())
				}
				t.Fatalf("Set.Match = %v, one by one = %v\nrules %q\npath %q header %q query %q", got, ref, rules, v.path, header, query)
			}
		}
	})
}

// customRules returns n WAF-style custom rules, each with its own regexp,
// over the path, the User-Agent header and the q parameter; one shape in
// ten has no literal the prefilter can use.
func customRules(n int) []string {
	shapes := []string{
		"PathRegexp(`(?i)^/admin%d/`)",
		"HeaderRegexp(`User-Agent`, `(?i)scanner%d`)",
		"QueryRegexp(`q`, `(?i)union\\s+select\\s+col%d`)",
		"PathRegexp(`\\.(bak%d|old%d)$`) && Method(`GET`)",
		"PathRegexp(`^/[a-z]+/[0-9]{%d}/edit$`)",
		"HeaderRegexp(`User-Agent`, `^curl/%d\\.`) && !ClientIP(`10.0.0.0/8`)",
		"PathRegexp(`/etc/passwd%d`) || QueryRegexp(`q`, `/etc/passwd%d`)",
		"PathRegexp(`(?i)/wp-content/plugins/p%d/`)",
		"QueryRegexp(`q`, `<script[^>]*>%d`)",
		"HostRegexp(`^internal%d\\.`)",
	}
	out := make([]string, n)
	for i := range out {
		s := shapes[i%len(shapes)]
		out[i] = strings.ReplaceAll(s, "%d", fmt.Sprint(i/len(shapes)+1))
	}
	return out
}

func benignView() *view {
	return &view{method: "GET", host: "shop.example.com", path: "/shop/products/12345",
		headers: [][2]string{{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}},
		params:  [][2]string{{"q", "red shoes"}}}
}

func attackView() *view {
	v := benignView()
	v.path, v.params = "/admin1/backup.bak1", [][2]string{{"q", "1 UNION SELECT col1 FROM users <script>1"}}
	return v
}

// BenchmarkSet compares a Set with Match one by one over 1 to 1,000 custom
// regexp rules, on a benign request and on an attack that matches several.
// Compare with: benchstat -col /eval.
func BenchmarkSet(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		ms := compileAll(b, customRules(n))
		s := NewSet(ms)
		for _, req := range []struct {
			name string
			v    *view
		}{{"benign", benignView()}, {"attack", attackView()}} {
			if got, want := s.Match(req.v, nil), oneByOne(ms, req.v); !slices.Equal(got, want) {
				b.Fatalf("%d rules, %s: Set %v, one by one %v", n, req.name, got, want)
			}
			dst := make([]int, 0, n)
			b.Run(fmt.Sprintf("rules=%d/req=%s/eval=set", n, req.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					dst = s.Match(req.v, dst[:0])
				}
			})
			b.Run(fmt.Sprintf("rules=%d/req=%s/eval=one-by-one", n, req.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					dst = dst[:0]
					for i, m := range ms {
						if m.Match(req.v) {
							dst = append(dst, i)
						}
					}
				}
			})
		}
	}
}

// BenchmarkNewSet is the cost of building a Set, paid once per snapshot.
func BenchmarkNewSet(b *testing.B) {
	for _, n := range []int{100, 1000} {
		ms := compileAll(b, customRules(n))
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				NewSet(ms)
			}
		})
	}
}

// TestSetFew: a set of maxPlain or fewer without regexps runs Match on each, with the same
// results and order.
func TestSetFew(t *testing.T) {
	ms := compileAll(t, []string{"Path(`/a`)", "", "Host(`x.example.com`) || PathPrefix(`/b`)"})
	s := NewSet(ms)
	if s.plain == nil {
		t.Fatal("3 expressions without regexps: not evaluated one by one")
	}
	if NewSet(compileAll(t, []string{"PathRegexp(`a`)"})).plain != nil {
		t.Fatal("a regexp: evaluated one by one, without the prefilter")
	}
	for _, c := range []struct {
		path string
		want []int
	}{{"/a", []int{0, 1}}, {"/b", []int{1, 2}}, {"/", []int{1}}} {
		checkSet(t, ms, s, &view{method: "GET", host: "h", path: c.path}, c.want)
	}
}

// TestFoldAC: every occurrence of every literal, overlapping and nested
// ones too, whatever the ASCII case of the input.
func TestFoldAC(t *testing.T) {
	lits := []string{"admin", "min", "in", "/etc/passwd", "ab", "bab"}
	a := newFoldAC(lits)
	for _, c := range []struct {
		in   string
		want []int32
	}{
		{"/ADMIN/", []int32{0, 1, 2}},
		{"/EtC/PassWD", []int32{3}},
		{"babab", []int32{4, 5}},
		{"xyz\xff", nil},
		{"mINimin", []int32{1, 2}},
	} {
		var got []int32
		a.each(c.in, func(id int32) {
			if !slices.Contains(got, id) {
				got = append(got, id)
			}
		})
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%q: literals %v, want %v", c.in, got, c.want)
		}
	}
}

// FuzzFoldAC: the automaton finds a literal exactly when the ASCII
// lower-cased input contains it.
func FuzzFoldAC(f *testing.F) {
	f.Add("admin,min,in", "/ADMIN/x")
	f.Add("ab,bab,b", "babab")
	f.Add(".php,/etc/passwd", "/x.PHP/etc/etc/passwd.ph")
	f.Fuzz(func(t *testing.T, list, in string) {
		lowerBytes := func(s string) string {
			b := []byte(s)
			for i, c := range b {
				if 'A' <= c && c <= 'Z' {
					b[i] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
		var lits []string
		for _, l := range strings.Split(lowerBytes(list), ",") {
			if l != "" && len(lits) < 20 {
				lits = append(lits, l)
			}
		}
		a := newFoldAC(lits)
		found := make([]bool, len(lits))
		a.each(in, func(id int32) { found[id] = true })
		lower := lowerBytes(in)
		for i, l := range lits {
			if want := strings.Contains(lower, l); found[i] != want {
				t.Fatalf("literal %q in %q: found %v, want %v", l, in, found[i], want)
			}
		}
	})
}

// TestSetConcurrent: one Set shared by goroutines (as a node shares a
// policy's) gives each the one-by-one answer.
func TestSetConcurrent(t *testing.T) {
	ms := compileAll(t, customRules(200))
	s := NewSet(ms)
	views := []*view{benignView(), attackView()}
	want := [][]int{oneByOne(ms, views[0]), oneByOne(ms, views[1])}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sc Scan
			for i := range 200 {
				k := (g + i) % 2
				var got []int
				s.Start(views[k], &sc)
				for j := sc.Next(); j >= 0; j = sc.Next() {
					got = append(got, j)
				}
				if !slices.Equal(got, want[k]) {
					errs <- fmt.Sprintf("goroutine %d, request %d: %v, want %v", g, k, got, want[k])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestAnchoredPrefix(t *testing.T) {
	for _, c := range []struct{ re, want string }{
		{`^7\.`, "7."},
		{`\A/API/v[0-9]+`, "/api/v"},
		{`(?i)^/Wp-Admin/`, "/wp-admin/"},
		{`(?i)^/adMINs`, "/admin"}, // s folds to U+017F: the prefix stops before it
		{`^/é\x{FFFD}x`, "/é"},     // U+FFFD matches any invalid byte
		{`(^/a)`, "/a"},            // a group around it
		{`(?m)^/a`, ""},            // start of any line
		{`^[a-z]/`, ""},
		{`/a`, ""},
		{`^/a|^/b`, ""},
	} {
		p, err := syntax.Parse(c.re, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		if got := anchoredPrefix(p); got != c.want {
			t.Errorf("anchoredPrefix(%q) = %q, want %q", c.re, got, c.want)
		}
	}
}

// TestSetAnchored: regexps anchored with a literal are candidates only on
// fields beginning with it (and with one of their literals, when the
// prefix does not contain one), with the results of Match.
func TestSetAnchored(t *testing.T) {
	exprs := []string{
		0: "HeaderRegexp(`X-Version`, `^7\\.`)",
		1: "HeaderRegexp(`X-Version`, `^70\\.`)",
		2: "PathRegexp(`^/p/[0-9]+/variant1$`)", // prefix and a literal after it
		3: "PathRegexp(`(?i)^/Skip/`)",          // prefix "/": s is unsafe
		4: "PathRegexp(`^/é`)",
		5: "PathRegexp(`(?i)^/API/`) && !Method(`POST`)",
		6: "PathRegexp(`^/p/`) || HeaderRegexp(`X-Version`, `^8`)",
		7: "PathRegexp(`admin`)", // not anchored: the automaton still runs
	}
	ms := compileAll(t, exprs)
	s := NewSet(ms)
	for _, c := range []struct {
		path, version string
		want          []int
	}{
		{"/v1/items", "7.2", []int{0}},
		{"/v1/items", "70.1", []int{1}},
		{"/v1/items", "8", []int{6}},
		{"/p/12/variant1", "", []int{2, 6}},
		{"/p/12/variant2", "", []int{6}},
		{"/P/12/variant1", "", nil}, // case-sensitive prefix
		{"/SKIP/x", "", []int{3}},
		{"/\u017fkip/x", "", []int{3}},
		{"/é", "", []int{4}},
		{"/É", "", nil},
		{"/Api/x/admin", "", []int{5, 7}},
		{"", "", nil},
	} {
		v := &view{method: "GET", host: "h", path: c.path}
		if c.version != "" {
			v.headers = [][2]string{{"X-Version", c.version}}
		}
		checkSet(t, ms, s, v, c.want)
	}
}

// TestSetGenerationWrap: one Scan reused across requests (flags are never
// cleared, only outdated) and past the wrap of its generation counter.
func TestSetGenerationWrap(t *testing.T) {
	ms := compileAll(t, []string{"PathRegexp(`^/a/[0-9]+`)", "PathRegexp(`admin`)", "HeaderRegexp(`X-A`, `^7`)", "PathRegexp(`[0-9]$`)", "Path(`/b`)"})
	s := NewSet(ms)
	var sc Scan
	sc.st.gen = ^uint32(0) - 2
	views := []*view{
		{method: "GET", host: "h", path: "/a/1/admin", headers: [][2]string{{"X-A", "7"}}},
		{method: "GET", host: "h", path: "/b"},
		{method: "GET", host: "h", path: "/a/12"},
		{method: "GET", host: "h", path: "/x", headers: [][2]string{{"X-A", "8"}}},
	}
	for range 3 {
		for _, v := range views {
			s.Start(v, &sc)
			var got []int
			for i := sc.Next(); i >= 0; i = sc.Next() {
				got = append(got, i)
			}
			if want := oneByOne(ms, v); !slices.Equal(got, want) {
				t.Fatalf("gen %d, path %q: %v, want %v", sc.st.gen, v.path, got, want)
			}
		}
	}
	if sc.st.gen > 20 {
		t.Fatalf("gen %d: the counter did not wrap", sc.st.gen)
	}
}

// TestSetMergeAndBitset: the same answers whether Next merges the index's
// candidate lists (few lists, short trie lists) or falls back to the
// bitset (a prefix more than maxAcc expressions share, more than maxMerge
// lists), and both modes are taken.
func TestSetMergeAndBitset(t *testing.T) {
	var exprs []string
	for i := range maxAcc + 4 {
		exprs = append(exprs, fmt.Sprintf("PathPrefix(`/a`) && Header(`X-%d`)", i%3))
	}
	for i := range maxMerge + 2 {
		exprs = append(exprs, fmt.Sprintf("HeaderRegexp(`X-R`, `^r%d`) || Host(`h%d.example`)", i, i), fmt.Sprintf("PathPrefix(`/b%d`)", i), fmt.Sprintf("Path(`/b%d/x`)", i))
	}
	ms := compileAll(t, exprs)
	s := NewSet(ms)
	modes := map[bool]int{}
	for _, v := range []*view{
		{method: "GET", host: "h1.example", path: "/a/b", headers: [][2]string{{"X-1", ""}}},
		{method: "GET", host: "h1.example", path: "/b1/x"},
		{method: "GET", host: "h2.example", path: "/b2", headers: [][2]string{{"X-R", "r2"}}},
		{method: "GET", host: "x", path: "/c", headers: [][2]string{{"X-R", "r0r1r2r3r4r5r6r7"}}},
		{method: "GET", host: "x", path: "/b"},
	} {
		var sc Scan
		s.Start(v, &sc)
		modes[sc.merge]++
		var got []int
		for i := sc.Next(); i >= 0; i = sc.Next() {
			got = append(got, i)
		}
		if want := oneByOne(ms, v); !slices.Equal(got, want) {
			t.Errorf("%s%s (merge %v): %v, want %v", v.host, v.path, sc.merge, got, want)
		}
	}
	if modes[true] == 0 || modes[false] == 0 {
		t.Fatalf("modes taken %v, want both", modes)
	}
}
