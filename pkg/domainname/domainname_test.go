package domainname

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeValid(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "example.com", "example.com"},
		{"upper case", "WWW.Example.COM", "www.example.com"},
		{"one trailing dot", "example.com.", "example.com"},
		{"digits and hyphens", "a-1.b2-c.example.com", "a-1.b2-c.example.com"},
		{"punycode", "xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"wildcard", "*.Example.com", "*.example.com"},
		{"deep wildcard", "*.a.b.example.com", "*.a.b.example.com"},
		{"numeric labels below the top", "1.2.3.example", "1.2.3.example"},
		{"63-byte label", strings.Repeat("a", 63) + ".com", strings.Repeat("a", 63) + ".com"},
		{"253 bytes", long(253), long(253)},
		{"127 labels", strings.Repeat("a.", 126) + "a", strings.Repeat("a.", 126) + "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in)
			if err != nil {
				t.Fatalf("Normalize(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// long returns a valid name of exactly n bytes made of 50-byte labels.
func long(n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strings.Repeat("x", min(50, n-b.Len())))
	}
	s := b.String()
	if len(s) != n || strings.HasSuffix(s, ".") {
		panic("long: bad construction")
	}
	return s
}

func TestNormalizeInvalid(t *testing.T) {
	tests := []struct {
		name, in, reason string
	}{
		{"empty", "", "is empty"},
		{"only a dot", ".", "is empty"},
		{"too long", long(254), "is 254 bytes long, more than 253"},
		{"too many labels", strings.Repeat("a.", 127) + "a", "has 128 labels, more than 127"},
		{"double dot", "a..example.com", "has an empty label (two dots in a row)"},
		{"leading dot", ".example.com", "starts with a dot"},
		{"two trailing dots", "example.com..", "ends with two dots"},
		{"label too long", strings.Repeat("a", 64) + ".com", `label "` + strings.Repeat("a", 64) + `" is 64 bytes long, more than 63`},
		{"underscore", "_dmarc.example.com", `label "_dmarc" contains invalid character '_' (underscores are not allowed in host names)`},
		{"space", "exa mple.com", `label "exa mple" contains invalid character ' ' (only letters, digits and hyphens)`},
		{"slash", "example.com/path", `label "com/path" contains invalid character '/' (only letters, digits and hyphens)`},
		{"leading hyphen", "-a.example.com", `label "-a" starts with a hyphen`},
		{"trailing hyphen", "a-.example.com", `label "a-" ends with a hyphen`},
		{"non-ASCII", "bücher.example", `contains non-ASCII character 'ü'; use the punycode form (xn--...)`},
		{"IPv4", "192.0.2.1", "is an IP address, not a domain"},
		{"IPv6", "2001:db8::1", "is an IP address, not a domain"},
		{"bracketed IPv6", "[2001:db8::1]", "is an IP address, not a domain"},
		{"IP and port", "192.0.2.1:80", "is an IP address, not a domain"},
		{"numeric top-level label", "1.2.3", `top-level label "3" is all digits (looks like an IP address, not a domain)`},
		{"single label", "localhost", "needs at least two labels (like example.com)"},
		{"wildcard too broad", "*.com", `wildcard needs at least two labels after "*." (like *.example.com)`},
		{"bare wildcard", "*", `wildcard "*" is allowed only as the whole leftmost label (like *.example.com)`},
		{"wildcard in the middle", "a.*.example.com", `wildcard "*" is allowed only as the whole leftmost label (like *.example.com)`},
		{"partial wildcard", "a*.example.com", `wildcard "*" is allowed only as the whole leftmost label (like *.example.com)`},
		{"port", "example.com:8080", `has a port (":8080"); give the name alone`},
		{"wildcard with port", "*.example.com:443", `has a port (":443"); give the name alone`},
		{"colon without port", "example.com:x", `label "com:x" contains invalid character ':' (only letters, digits and hyphens)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in)
			if err == nil {
				t.Fatalf("Normalize(%q) = %q, want error %q", tt.in, got, tt.reason)
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %v is %T, want *Error", err, err)
			}
			if de.Name != tt.in || de.Reason != tt.reason {
				t.Fatalf("Normalize(%q) error = {Name %q, Reason %q}, want reason %q", tt.in, de.Name, de.Reason, tt.reason)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("Error() %q does not contain the reason", err)
			}
		})
	}
}

func TestNormalizeHostname(t *testing.T) {
	for _, in := range []string{"localhost", "Intranet.", "example.com", "*.example.com"} {
		if _, err := NormalizeHostname(in); err != nil {
			t.Errorf("NormalizeHostname(%q): %v", in, err)
		}
	}
	for _, in := range []string{"*.com", "127.0.0.1", "1234", "a_b", ""} {
		if got, err := NormalizeHostname(in); err == nil {
			t.Errorf("NormalizeHostname(%q) = %q, want error", in, got)
		}
	}
}

func TestIsWildcard(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"*.example.com", true},
		{"example.com", false},
		{"a.*.example.com", false},
		{"*example.com", false},
	}
	for _, tt := range tests {
		if got := IsWildcard(tt.in); got != tt.want {
			t.Errorf("IsWildcard(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"example.com", "Example.COM.", "*.example.com", "a..b", "192.0.2.1",
		"[::1]:80", "bücher.de", "a_b.example", "*.com", "x:80", strings.Repeat("a.", 130)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Normalize(in)
		if err != nil {
			var de *Error
			if !errors.As(err, &de) || de.Name != in || de.Reason == "" {
				t.Fatalf("Normalize(%q): error %#v is not a complete *Error", in, err)
			}
			return
		}
		again, err := Normalize(got)
		if err != nil {
			t.Fatalf("Normalize(%q) = %q, which is then rejected: %v", in, got, err)
		}
		if again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, got, again)
		}
		if len(got) > MaxLength || strings.ToLower(got) != got || strings.HasSuffix(got, ".") {
			t.Fatalf("Normalize(%q) = %q breaks the output contract", in, got)
		}
	})
}
