// Package geotest writes geo files for tests.
package geotest

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// WriteDB writes a small MaxMind-format file (in t.TempDir) and returns
// its path: country, continent, ASN and city coordinates per network:
//
//	203.0.113.0/24   DE EU AS64500 "example net"   50.11,8.68 (Frankfurt)
//	198.51.100.0/24  US NA AS64510 "other carrier" 40.71,-74.01 (New York)
//	100.64.0.0/16    JP AS AS64501 "mobile isp"    35.68,139.69 (Tokyo)
//	100.66.0.0/16    FR EU AS64502 "no city"       (no coordinates)
func WriteDB(t testing.TB) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "Strata-Test", RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []struct {
		cidr, country, continent string
		asn                      uint32
		org                      string
		lat, lon                 float64
	}{
		{"203.0.113.0/24", "DE", "EU", 64500, "Example Net", 50.11, 8.68},
		{"198.51.100.0/24", "US", "NA", 64510, "Other Carrier", 40.71, -74.01},
		{"100.64.0.0/16", "JP", "AS", 64501, "Mobile ISP", 35.68, 139.69},
		{"100.66.0.0/16", "FR", "EU", 64502, "No City", 0, 0},
	} {
		_, network, _ := net.ParseCIDR(n.cidr)
		rec := mmdbtype.Map{
			"country":                        mmdbtype.Map{"iso_code": mmdbtype.String(n.country)},
			"continent":                      mmdbtype.Map{"code": mmdbtype.String(n.continent)},
			"autonomous_system_number":       mmdbtype.Uint32(n.asn),
			"autonomous_system_organization": mmdbtype.String(n.org),
		}
		if n.lat != 0 || n.lon != 0 {
			rec["location"] = mmdbtype.Map{"latitude": mmdbtype.Float64(n.lat), "longitude": mmdbtype.Float64(n.lon)}
		}
		if err := tree.Insert(network, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "geo.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}
