package dns

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	mdns "github.com/miekg/dns"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/geo"
	"github.com/strata-edge/strata/node/geo/geotest"
)

func TestGeoRulesFromMMDB(t *testing.T) {
	db, err := geo.Open(geotest.WriteDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s, err := New(Options{UDPAddr: "127.0.0.1:0", Geo: db})
	if err != nil {
		t.Fatal(err)
	}
	geoRec := func(data string, m *dnsv1.GeoMatch) *dnsv1.Record {
		return &dnsv1.Record{Name: "www", Type: tA, Data: data, Match: m}
	}
	z := &dnsv1.Zone{Id: "z", Name: "example.com.", Records: []*dnsv1.Record{
		geoRec("192.0.2.10", &dnsv1.GeoMatch{Countries: []string{"de"}}),
		geoRec("192.0.2.20", &dnsv1.GeoMatch{Continents: []string{"NA"}}),
		geoRec("192.0.2.30", &dnsv1.GeoMatch{Asns: []uint32{64501}}),
		geoRec("192.0.2.40", &dnsv1.GeoMatch{Isps: []string{"mobile isp"}}),
		rec("www", tA, "192.0.2.1"),
	}}
	if err := s.Update(&syncv1.Snapshot{Version: 1, Zones: []*dnsv1.Zone{z}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	tests := []struct {
		name, ecs string
		want      []string
	}{
		{name: "country", ecs: "203.0.113.0/24", want: []string{"192.0.2.10"}},
		{name: "continent", ecs: "198.51.100.0/24", want: []string{"192.0.2.20"}},
		{name: "ASN and ISP both select", ecs: "100.64.3.0/24", want: []string{"192.0.2.30", "192.0.2.40"}},
		{name: "unknown network gets the default", ecs: "192.0.2.0/24", want: []string{"192.0.2.1"}},
		{name: "no ECS: the resolver address (loopback) gets the default", want: []string{"192.0.2.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := q("www.example.com.", mdns.TypeA, true)
			if tc.ecs != "" {
				_, n, _ := net.ParseCIDR(tc.ecs)
				ones, _ := n.Mask.Size()
				opt := m.IsEdns0()
				opt.Option = append(opt.Option, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(ones), Address: n.IP.To4()})
			}
			r, _, err := new(mdns.Client).Exchange(m, s.UDPAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, rr := range r.Answer {
				got = append(got, rr.(*mdns.A).A.String())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("answer %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("answer %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestGeoDBMissingFile(t *testing.T) {
	_, err := geo.Open(filepath.Join(t.TempDir(), "nope.mmdb"))
	if err == nil {
		t.Fatal("missing geo file accepted")
	}
}
