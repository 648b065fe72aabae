package actions

import (
	"strings"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

type vars struct{ scheme, host, path, uri string }

func (v vars) Scheme() string     { return v.scheme }
func (v vars) Host() string       { return v.host }
func (v vars) Path() string       { return v.path }
func (v vars) RequestURI() string { return v.uri }

func TestRedirect(t *testing.T) {
	v := vars{"https", "a.example.com", "/p a", "/p%20a?q=1"}
	tests := []struct {
		url, want string
	}{
		{"https://$host$request_uri", "https://a.example.com/p%20a?q=1"},
		{"$scheme://${host}x/$path", "https://a.example.comx//p a"},
		{"/fixed", "/fixed"},
		{"$$", ""}, // rejected below
	}
	for _, tt := range tests[:3] {
		r, err := CompileRedirect("r", &configv1.RedirectAction{Url: tt.url})
		if err != nil {
			t.Fatalf("%q: %v", tt.url, err)
		}
		if got := string(r.AppendLocation(nil, v)); got != tt.want || r.Status != 302 {
			t.Errorf("%q -> %q (%d), want %q (302)", tt.url, got, r.Status, tt.want)
		}
	}
	for _, bad := range []string{"https://$hostname/", "$", "${host", "a\r\nb", ""} {
		if _, err := CompileRedirect("r", &configv1.RedirectAction{Url: bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

type editor struct {
	path    string
	headers map[string][]string
	query   map[string]string
}

func (e *editor) SetHeader(n, v string)   { e.headers[n] = []string{v} }
func (e *editor) AddHeader(n, v string)   { e.headers[n] = append(e.headers[n], v) }
func (e *editor) DelHeader(n string)      { delete(e.headers, n) }
func (e *editor) Path() string            { return e.path }
func (e *editor) SetPath(p string)        { e.path = p }
func (e *editor) SetQueryArg(n, v string) { e.query[n] = v }
func (e *editor) DelQueryArg(n string)    { delete(e.query, n) }
func newEditor(path string) *editor {
	return &editor{path: path, headers: map[string][]string{}, query: map[string]string{"old": "1"}}
}
func rw(re, repl string) *configv1.RewriteAction {
	return &configv1.RewriteAction{PathRegex: re, PathReplacement: repl}
}

func TestRewrite(t *testing.T) {
	tests := []struct {
		name       string
		rw         *configv1.RewriteAction
		path, want string
	}{
		{"groups", rw("^/api/(v[0-9])/(.*)$", "/$2/$1"), "/api/v1/users", "/users/v1"},
		{"group followed by letters", rw("^/(a)", "/$1x"), "/abc", "/axbc"},
		{"first match only", rw("o", "0"), "/foo", "/f0o"},
		{"no match leaves path", rw("^/nomatch", "/x"), "/keep", "/keep"},
		{"result gets a leading slash", rw("^/(.*)$", "$1"), "/abc", "/abc"},
		{"dollar literal", rw("^/", "/$$"), "/a", "/$a"},
		{"whole path", &configv1.RewriteAction{PathReplacement: "/new"}, "/old", "/new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := CompileRewrite("rw", tt.rw)
			if err != nil {
				t.Fatal(err)
			}
			e := newEditor(tt.path)
			r.Apply(e)
			if e.path != tt.want {
				t.Fatalf("path %q, want %q", e.path, tt.want)
			}
		})
	}
	r, err := CompileRewrite("rw", &configv1.RewriteAction{QuerySet: map[string]string{"a": "1"}, QueryRemove: []string{"old"}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEditor("/")
	r.Apply(e)
	if e.query["a"] != "1" || e.query["old"] != "" || len(e.query) != 1 {
		t.Fatalf("query %v", e.query)
	}
	for _, bad := range []*configv1.RewriteAction{rw("(", "/"), rw("^/(a)", "/$2"), rw("a", "$x"), rw("a", "/$"), {PathReplacement: "relative"}} {
		if _, err := CompileRewrite("rw", bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestHeaderOpsOrder(t *testing.T) {
	ops, err := CompileHeaderOps("h", &configv1.HeaderOps{
		Set: map[string]string{"X-A": "set"}, Add: []*configv1.Header{{Name: "X-A", Value: "added"}}, Remove: []string{"X-A", "X-B"},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newEditor("/")
	e.headers["X-A"] = []string{"orig"}
	e.headers["X-B"] = []string{"orig"}
	ops.Apply(e)
	if got := strings.Join(e.headers["X-A"], ","); got != "set,added" || e.headers["X-B"] != nil {
		t.Fatalf("headers %v", e.headers)
	}
	for _, bad := range []*configv1.HeaderOps{
		{Set: map[string]string{"Content-Length": "1"}},
		{Remove: []string{"bad name"}},
		{Add: []*configv1.Header{{Name: "X", Value: "a\nb"}}},
	} {
		if _, err := CompileHeaderOps("h", bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func FuzzCompileRedirect(f *testing.F) {
	for _, s := range []string{"https://$host$request_uri", "${scheme}://x", "$", "${"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, url string) {
		r, err := CompileRedirect("r", &configv1.RedirectAction{Url: url})
		if err != nil {
			return
		}
		out := string(r.AppendLocation(nil, vars{"s", "h", "p", "u"}))
		if !strings.Contains(url, "$") && out != url {
			t.Fatalf("literal %q expanded to %q", url, out)
		}
	})
}

func FuzzRewrite(f *testing.F) {
	f.Add("^/api/(.*)$", "/v2/$1", "/api/x")
	f.Add("(a)(b)?", "${2}$1$$", "/aab")
	f.Fuzz(func(t *testing.T, re, repl, path string) {
		r, err := CompileRewrite("rw", &configv1.RewriteAction{PathRegex: re, PathReplacement: repl})
		if err != nil {
			return
		}
		e := newEditor("/" + path)
		r.Apply(e) // must not panic
		if e.path == "" || e.path[0] != '/' {
			t.Fatalf("path %q does not start with /", e.path)
		}
	})
}
