package cli

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

func TestParseServer(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *configv1.Server
		wantErr string
	}{
		{name: "host and port", in: "10.0.0.1:8080", want: &configv1.Server{Address: "10.0.0.1:8080", Weight: 1}},
		{name: "weight", in: "web.internal:80=5", want: &configv1.Server{Address: "web.internal:80", Weight: 5}},
		{name: "zero weight", in: "h:80=0", want: &configv1.Server{Address: "h:80", Weight: 0}},
		{name: "ipv6", in: "[::1]:443=2", want: &configv1.Server{Address: "[::1]:443", Weight: 2}},
		{name: "no port", in: "10.0.0.1", wantErr: "want HOST:PORT"},
		{name: "empty host", in: ":80", wantErr: "host is empty"},
		{name: "port zero", in: "h:0", wantErr: "not a number from 1 to 65535"},
		{name: "port too big", in: "h:65536", wantErr: "not a number from 1 to 65535"},
		{name: "named port", in: "h:http", wantErr: "not a number"},
		{name: "negative weight", in: "h:80=-1", wantErr: "weight"},
		{name: "empty weight", in: "h:80=", wantErr: "weight"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseServer(tt.in, false)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !proto.Equal(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestParseKV(t *testing.T) {
	tests := []struct {
		in, key, value string
		ok             bool
	}{
		{in: "a=b", key: "a", value: "b", ok: true},
		{in: "a=", key: "a", value: "", ok: true},
		{in: "a=b=c", key: "a", value: "b=c", ok: true},
		{in: "=b"},
		{in: "ab"},
		{in: " =b"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			k, v, err := parseKV(tt.in)
			if (err == nil) != tt.ok || k != tt.key || v != tt.value {
				t.Fatalf("parseKV(%q) = %q, %q, %v", tt.in, k, v, err)
			}
		})
	}
}

func TestMillis(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want uint32
		ok   bool
	}{
		{d: 2 * time.Second, want: 2000, ok: true},
		{d: 0, want: 0, ok: true},
		{d: 1500 * time.Microsecond},
		{d: -time.Second},
		{d: 50 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			got, err := millis("--x", tt.d)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("millis(%s) = %d, %v", tt.d, got, err)
			}
			if err != nil && !strings.Contains(err.Error(), "--x") {
				t.Errorf("error does not name the flag: %v", err)
			}
		})
	}
}

func TestNextRuleName(t *testing.T) {
	rules := func(names ...string) []*configv1.Rule {
		var out []*configv1.Rule
		for _, n := range names {
			out = append(out, &configv1.Rule{Name: n})
		}
		return out
	}
	tests := []struct {
		name  string
		rules []*configv1.Rule
		want  string
	}{
		{name: "empty", want: "rule-1"},
		{name: "after named rules", rules: rules("api", "static"), want: "rule-3"},
		{name: "skips taken", rules: rules("rule-2", "rule-3"), want: "rule-4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextRuleName(tt.rules); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzParseServer: whatever is accepted is a valid HOST:PORT with a port in
// range, and the address round-trips.
func FuzzParseServer(f *testing.F) {
	for _, s := range []string{"10.0.0.1:80", "h:80=3", "[::1]:443=0", ":80", "h:0", "a:b=c", "h:80=4294967296"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		srv, err := parseServer(s, false)
		if err != nil {
			return
		}
		host, port, err := net.SplitHostPort(srv.GetAddress())
		if err != nil || host == "" {
			t.Fatalf("accepted %q with address %q: %v", s, srv.GetAddress(), err)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			t.Fatalf("accepted %q with port %q", s, port)
		}
		if !strings.HasPrefix(s, srv.GetAddress()) {
			t.Fatalf("address %q is not the input's %q", srv.GetAddress(), s)
		}
	})
}

// FuzzParseKV: an accepted pair joins back to the input.
func FuzzParseKV(f *testing.F) {
	for _, s := range []string{"a=b", "=b", "a==", "X-Tag=a=b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, v, err := parseKV(s)
		if err != nil {
			return
		}
		if strings.TrimSpace(k) == "" || strings.Contains(k, "=") || k+"="+v != s {
			t.Fatalf("parseKV(%q) = %q, %q", s, k, v)
		}
	})
}

// FuzzParseWeightedUpstream: an accepted value has a name and round-trips.
func FuzzParseWeightedUpstream(f *testing.F) {
	for _, s := range []string{"web", "web=9", "=1", "a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		wu, err := parseWeightedUpstream(s)
		if err != nil {
			return
		}
		if wu.GetUpstream() == "" || strings.Contains(wu.GetUpstream(), "=") {
			t.Fatalf("parseWeightedUpstream(%q) = %v", s, wu)
		}
		if !strings.HasPrefix(s, wu.GetUpstream()) {
			t.Fatalf("name %q is not the input's %q", wu.GetUpstream(), s)
		}
	})
}
