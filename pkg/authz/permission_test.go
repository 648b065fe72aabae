package authz

import (
	"strings"
	"testing"
)

func TestParsePermission(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Permission
		wantErr string
	}{
		{name: "three segments", in: "config.app.write", want: Permission{"config", "app", "write"}},
		{name: "two segments", in: "purge.create", want: Permission{Service: "purge", Verb: "create"}},
		{name: "underscore and digits", in: "dns.zone_v2.read", want: Permission{"dns", "zone_v2", "read"}},
		{name: "empty", in: "", wantErr: "empty permission"},
		{name: "one segment", in: "config", wantErr: "1 segments"},
		{name: "four segments", in: "a.b.c.d", wantErr: "4 segments"},
		{name: "empty segment", in: "config..write", wantErr: "segment 2: empty segment"},
		{name: "upper case", in: "Config.app.write", wantErr: `character 'C'`},
		{name: "leading digit", in: "config.1app.write", wantErr: "must start with a lower-case letter"},
		{name: "wildcard is not a permission", in: "config.*.write", wantErr: `character '*'`},
		{name: "too long", in: "config." + strings.Repeat("a", 33) + ".read", wantErr: "longer than 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePermission(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePermission(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePermission(%q): %v", tt.in, err)
			}
			if got != tt.want || got.String() != tt.in {
				t.Fatalf("ParsePermission(%q) = %+v (%s), want %+v", tt.in, got, got, tt.want)
			}
		})
	}
}

func TestPatternMatches(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		perm    string
		want    bool
	}{
		{name: "exact", pattern: "config.app.write", perm: "config.app.write", want: true},
		{name: "other verb", pattern: "config.app.write", perm: "config.app.read", want: false},
		{name: "all", pattern: "*", perm: "iam.user.write", want: true},
		{name: "kind wildcard", pattern: "config.*.read", perm: "config.partition.read", want: true},
		{name: "kind wildcard other service", pattern: "config.*.read", perm: "dns.zone.read", want: false},
		{name: "service wildcard", pattern: "*.*.read", perm: "dns.zone.read", want: true},
		{name: "three-segment pattern does not match two segments", pattern: "purge.*.create", perm: "purge.create", want: false},
		{name: "two-segment pattern does not match three", pattern: "config.*", perm: "config.app.write", want: false},
		{name: "two-segment wildcard", pattern: "purge.*", perm: "purge.create", want: true},
		{name: "prefix is not a match", pattern: "config.app.read", perm: "config.app.readx", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Matches(tt.perm); got != tt.want {
				t.Fatalf("%q.Matches(%q) = %v, want %v", tt.pattern, tt.perm, got, tt.want)
			}
		})
	}
}

func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"config.app.write", "purge.create", "*", "*.*.read", "config..x", "a.b.c.d", "Á.b", ""} {
		f.Add(s, "config.app.write")
	}
	f.Fuzz(func(t *testing.T, pattern, perm string) {
		p, err := ParsePattern(pattern)
		if err != nil {
			return
		}
		if p.String() != pattern {
			t.Fatalf("ParsePattern(%q).String() = %q", pattern, p.String())
		}
		// A concrete permission matches itself and nothing but its own name.
		if c, err := ParsePermission(pattern); err == nil {
			if c.String() != pattern || !p.Matches(pattern) {
				t.Fatalf("permission %q does not round-trip or match itself", pattern)
			}
			if p.Matches(perm) != (perm == pattern) {
				t.Fatalf("concrete %q.Matches(%q) = %v", pattern, perm, p.Matches(perm))
			}
		}
		// Whatever a pattern matches is a well-formed name of the same shape.
		if p.Matches(perm) && pattern != "*" {
			if strings.Count(perm, ".") != strings.Count(pattern, ".") {
				t.Fatalf("%q matched %q of another shape", pattern, perm)
			}
		}
	})
}
