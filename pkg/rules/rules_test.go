package rules

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// newRequest builds a real net/http server-side request.
func newRequest(method, target, remote string, headers ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

var (
	reqA = newRequest("GET", "https://WWW.Example.com:8443/api/v1/users?id=42&debug=&tag=a&tag=b", "192.0.2.10:5555",
		"X-Forwarded-Proto", "https", "Accept-Language", "de-DE", "Cookie", "session=abc123; theme=dark")
	reqB = newRequest("POST", "http://example.org/login", "[2001:db8::5]:443", "Content-Type", "application/json")
	reqC = newRequest("GET", "http://[2001:db8::1]:8080/", "10.1.2.3:1")
	reqD = newRequest("GET", "http://a.b.example.com./", "[::ffff:10.0.0.7]:1")
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name string
		expr string
		req  *http.Request
		want bool
	}{
		{"empty matches all", "", reqA, true},
		{"blank matches all", "  \n ", reqB, true},

		{"host", "Host(`www.example.com`)", reqA, true},
		{"host other", "Host(`www.example.com`)", reqB, false},
		{"host rule normalized", "Host(`WWW.EXAMPLE.COM.`)", reqA, true},
		{"host is not a suffix match", "Host(`example.com`)", reqA, false},
		{"host list", "Host(`a.com`, `www.example.com`)", reqA, true},
		{"wildcard one label", "Host(`*.example.com`)", reqA, true},
		{"wildcard several labels, request trailing dot", "Host(`*.example.com`)", reqD, true},
		{"wildcard not bare name", "Host(`*.example.org`)", reqB, false},
		{"host IPv6", "Host(`2001:db8::1`)", reqC, true},
		{"host IPv6 bracketed, other spelling", "Host(`[2001:DB8:0::1]`)", reqC, true},
		{"host IPv6 other", "Host(`2001:db8::2`)", reqC, false},
		{"host regexp", "HostRegexp(`^[a-z]+\\.example\\.(com|org)$`)", reqA, true},
		{"host regexp no", "HostRegexp(`^[a-z]+\\.example\\.(com|org)$`)", reqB, false},

		{"path", "Path(`/api/v1/users`)", reqA, true},
		{"path exact only", "Path(`/api`)", reqA, false},
		{"path list", "Path(`/x`, `/login`)", reqB, true},
		{"path prefix", "PathPrefix(`/api/`)", reqA, true},
		{"path prefix no", "PathPrefix(`/v1`)", reqA, false},
		{"path regexp", "PathRegexp(`^/api/v[0-9]+/`)", reqA, true},
		{"path regexp no", "PathRegexp(`^/api/v[0-9]+/`)", reqB, false},

		{"method case-insensitive", "Method(`get`)", reqA, true},
		{"method list no", "Method(`POST`, `PUT`)", reqA, false},
		{"method list", "Method(`POST`, `PUT`)", reqB, true},

		{"header present, name any case", "Header(`x-forwarded-proto`)", reqA, true},
		{"header value", "Header(`X-Forwarded-Proto`, `https`)", reqA, true},
		{"header value case-sensitive", "Header(`X-Forwarded-Proto`, `HTTPS`)", reqA, false},
		{"header missing", "Header(`X-Missing`)", reqA, false},
		{"header Host", "Header(`Host`, `example.org`)", reqB, true},
		{"header regexp", "HeaderRegexp(`Accept-Language`, `^de`)", reqA, true},
		{"header regexp missing header", "HeaderRegexp(`Accept-Language`, `.*`)", reqB, false},

		{"cookie present", "Cookie(`session`)", reqA, true},
		{"cookie value", "Cookie(`session`, `abc123`)", reqA, true},
		{"cookie other value", "Cookie(`session`, `x`)", reqA, false},
		{"cookie missing", "Cookie(`nope`)", reqA, false},
		{"cookie without cookies", "Cookie(`session`)", reqB, false},

		{"query present and empty", "Query(`debug`)", reqA, true},
		{"query empty value", "Query(`debug`, ``)", reqA, true},
		{"query value", "Query(`id`, `42`)", reqA, true},
		{"query first value only", "Query(`tag`, `b`)", reqA, false},
		{"query missing", "Query(`nope`)", reqA, false},
		{"query regexp", "QueryRegexp(`id`, `^[0-9]+$`)", reqA, true},
		{"query regexp no", "QueryRegexp(`id`, `^[a-z]+$`)", reqA, false},

		{"client CIDR", "ClientIP(`192.0.2.0/24`)", reqA, true},
		{"client address", "ClientIP(`192.0.2.11`)", reqA, false},
		{"client IPv6 CIDR", "ClientIP(`10.0.0.0/8`, `2001:db8::/32`)", reqB, true},
		{"client IPv4-mapped remote", "ClientIP(`10.0.0.0/8`)", reqD, true},
		{"client IPv4-mapped rule", "ClientIP(`::ffff:10.0.0.0/104`)", reqD, true},
		{"client IPv4 rule, IPv6 client", "ClientIP(`0.0.0.0/0`)", reqB, false},

		{"and", "Host(`www.example.com`) && PathPrefix(`/api`) && !Method(`POST`)", reqA, true},
		{"and fails", "Host(`www.example.com`) && PathPrefix(`/api`) && Method(`POST`)", reqA, false},
		{"or", "Method(`POST`) || Path(`/login`)", reqB, true},
		{"or none", "Method(`POST`) || Path(`/login`)", reqA, false},
		{"not group", "!(Method(`GET`) || Method(`HEAD`))", reqB, true},
		{"not group no", "!(Method(`GET`) || Method(`HEAD`))", reqA, false},
		{"&& binds tighter than ||", "Method(`GET`) || Method(`POST`) && Path(`/nope`)", reqA, true},
		{"parens override", "(Method(`GET`) || Method(`POST`)) && Path(`/nope`)", reqA, false},
		{"double not", "!!Method(`GET`)", reqA, true},
		{"double-quoted with escapes", `PathPrefix("/api/\u0076")`, reqA, true},

		{"scheme https", "Scheme(`https`)", reqA, true},
		{"scheme https on http", "Scheme(`https`)", reqB, false},
		{"scheme http", "Scheme(`HTTP`)", reqB, true},
		{"scheme either", "Scheme(`http`, `https`)", reqA, true},
		{"http to https redirect condition", "Scheme(`http`) && !PathPrefix(`/.well-known/`)", reqB, true},
		{"port", "Port(`8443`)", reqA, true},
		{"port list", "Port(`80`, `8080`)", reqC, true},
		{"port default of the scheme", "Port(`80`)", reqB, true},
		{"port other", "Port(`443`)", reqA, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Compile(tt.expr)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.expr, err)
			}
			if got := m.Match(FromHTTP(tt.req)); got != tt.want {
				t.Fatalf("Compile(%q).Match(%s %s) = %v, want %v", tt.expr, tt.req.Method, tt.req.URL, got, tt.want)
			}
			// The canonical form decides the same way.
			m2, err := Compile(m.String())
			if err != nil {
				t.Fatalf("String() %q does not compile: %v", m.String(), err)
			}
			if got := m2.Match(FromHTTP(tt.req)); got != tt.want {
				t.Fatalf("canonical %q.Match = %v, want %v", m.String(), got, tt.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	deep := strings.Repeat("(", 33) + "Path(`/`)" + strings.Repeat(")", 33)
	calls := strings.TrimSuffix(strings.Repeat("Path(`/`)||", 257), "||")
	longRegexp := "PathRegexp(`" + strings.Repeat("a", 1025) + "`)"
	longExpr := "Path(`/" + strings.Repeat("a", 4090) + "`)"
	tests := []struct {
		name   string
		expr   string
		offset int
		msg    string
	}{
		{"bad regexp", `Host(` + "`a.com`" + `) && PathRegexp("(")`, 28, `PathRegexp: invalid regexp "(": missing closing )`},
		{"bad regexp escape", "PathRegexp(`a\\q`)", 11, `PathRegexp: invalid regexp "a\\q": invalid escape sequence at "\\q"`},
		{"regexp too large", "PathRegexp(`a{1000}b{1000}c{1000}d{1000}e{1000}f{1000}`)", 11, "PathRegexp: regexp too large (more than 5000 instructions)"},
		{"regexp far too large", "PathRegexp(`" + strings.Repeat(`\pL{1000}`, 100) + "`)", 11, "PathRegexp: regexp too large (more than 5000 instructions)"},
		{"regexp too long", longRegexp, 11, "PathRegexp: regexp is 1025 bytes long, more than 1024"},
		{"unknown function, close", "Hots(`a.com`)", 0, `unknown function "Hots"; did you mean Host?`},
		{"unknown function, case", "pathprefix(`/`)", 0, `unknown function "pathprefix"; did you mean PathPrefix?`},
		{"unknown function, v2 name", "Headers(`X`)", 0, `unknown function "Headers"; did you mean Header?`},
		{"unknown function, HostHeader", "HostHeader(`a.com`)", 0, `unknown function "HostHeader"; did you mean Host?`},
		{"unknown function, far", "Path(`/`) && Foo()", 13, `unknown function "Foo" (known: ClientIP, Cookie, Header, HeaderRegexp, Host, HostRegexp, Method, Path, PathPrefix, PathRegexp, Port, Query, QueryRegexp, Scheme)`},
		{"no arguments", "Host()", 5, "Host: needs at least 1 argument, got 0"},
		{"too many arguments", "Header(`a`, `b`, `c`)", 17, "Header: takes 1 or 2 arguments, got 3"},
		{"too few arguments", "HeaderRegexp(`a`)", 16, "HeaderRegexp: takes 2 arguments, got 1"},
		{"one argument only", "PathRegexp(`a`, `b`)", 16, "PathRegexp: takes 1 argument, got 2"},
		{"unterminated string", `Host("a.com)`, 5, `unterminated string: missing closing "`},
		{"newline in string", "Host(\"a.com\n\")", 5, `unterminated string: missing closing "`},
		{"unterminated raw string", "Host(`a.com)", 5, "unterminated string: missing closing `"},
		{"bad escape", `Path("/\q")`, 7, `invalid escape sequence "\\q" in string`},
		{"bad hex escape", `Path("/\xZZ")`, 7, `invalid escape sequence "\\xZZ" in string`},
		{"missing operator", "Host(`a.com`) Path(`/`)", 14, `expected "&&" or "||" before "Path"`},
		{"trailing paren", "Host(`a.com`))", 13, `unexpected ")" after a complete condition`},
		{"trailing comma", "Host(`a.com`) ,", 14, `unexpected "," after a complete condition`},
		{"single ampersand", "Host(`a.com`) & Path(`/`)", 14, `unexpected '&'; use "&&"`},
		{"single bar", "Host(`a.com`) | Path(`/`)", 14, `unexpected '|'; use "||"`},
		{"dangling operator", "Host(`a.com`) &&", 16, `expected a condition like Host(...), "!" or "(", found end of expression`},
		{"double operator", "Host(`a.com`) || || Path(`/`)", 17, `expected a condition like Host(...), "!" or "(", found "||"`},
		{"empty group", "Method(`GET`) && ()", 18, `expected a condition like Host(...), "!" or "(", found ")"`},
		{"lone not", "!", 1, `expected a condition like Host(...), "!" or "(", found end of expression`},
		{"unclosed group", "(Host(`a.com`)", 14, `expected ")" to close "(" from column 1, found end of expression`},
		{"no parenthesis", "Host", 4, `expected "(" after Host, found end of expression`},
		{"bare word argument", "Host(a.com)", 5, "Host: expected a quoted argument (\"...\" or `...`), found \"a\""},
		{"comma then paren", "Host(`a.com`,)", 13, `Host: expected an argument after ",", found ")"`},
		{"missing comma", "Host(`a.com` `b.com`)", 13, `Host: expected "," or ")" after an argument, found a string`},
		{"unclosed call", "Host(`a.com`", 12, `Host: expected "," or ")" after an argument, found end of expression`},
		{"stray character", "Path(`/`) # x", 10, `unexpected character '#'`},
		{"single quotes", "Path('/')", 5, `unexpected character '\''`},
		{"host underscore", "Host(`a_b.com`)", 5, `Host: invalid host "a_b.com": label "a_b" contains invalid character '_' (underscores are not allowed in host names)`},
		{"host port", "Host(`a.com:8080`)", 5, `Host: invalid host "a.com:8080": has a port (":8080"); give the name alone`},
		{"host IP port", "Host(`192.0.2.1:80`)", 5, `Host: invalid host "192.0.2.1:80": has a port; Host matches the name only (the request's port is ignored)`},
		{"host wildcard too broad", "Host(`a.com`, `*.com`)", 14, `Host: invalid host "*.com": wildcard needs at least two labels after "*." (like *.example.com)`},
		{"host non-ASCII", "Host(`bücher.de`)", 5, `Host: invalid host "bücher.de": contains non-ASCII character 'ü'; use the punycode form (xn--...)`},
		{"host zone", "Host(`fe80::1%eth0`)", 5, `Host: invalid host "fe80::1%eth0": IPv6 zones are not allowed`},
		{"path without slash", "Path(`api`)", 5, `Path: path "api" must start with "/"`},
		{"path prefix without slash", "PathPrefix(`/a`, ``)", 17, `PathPrefix: path "" must start with "/"`},
		{"unknown method", "Method(`GET`, `FETCH`)", 14, `Method: unknown method "FETCH" (known: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, CONNECT, TRACE)`},
		{"method lookalike", "Method(`POſT`)", 7, `Method: unknown method "POſT" (known: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, CONNECT, TRACE)`},
		{"bad CIDR", "ClientIP(`10.0.0.0/33`)", 9, `ClientIP: invalid CIDR "10.0.0.0/33" (want an address and a prefix length like 10.0.0.0/8 or 2001:db8::/32)`},
		{"bad IP", "ClientIP(`10.0.0.300`)", 9, `ClientIP: invalid IP address "10.0.0.300" (want an IPv4 or IPv6 address or a CIDR like 10.0.0.0/8)`},
		{"IP zone", "ClientIP(`fe80::1%eth0`)", 9, `ClientIP: invalid IP address "fe80::1%eth0": IPv6 zones are not allowed`},
		{"header name", "Header(`X Y`)", 7, `Header: "X Y" is not a valid header name: character ' ' is not allowed`},
		{"header name empty", "HeaderRegexp(``, `x`)", 13, `HeaderRegexp: header name is empty`},
		{"header regexp bad", "HeaderRegexp(`X`, `[`)", 18, `HeaderRegexp: invalid regexp "[": missing closing ]`},
		{"cookie name empty", "Cookie(``)", 7, "Cookie: cookie name is empty"},
		{"unknown scheme", "Scheme(`ftp`)", 7, `Scheme: unknown scheme "ftp" (want http or https)`},
		{"scheme twice", "Scheme(`http`, `HTTP`)", 15, `Scheme: "HTTP" is given twice`},
		{"scheme arity", "Scheme(`http`, `https`, `http`)", 24, "Scheme: takes 1 or 2 arguments, got 3"},
		{"port zero", "Port(`0`)", 5, `Port: invalid port "0" (want a number 1-65535)`},
		{"port too big", "Port(`80`, `65536`)", 11, `Port: invalid port "65536" (want a number 1-65535)`},
		{"port name", "Port(`https`)", 5, `Port: invalid port "https" (want a number 1-65535)`},
		{"port leading zero", "Port(`080`)", 5, `Port: invalid port "080" (want a number 1-65535)`},
		{"cookie name", "Cookie(`a;b`)", 7, `Cookie: "a;b" is not a valid cookie name: character ';' is not allowed`},
		{"query name empty", "Query(``)", 6, "Query: query parameter name is empty"},
		{"control character", "Path(\"/\x01\")", 5, `Path: argument contains control character U+0001 (in a regexp, write \t, \n or \x..)`},
		{"tab in raw string", "Header(`X`, `a\tb`)", 12, `Header: argument contains control character U+0009 (in a regexp, write \t, \n or \x..)`},
		{"escaped invalid UTF-8", `Path("/\xff")`, 5, "Path: argument is not valid UTF-8"},
		{"source invalid UTF-8", "Path(`/\xff`)", 7, "expression is not valid UTF-8"},
		{"nesting", deep, 32, `nesting deeper than 32 levels of "!" and "("`},
		{"nesting with not", strings.Repeat("!", 33) + "Path(`/`)", 32, `nesting deeper than 32 levels of "!" and "("`},
		{"too many calls", calls, 256 * 11, "more than 256 function calls"},
		{"too long", longExpr, 5, "expression too long: more than 4096 bytes (whitespace between tokens not counted)"},
		{"source too long", strings.Repeat(" ", MaxSourceLength+1), MaxSourceLength, "expression too long: more than 16384 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Compile(tt.expr)
			if err == nil {
				t.Fatalf("Compile(%q) = %q, want error %q", tt.expr, m, tt.msg)
			}
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("error %v is %T, want *Error", err, err)
			}
			if re.Offset != tt.offset || re.Msg != tt.msg {
				t.Fatalf("Compile(%.40q) error\n got: %d %s\nwant: %d %s", tt.expr, re.Offset, re.Msg, tt.offset, tt.msg)
			}
			if err := Validate(tt.expr); err == nil || err.Error() != re.Error() {
				t.Fatalf("Validate = %v, want %v", err, re)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	err := Validate("Host(`a.com`) && PathRegexp(\"(\")")
	want := `column 29: PathRegexp: invalid regexp "(": missing closing )`
	if err == nil || err.Error() != want {
		t.Fatalf("Error() = %v, want %s", err, want)
	}
}

func TestLimitsAccepted(t *testing.T) {
	tests := []struct{ name, expr string }{
		{"32 levels", strings.Repeat("(", 16) + strings.Repeat("!", 16) + "Path(`/`)" + strings.Repeat(")", 16)},
		{"256 calls", strings.TrimSuffix(strings.Repeat("Path(`/`) || ", 256), " || ")},
		{"4096 token bytes with spaces", "Path(`/" + strings.Repeat("a", 4087) + "`)" + strings.Repeat(" ", 100)},
		{"1024-byte regexp", "PathRegexp(`" + strings.Repeat("a", 1024) + "`)"},
		{"5000 instructions", "PathRegexp(`a{998}`)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Validate(tt.expr); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "  ", ""},
		{"spacing and quotes", `Host("Example.COM")&&PathPrefix("/api")`, "Host(`example.com`) && PathPrefix(`/api`)"},
		{"flattened and", "(Host(`a.com`) && (Path(`/`) && Method(`get`)))", "Host(`a.com`) && Path(`/`) && Method(`GET`)"},
		{"flattened or", "Path(`/a`) || (Path(`/b`) || Path(`/c`))", "Path(`/a`) || Path(`/b`) || Path(`/c`)"},
		{"needed parens kept", "(Path(`/a`)||Path(`/b`))&&Method(`GET`)", "(Path(`/a`) || Path(`/b`)) && Method(`GET`)"},
		{"and inside or needs none", "(Path(`/a`) && Method(`GET`)) || Path(`/b`)", "Path(`/a`) && Method(`GET`) || Path(`/b`)"},
		{"not of group", "!(Path(`/a`) && Method(`GET`))", "!(Path(`/a`) && Method(`GET`))"},
		{"not of call", "!(Path(`/a`))", "!Path(`/a`)"},
		{"double not kept", "! ! Path(`/a`)", "!!Path(`/a`)"},
		{"header name canonical", `Header("x-custom-header", "v")`, "Header(`X-Custom-Header`, `v`)"},
		{"backquote in argument", "Path(\"/a`b\")", "Path(\"/a`b\")"},
		{"backquote, quote and backslash", "Header(`X`, \"`\\\"\\\\\")", "Header(`X`, \"`\\\"\\\\\")"},
		{"regexp prefers raw", `PathRegexp("^/api/\\d+$")`, "PathRegexp(`^/api/\\d+$`)"},
		{"scheme lower-cased", `Scheme("HTTPS") && Port("443")`, "Scheme(`https`) && Port(`443`)"},
		{"IPs", `ClientIP("10.1.2.3/8", "::ffff:192.0.2.1", "2001:DB8:0:0:1::1", "1::2:3:4:5:6:7")`,
			"ClientIP(`10.0.0.0/8`, `192.0.2.1`, `2001:db8::1:0:0:1`, `1::2:3:4:5:6:7`)"},
		{"host IP", "Host(`[2001:DB8::1]`, `Example.com.`, `*.Example.com`)", "Host(`2001:db8::1`, `example.com`, `*.example.com`)"},
		{"escapes decoded", `Path("/\u00e9\x41")`, "Path(`/éA`)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Compile(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got := m.String()
			if got != tt.want {
				t.Fatalf("String() = %s\n          want %s", got, tt.want)
			}
			m2, err := Compile(got)
			if err != nil {
				t.Fatalf("canonical form does not compile: %v", err)
			}
			if again := m2.String(); again != got {
				t.Fatalf("String() not stable: %s -> %s", got, again)
			}
		})
	}
}

func TestFormatIP(t *testing.T) {
	for _, s := range []string{"::", "::1", "1::", "1:0:2:3:4:5:6:7", "1:0:0:2:0:0:0:3", "2001:db8::1", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8"} {
		a := netip.MustParseAddr(s)
		f := formatIP(a)
		if back, err := netip.ParseAddr(f); err != nil || back != a || len(f) > len(a.String()) {
			t.Errorf("formatIP(%s) = %q (parses back to %v, %v)", s, f, back, err)
		}
	}
}

// view is a request view as the fast path would build it: no maps, no
// allocation per lookup.
type view struct {
	method, host, path       string
	headers, cookies, params [][2]string
	ip                       netip.Addr
	scheme                   string
	port                     uint32
}

func find(kvs [][2]string, name string, fold bool) (string, bool) {
	for _, kv := range kvs {
		if kv[0] == name || fold && strings.EqualFold(kv[0], name) {
			return kv[1], true
		}
	}
	return "", false
}

func (v *view) Method() string                    { return v.method }
func (v *view) Host() string                      { return v.host }
func (v *view) Path() string                      { return v.path }
func (v *view) Header(name string) (string, bool) { return find(v.headers, name, true) }
func (v *view) Cookie(name string) (string, bool) { return find(v.cookies, name, false) }
func (v *view) Query(name string) (string, bool)  { return find(v.params, name, false) }
func (v *view) ClientIP() netip.Addr              { return v.ip }
func (v *view) Scheme() string                    { return v.scheme }
func (v *view) Port() uint32                      { return v.port }

// typicalRule is the common page-rule shape: site, section, method.
var typicalRule = "Host(`*.example.com`, `example.com`) && PathPrefix(`/api/`) && !Method(`OPTIONS`, `HEAD`)"

// regexpRule adds a regexp over a header, the slowest kind of condition.
var regexpRule = typicalRule + " && !HeaderRegexp(`User-Agent`, `(?i)bot|crawler`)"

func typicalView() *view {
	return &view{
		method: "GET", host: "shop.example.com", path: "/api/v1/items",
		headers: [][2]string{{"Accept", "*/*"}, {"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}},
		ip:      netip.MustParseAddr("192.0.2.1"),
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	m, err := Compile(regexpRule + " || ClientIP(`10.0.0.0/8`) && Cookie(`s`) || Query(`q`, `1`) || Method(`PUT`) || Host(`::1`)")
	if err != nil {
		t.Fatal(err)
	}
	v := typicalView()
	if !m.Match(v) {
		t.Fatal("typical request does not match")
	}
	miss := typicalView()
	miss.path = "/"
	if allocs := testing.AllocsPerRun(100, func() { m.Match(v); m.Match(miss) }); allocs != 0 {
		t.Fatalf("Match allocates %v times", allocs)
	}
}

func BenchmarkMatch(b *testing.B) {
	m, err := Compile(typicalRule)
	if err != nil {
		b.Fatal(err)
	}
	v := typicalView()
	b.ReportAllocs()
	for b.Loop() {
		if !m.Match(v) {
			b.Fatal("no match")
		}
	}
}

func BenchmarkMatchRegexp(b *testing.B) {
	m, err := Compile(regexpRule)
	if err != nil {
		b.Fatal(err)
	}
	v := typicalView()
	b.ReportAllocs()
	for b.Loop() {
		if !m.Match(v) {
			b.Fatal("no match")
		}
	}
}

func BenchmarkMatchHTTP(b *testing.B) {
	m, err := Compile(typicalRule)
	if err != nil {
		b.Fatal(err)
	}
	r := newRequest("GET", "http://shop.example.com/api/v1/items", "192.0.2.1:1234",
		"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
	b.ReportAllocs()
	for b.Loop() {
		if !m.Match(FromHTTP(r)) {
			b.Fatal("no match")
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(typicalRule); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"", typicalRule,
		"Host(`a.com`) && PathRegexp(\"(\")",
		"!(Method(`GET`) || Method(`HEAD`)) && ClientIP(`10.0.0.0/8`, `2001:db8::/32`)",
		`Header("X-A", "v\"") || Cookie("s", "1") || Query("q") || QueryRegexp("q", "^[0-9]+$")`,
		"((Path(`/a`)) || !!Path(`/b`)) && HostRegexp(`^x`)",
		"Host(`*.example.com`, `[::1]`) && PathPrefix(`/`)",
		"Path(\"/a`b\\\\\")",
	} {
		f.Add(s)
	}
	samples := []*http.Request{reqA, reqB, reqC, reqD,
		newRequest("OPTIONS", "http://x.example.com/a?q=1", "[::1]:1", "X-A", "v\"", "Cookie", "s=1")}
	f.Fuzz(func(t *testing.T, expr string) {
		m, err := Compile(expr)
		if err != nil {
			var re *Error
			if !errors.As(err, &re) || re.Msg == "" || re.Offset < 0 || re.Offset > len(expr) {
				t.Fatalf("Compile(%q): bad error %#v", expr, err)
			}
			return
		}
		canon := m.String()
		m2, err := Compile(canon)
		if err != nil {
			t.Fatalf("Compile(%q) ok, but its String() %q does not compile: %v", expr, canon, err)
		}
		if again := m2.String(); again != canon {
			t.Fatalf("String() not stable: %q -> %q -> %q", expr, canon, again)
		}
		for _, r := range samples {
			if a, b := m.Match(FromHTTP(r)), m2.Match(FromHTTP(r)); a != b {
				t.Fatalf("%q and its canonical form %q disagree on %s %s: %v vs %v", expr, canon, r.Method, r.URL, a, b)
			}
		}
	})
}
