package domainname

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckDNSName(t *testing.T) {
	tests := []struct {
		name, in string
		reason   string // "" = valid
	}{
		{name: "zone", in: "example.com."},
		{name: "relative owner", in: "www"},
		{name: "underscore", in: "_dmarc.example.com"},
		{name: "wildcard", in: "*.img.example.com"},
		{name: "classless reverse", in: "0/25.2.0.192.in-addr.arpa."},
		{name: "empty label", in: "bad..zone", reason: "has an empty label (two dots in a row)"},
		{name: "leading dot", in: ".zone", reason: "starts with a dot"},
		{name: "empty", in: "", reason: "is empty"},
		{name: "space", in: "a b.example", reason: `label "a b" contains invalid character ' '`},
		{name: "inner wildcard", in: "a.*.example", reason: "wildcard"},
		{name: "long label", in: string(make([]byte, 64)) + ".example", reason: "more than 63"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckDNSName(tt.in)
			var e *Error
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("CheckDNSName(%q) = %v, want valid", tt.in, err)
				}
				return
			}
			if !errors.As(err, &e) || !strings.Contains(e.Reason, tt.reason) {
				t.Fatalf("CheckDNSName(%q) = %v, want reason %q", tt.in, err, tt.reason)
			}
		})
	}
	// The same words as an app domain.
	_, appErr := Normalize("bad..example.com")
	dnsErr := CheckDNSName("bad..example.com")
	if appErr.(*Error).Reason != dnsErr.(*Error).Reason {
		t.Errorf("app domain says %q, DNS name says %q", appErr.(*Error).Reason, dnsErr.(*Error).Reason)
	}
}

func FuzzCheckDNSName(f *testing.F) {
	for _, s := range []string{"example.com.", "bad..zone", "*.a.b", "_x.y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := CheckDNSName(s); err == nil && len(s) > MaxWireLength {
			t.Fatalf("%d-byte name accepted", len(s))
		}
	})
}
