package dns

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// mmdbRecord covers the fields of the GeoLite2/GeoIP2 Country, City and ASN
// databases (and merged files holding both).
type mmdbRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Continent struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"continent"`
	ASN uint32 `maxminddb:"autonomous_system_number"`
	Org string `maxminddb:"autonomous_system_organization"`
}

// mmdb is a geoSource backed by an MMDB file.
type mmdb struct{ r *maxminddb.Reader }

func openGeoDB(path string) (*mmdb, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %q: %w", path, err)
	}
	return &mmdb{r: r}, nil
}

func (g *mmdb) lookup(a netip.Addr) geoInfo {
	var rec mmdbRecord
	if err := g.r.Lookup(a).Decode(&rec); err != nil {
		return geoInfo{}
	}
	return geoInfo{
		country:   strings.ToUpper(rec.Country.ISOCode),
		continent: strings.ToUpper(rec.Continent.Code),
		asn:       rec.ASN,
		org:       strings.ToLower(rec.Org),
	}
}

func (g *mmdb) Close() error { return g.r.Close() }
