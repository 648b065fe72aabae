package cli

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

func TestParseTTL(t *testing.T) {
	tests := []struct {
		in      string
		want    uint32
		wantErr string
	}{
		{in: "24h", want: 86400},
		{in: "90m", want: 5400},
		{in: "7d", want: 7 * 86400},
		{in: "30d", want: 30 * 86400},
		{in: "720h", want: 30 * 86400},
		{in: "31d", wantErr: "at most 30 days"},
		{in: "721h", wantErr: "at most 30 days"},
		{in: "0s", wantErr: "at least 1s"},
		{in: "-1h", wantErr: "at least 1s"},
		{in: "0d", wantErr: "want a duration"},
		{in: "d", wantErr: "want a duration"},
		{in: "tomorrow", wantErr: "want a duration"},
		{in: "", wantErr: "want a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTTL(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "--ttl") {
					t.Fatalf("got %d, %v; want an error naming --ttl and %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

// FuzzParseTTL: an accepted TTL is between one second and 30 days.
func FuzzParseTTL(f *testing.F) {
	for _, s := range []string{"24h", "7d", "1s", "30d", "99999999999d", "1e3h", "-5d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTTL(s)
		if err != nil {
			return
		}
		if got < 1 || got > 30*86400 {
			t.Fatalf("parseTTL(%q) = %d, outside 1s..30d", s, got)
		}
	})
}

func TestPrintNodes(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	node := func(id, name, cluster string, approved, disabled bool) *configv1.Node {
		return &configv1.Node{Id: id, Name: name, ClusterId: cluster, Approved: approved, Disabled: disabled}
	}
	nodes := []*configv1.NodeInfo{
		{Node: node("n1", "fra-1", "c1", true, false), AppliedVersion: 14, LatestVersion: 14, InSync: true, Online: true, Healthy: true,
			LastSeen: timestamppb.New(now.Add(-2 * time.Second)), Dns: configv1.NodeDnsState_NODE_DNS_STATE_ANSWERING,
			Xdp: []*configv1.NodeXdpInterface{{Name: "eth0", Mode: "native"}, {Name: "eth1", Error: "no such interface"}}},
		{Node: node("n2", "fra-2", "c1", true, false), AppliedVersion: 12, LatestVersion: 14, LagReleases: 2, LagSeconds: 35.4, Online: true,
			LastSeen: timestamppb.New(now.Add(-3 * time.Second)), Dns: configv1.NodeDnsState_NODE_DNS_STATE_OFF,
			ApplyError: "zone z1: CNAME loop"},
		{Node: node("n3", "ams-1", "c2", false, false)},
		{Node: node("n4", "ams-2", "c2", true, true), LagReleases: 1, LagSeconds: 61, PublishError: "delta 9 given up"},
	}
	var b strings.Builder
	if err := printNodes(&b, nodes, map[string]string{"c1": "fra", "c2": "ams"}, now); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"fra-1", "14/14", "answering", "eth0:native,eth1:failed", "2s ago",
		"fra-1 (n1): XDP filter not attached on eth1: no such interface",
		"12/14", "2 releases, 35s", "off",
		"fra-2 (n2) rejects the newest snapshot: zone z1: CNAME loop",
		"ams-1 (awaiting approval)", "never",
		"ams-2 (disabled)", "1 release, 1m1s",
		"ams-2 (n4): the control plane could not publish its track: delta 9 given up",
		"ams      2      0/2 (0%)",
		"fra      2      1/2 (50%)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "ams      2") > strings.Index(out, "fra      2") {
		t.Errorf("clusters are not sorted by name:\n%s", out)
	}
}
