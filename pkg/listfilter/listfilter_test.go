package listfilter

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/strata-edge/strata/pkg/apierr"
)

type app struct {
	name      string
	domains   []string
	labels    map[string]string
	updated   time.Time
	version   float64
	unrelease bool
}

var schema = Schema[app]{
	"name":       String(func(a app) string { return a.name }),
	"domains":    Strings(func(a app) []string { return a.domains }),
	"labels":     Map(func(a app) map[string]string { return a.labels }),
	"updated_at": Time(func(a app) time.Time { return a.updated }),
	"version":    Number(func(a app) float64 { return a.version }),
	"unreleased": Bool(func(a app) bool { return a.unrelease }),
}

var shop = app{name: "shop", domains: []string{"shop.example.com", "*.cdn.example.net"}, labels: map[string]string{"env": "prod"},
	updated: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), version: 7, unrelease: true}

func TestMatch(t *testing.T) {
	tests := []struct {
		filter string
		want   bool
	}{
		{``, true},
		{`name = "shop"`, true},
		{`name = shop`, true},
		{`name != "shop"`, false},
		{`name:"ho"`, true},
		{`name = "sh*"`, true},
		{`domains:"shop.example.com"`, true},
		{`domains:"example.com"`, false},
		{`domains:"*.example.com"`, true},
		{`domains:"*example*"`, true},
		{`domains:"\*.cdn.example.net"`, true},
		{`domains:"\*.example.net"`, false},
		{`labels.env = "prod"`, true},
		{`labels.env = "dev"`, false},
		{`labels:"env"`, true},
		{`labels.env:*`, true},
		{`labels.team:*`, false},
		{`updated_at > "2026-01-01T00:00:00Z"`, true},
		{`updated_at <= "2026-01-01T00:00:00Z"`, false},
		{`version >= 7 AND version < 8`, true},
		{`version = -1`, false},
		{`unreleased = true`, true},
		{`unreleased = false OR name = "shop"`, true},
		{`NOT name = "shop"`, false},
		{`-name = "shop"`, false},
		{`name = "x" OR (labels.env = "prod" AND NOT unreleased = false)`, true},
		{`name = "shop" version = 7`, true},
		{`name = "shop" AND version = 8`, false},
		{`name = "a" OR name = "b" OR name = "shop"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			f, err := schema.Compile(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(shop); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct{ filter, want string }{
		{`nme = "x"`, `at position 1: unknown field "nme" (filterable: domains, labels, name, unreleased, updated_at, version)`},
		{`name = "x" AND`, `at position 15: unexpected end of filter`},
		{`name "x"`, `at position 6: expected an operator`},
		{`name = `, `at position 8: expected a value after "="`},
		{`(name = "x"`, `at position 12: expected ")" to close "(" at position 1`},
		{`name = "x`, `at position 8: unterminated string literal`},
		{`name ! "x"`, `at position 6: unexpected "!"`},
		{`version = abc`, `at position 1: version: "abc" is not a number`},
		{`updated_at > "yesterday"`, `is not an RFC 3339 time`},
		{`unreleased = maybe`, `"maybe" is not true or false`},
		{`domains < "a"`, `not defined on a repeated field`},
		{`labels = "a"`, `use labels:"key"`},
		{`name = "x")`, `at position 11: unexpected ")"`},
		{`a.b = 1`, `unknown field "a.b"`},
		{strings.Repeat("(", 100) + `name = "x"` + strings.Repeat(")", 100), `nested deeper than 64`},
		{`name = "é" AND nme = 1`, `at position 16: unknown field "nme"`},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			_, err := schema.Compile(tt.filter)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPages(t *testing.T) {
	var items []app
	for i := range 250 {
		items = append(items, app{name: fmt.Sprintf("app%03d", i), version: float64(i % 2)})
	}
	key := func(a app) string { return a.name }
	var got []app
	tok := ""
	for range 10 {
		p, err := Start(schema, Request{PageSize: 40, PageToken: tok, Filter: "version = 1"})
		if err != nil {
			t.Fatal(err)
		}
		page, next := p.Slice(items, key)
		got = append(got, page...)
		if next == "" {
			break
		}
		tok = next
	}
	if len(got) != 125 || got[0].name != "app001" || got[124].name != "app249" {
		t.Fatalf("got %d items", len(got))
	}
	// Another filter, a foreign token, sizes out of range.
	_, err := Start(schema, Request{PageToken: tok, Filter: "version = 0"})
	if vs := apierr.Violations(err); len(vs) != 1 || vs[0].Field != "page_token" || !strings.Contains(vs[0].Reason, "another filter") {
		t.Fatalf("other filter: %v", err)
	}
	_, err = Start(schema, Request{PageToken: tok, Filter: "version = 1", Scope: "cluster-b"})
	if vs := apierr.Violations(err); len(vs) != 1 || vs[0].Field != "page_token" {
		t.Fatalf("other scope: %v", err)
	}
	for _, bad := range []string{"garbage!", "cDEAaGFzaAA"} {
		_, err = Start(schema, Request{PageToken: bad})
		if vs := apierr.Violations(err); len(vs) != 1 || vs[0].Field != "page_token" {
			t.Fatalf("token %q: %v", bad, err)
		}
	}
	_, err = Start(schema, Request{PageSize: 1001})
	if vs := apierr.Violations(err); len(vs) != 1 || vs[0].Field != "page_size" || vs[0].Reason != "at most 1000" {
		t.Fatalf("page_size: %v", err)
	}
	_, err = Start(schema, Request{Filter: "nope = 1"})
	if vs := apierr.Violations(err); len(vs) != 1 || vs[0].Field != "filter" {
		t.Fatalf("filter: %v", err)
	}
	p, err := Start(schema, Request{})
	if err != nil || p.Size != DefaultPageSize {
		t.Fatalf("default: %v %v", p, err)
	}
}

func TestConjuncts(t *testing.T) {
	f, err := schema.Compile(`domains:"a.example" AND (name = "x" OR name = "y") AND NOT version = 1 labels.env = prod`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range f.Conjuncts() {
		got = append(got, c.Field+string(c.Op)+c.Value)
	}
	if strings.Join(got, ",") != "domains:a.example,labels.env=prod" {
		t.Fatalf("conjuncts %v", got)
	}
}

func FuzzFilterParse(f *testing.F) {
	for _, s := range []string{`name = "shop"`, `domains:"*.example.com" AND NOT (labels.env != prod OR version >= 3)`,
		`updated_at > "2026-01-01T00:00:00Z"`, `-a:b c<=d`, `"\"\\\*"`, `((((`, `a = "é\x80"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var pe *Error
			if !asError(err, &pe) || pe.Pos < 0 || pe.Pos > len(s)+1 {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		if e == nil && strings.TrimSpace(s) != "" && !strings.ContainsFunc(s, func(r rune) bool { return r > 127 }) {
			t.Fatalf("nil expr for %q", s)
		}
		if f, err := schema.Compile(s); err == nil {
			f.Match(shop)
		}
	})
}

func asError(err error, pe **Error) bool {
	e, ok := err.(*Error)
	*pe = e
	return ok
}
