package cache

import (
	"net/http"
	"net/url"
	"testing"
)

func req(host, path, q string, h http.Header) *Request {
	return &Request{Method: "GET", Host: host, Path: path, RawQuery: q, Header: h.Get,
		Cookie: func(n string) string {
			r := http.Request{Header: h}
			if c, err := r.Cookie(n); err == nil {
				return c.Value
			}
			return ""
		}}
}

func TestKeyBuild(t *testing.T) {
	all := KeySpec{}
	only := KeySpec{QueryArgs: []string{"page"}, Headers: []string{"Accept-Language"}, Cookies: []string{"ab"}}
	tests := []struct {
		name      string
		spec      KeySpec
		a, b      *Request
		wantEqual bool
	}{
		{"query order ignored", all, req("a.com", "/x", "a=1&b=2", nil), req("a.com", "/x", "b=2&a=1", nil), true},
		{"host case ignored", all, req("A.com", "/x", "", nil), req("a.com", "/x", "", nil), true},
		{"query values differ", all, req("a.com", "/x", "a=1", nil), req("a.com", "/x", "a=2", nil), false},
		{"hosts differ", all, req("a.com", "/x", "", nil), req("b.com", "/x", "", nil), false},
		{"unlisted arg ignored", only, req("a.com", "/x", "page=1&utm=z", nil), req("a.com", "/x", "page=1", nil), true},
		{"listed arg kept", only, req("a.com", "/x", "page=1", nil), req("a.com", "/x", "page=2", nil), false},
		{"ignore query", KeySpec{IgnoreQuery: true}, req("a.com", "/x", "a=1", nil), req("a.com", "/x", "", nil), true},
		{"header in key", only, req("a.com", "/x", "", http.Header{"Accept-Language": {"en"}}), req("a.com", "/x", "", http.Header{"Accept-Language": {"fr"}}), false},
		{"cookie in key", only, req("a.com", "/x", "", http.Header{"Cookie": {"ab=1; s=9"}}), req("a.com", "/x", "", http.Header{"Cookie": {"ab=2; s=9"}}), false},
		{"other cookie ignored", only, req("a.com", "/x", "", http.Header{"Cookie": {"ab=1; s=9"}}), req("a.com", "/x", "", http.Header{"Cookie": {"ab=1; s=8"}}), true},
		{"separator in path cannot forge a query", all, req("a.com", "/x?a=1", "", nil), req("a.com", "/x", "a=1", nil), false},
		{"separator in value cannot forge a header", only, req("a.com", "/x", "page=1|h:accept-language=en", nil), req("a.com", "/x", "page=1", http.Header{"Accept-Language": {"en"}}), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ka, kb := tc.spec.Build(tc.a), tc.spec.Build(tc.b)
			if (ka == kb) != tc.wantEqual {
				t.Fatalf("keys %q and %q: equal=%v, want %v", ka, kb, ka == kb, tc.wantEqual)
			}
		})
	}
}

func FuzzKeyBuild(f *testing.F) {
	f.Add("example.com", "/a/b", "x=1&y=2", "en", "v1")
	f.Add("", "", "%zz&&==", "", "")
	f.Add("h|h", "/p?q|h:", "a=%7C", "|c:x=1", "=")
	spec := KeySpec{Headers: []string{"X-H"}, Cookies: []string{"c"}}
	f.Fuzz(func(t *testing.T, host, path, query, hv, cv string) {
		r := &Request{Host: host, Path: path, RawQuery: query,
			Header: func(string) string { return hv }, Cookie: func(string) string { return cv }}
		k := spec.Build(r)
		if k != spec.Build(r) {
			t.Fatal("key not deterministic")
		}
		for i := 0; i < len(k); i++ {
			if k[i] <= ' ' || k[i] >= 0x7f {
				t.Fatalf("raw byte %q in key %q", k[i], k)
			}
		}
		// Changing only the chosen header value must change the key.
		r2 := *r
		r2.Header = func(string) string { return hv + "x" }
		if spec.Build(&r2) == k {
			t.Fatalf("header value change kept key %q", k)
		}
		r3 := *r
		r3.Path = path + "x"
		if spec.Build(&r3) == k {
			t.Fatalf("path change kept key %q", k)
		}
	})
}

// The allocation-free query normaliser agrees with url.ParseQuery's.
func FuzzPlainQuery(f *testing.F) {
	f.Add("b=2&a=1&a=0", "")
	f.Add("=x&&a&v=1&utm=z", "v")
	f.Add("a=%20&b=+", "")
	f.Add("x=1;y=2", "x")
	f.Fuzz(func(t *testing.T, raw, arg string) {
		var args []string
		if arg != "" {
			args = []string{arg}
		}
		got, ok := appendPlainQuery(nil, raw, args)
		if !ok {
			return
		}
		vals, _ := url.ParseQuery(raw)
		if want := appendQueryArgs(nil, vals, args); string(got) != string(want) {
			t.Fatalf("query %q args %v: %q, url.ParseQuery gives %q", raw, args, got, want)
		}
	})
}
