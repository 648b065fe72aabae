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
// its path: country, continent and ASN
// per network:
//
//	203.0.113.0/24   DE EU AS64500 "example net"
//	198.51.100.0/24  US NA AS64510 "other carrier"
//	100.64.0.0/16    JP AS AS64501 "mobile isp"
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
	}{
		{"203.0.113.0/24", "DE", "EU", 64500, "Example Net"},
		{"198.51.100.0/24", "US", "NA", 64510, "Other Carrier"},
		{"100.64.0.0/16", "JP", "AS", 64501, "Mobile ISP"},
	} {
		_, network, _ := net.ParseCIDR(n.cidr)
		rec := mmdbtype.Map{
			"country":                        mmdbtype.Map{"iso_code": mmdbtype.String(n.country)},
			"continent":                      mmdbtype.Map{"code": mmdbtype.String(n.continent)},
			"autonomous_system_number":       mmdbtype.Uint32(n.asn),
			"autonomous_system_organization": mmdbtype.String(n.org),
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
