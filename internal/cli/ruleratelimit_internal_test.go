package cli

import (
	"strings"
	"testing"
)

func TestParseRate(t *testing.T) {
	for _, tt := range []struct {
		in             string
		requests, secs uint32
		err            string
	}{
		{"100/1m", 100, 60, ""},
		{"10/s", 10, 1, ""},
		{"10/1s", 10, 1, ""},
		{"5000/1h", 5000, 3600, ""},
		{"2/3d", 2, 3 * 86400, ""},
		{"50/90s", 50, 90, ""},
		{"100", 0, 0, "want N/PERIOD"},
		{"0/1m", 0, 0, "not a count above 0"},
		{"10/1500ms", 0, 0, "whole seconds"},
		{"10/32d", 0, 0, "more than 31 days"},
		{"10/fortnight", 0, 0, "want a number and s, m, h or d"},
	} {
		r, s, err := parseRate(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseRate(%q) = %v, want an error with %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || r != tt.requests || s != tt.secs {
			t.Errorf("parseRate(%q) = %d, %d, %v; want %d, %d", tt.in, r, s, err, tt.requests, tt.secs)
		}
	}
}

// FuzzParseRate: an accepted rate has requests above 0 and a period of 1 s
// to 31 days.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"100/1m", "10/s", "2/3d", "1/0s", "5/-1h", "99999999999/1s", "1/1e3h", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, secs, err := parseRate(s)
		if err != nil {
			return
		}
		if r == 0 || secs < 1 || secs > 31*86400 {
			t.Fatalf("parseRate(%q) = %d/%ds", s, r, secs)
		}
	})
}

// FuzzParseRateKeys: accepted keys name one part each, never empty.
func FuzzParseRateKeys(f *testing.F) {
	for _, s := range []string{"ip", "header:x-api-key", "cookie:", "query:a:b", "path:x", "ip,path"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		keys, err := parseRateKeys(strings.Split(s, ","))
		if err != nil {
			return
		}
		for _, k := range keys {
			if k.GetKey() == nil {
				t.Fatalf("parseRateKeys(%q): a part with no key", s)
			}
			if k.GetHeader() == "" && k.GetCookie() == "" && k.GetQuery() == "" && !k.GetClientIp() && !k.GetPath() {
				t.Fatalf("parseRateKeys(%q): empty part %v", s, k)
			}
		}
	})
}
