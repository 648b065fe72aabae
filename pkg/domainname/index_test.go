package domainname

import (
	"errors"
	"fmt"
	"testing"
)

func TestIndexLookup(t *testing.T) {
	var x Index[string]
	for _, d := range []string{
		"example.com",
		"*.example.com",
		"*.b.example.com",
		"exact.b.example.com",
		"*.c.b.example.com",
		"other.org",
	} {
		if err := x.Add(d, d); err != nil {
			t.Fatalf("Add(%q): %v", d, err)
		}
	}
	if x.Len() != 6 {
		t.Fatalf("Len() = %d, want 6", x.Len())
	}
	tests := []struct {
		name, host, want string // want "" means no match
	}{
		{"exact", "example.com", "example.com"},
		{"one label under wildcard", "a.example.com", "*.example.com"},
		{"two labels under wildcard", "a.x.example.com", "*.example.com"},
		{"deeper wildcard wins", "x.b.example.com", "*.b.example.com"},
		{"deeper wildcard, several labels", "y.x.b.example.com", "*.b.example.com"},
		{"exact beats wildcard", "exact.b.example.com", "exact.b.example.com"},
		{"deepest wildcard", "z.c.b.example.com", "*.c.b.example.com"},
		{"bare name of a wildcard is covered by the shallower one", "b.example.com", "*.example.com"},
		{"wildcard does not match its bare name", "other.org", "other.org"},
		{"no match", "example.net", ""},
		{"no match under exact only", "a.other.org", ""},
		{"suffix that is not a label boundary", "notexample.com", ""},
		{"empty", "", ""},
		{"leading dot", ".example.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := x.Lookup(tt.host)
			if ok != (tt.want != "") || got != tt.want {
				t.Fatalf("Lookup(%q) = %q, %v; want %q", tt.host, got, ok, tt.want)
			}
		})
	}
}

func TestIndexWildcardOnlyAndZero(t *testing.T) {
	var x Index[int]
	if _, ok := x.Lookup("example.com"); ok {
		t.Fatal("zero Index matched")
	}
	if err := x.Add("*.example.com", 7); err != nil {
		t.Fatal(err)
	}
	if v, ok := x.Lookup("a.example.com"); !ok || v != 7 {
		t.Fatalf("Lookup(a.example.com) = %d, %v", v, ok)
	}
	if _, ok := x.Lookup("example.com"); ok {
		t.Fatal("*.example.com matched example.com")
	}
}

func TestIndexAddErrors(t *testing.T) {
	var x Index[int]
	if err := x.Add("example.com", 1); err != nil {
		t.Fatal(err)
	}
	if err := x.Add("*.example.com", 2); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, domain string
		check        func(error) bool
	}{
		{"duplicate exact", "example.com", func(err error) bool { return errors.Is(err, ErrDuplicate) }},
		{"duplicate wildcard", "*.example.com", func(err error) bool { return errors.Is(err, ErrDuplicate) }},
		{"not normalized", "Example.com", func(err error) bool {
			var de *Error
			return errors.As(err, &de) && de.Reason == `is not normalized (want "example.com")`
		}},
		{"invalid", "a_b.example.com", func(err error) bool {
			var de *Error
			return errors.As(err, &de)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := x.Add(tt.domain, 3)
			if err == nil || !tt.check(err) {
				t.Fatalf("Add(%q) = %v", tt.domain, err)
			}
		})
	}
	if v, _ := x.Lookup("example.com"); v != 1 {
		t.Fatalf("a rejected Add changed the value: %d", v)
	}
	if x.Len() != 2 {
		t.Fatalf("Len() = %d, want 2", x.Len())
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	x := bigIndex(t, 1000)
	hosts := lookupHosts(1000)
	allocs := testing.AllocsPerRun(100, func() {
		for _, h := range hosts {
			x.Lookup(h)
		}
	})
	if allocs != 0 {
		t.Fatalf("Lookup allocates: %v per %d lookups", allocs, len(hosts))
	}
}

// bigIndex holds n names: 90% exact, 10% wildcards.
func bigIndex(tb testing.TB, n int) *Index[int] {
	x := new(Index[int])
	for i := range n {
		d := fmt.Sprintf("app%d.tenant%d.example.com", i, i%1000)
		if i%10 == 0 {
			d = fmt.Sprintf("*.zone%d.example.net", i)
		}
		if err := x.Add(d, i); err != nil {
			tb.Fatal(err)
		}
	}
	return x
}

// lookupHosts mixes exact hits, wildcard hits and misses.
func lookupHosts(n int) []string {
	var hosts []string
	for i := 1; i < n; i += 7 {
		hosts = append(hosts,
			fmt.Sprintf("app%d.tenant%d.example.com", i, i%1000),
			fmt.Sprintf("www.zone%d.example.net", i/10*10),
			fmt.Sprintf("a.b.zone%d.example.net", i/10*10),
			fmt.Sprintf("missing%d.example.org", i),
		)
	}
	return hosts
}

func BenchmarkLookup(b *testing.B) {
	const n = 100_000
	x := bigIndex(b, n)
	hosts := lookupHosts(n)
	b.ReportAllocs()
	b.ResetTimer()
	var hits int
	for i := 0; b.Loop(); i++ {
		if _, ok := x.Lookup(hosts[i%len(hosts)]); ok {
			hits++
		}
	}
	if hits == 0 {
		b.Fatal("no lookup matched")
	}
}

func TestIndexLookupFuncAndGet(t *testing.T) {
	var x Index[string]
	for _, d := range []string{"a.example.com", "*.example.com", "*.b.example.com"} {
		if err := x.Add(d, d); err != nil {
			t.Fatal(err)
		}
	}
	skip := func(name string) func(string) bool { return func(v string) bool { return v != name } }
	tests := []struct{ host, skip, want string }{
		{"a.example.com", "", "a.example.com"},
		{"a.example.com", "a.example.com", "*.example.com"},
		{"x.b.example.com", "*.b.example.com", "*.example.com"},
		{"x.b.example.com", "*.example.com", "*.b.example.com"},
		{"a.example.com", "*.example.com", "a.example.com"},
	}
	for _, tt := range tests {
		got, _ := x.LookupFunc(tt.host, skip(tt.skip))
		if got != tt.want {
			t.Errorf("LookupFunc(%q) skipping %q = %q, want %q", tt.host, tt.skip, got, tt.want)
		}
	}
	if _, ok := x.LookupFunc("a.example.com", func(string) bool { return false }); ok {
		t.Error("LookupFunc that keeps nothing found something")
	}
	if v, ok := x.Get("*.b.example.com"); !ok || v != "*.b.example.com" {
		t.Errorf("Get(wildcard) = %q, %v", v, ok)
	}
	if _, ok := x.Get("x.b.example.com"); ok {
		t.Error("Get matched a wildcard")
	}
}
