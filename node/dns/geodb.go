package dns

import (
	"net/netip"

	"github.com/strata-edge/strata/node/geo"
)

// mmdb is a geoSource backed by the node's geo file.
type mmdb struct{ db *geo.DB }

func (g mmdb) lookup(a netip.Addr) geoInfo {
	i := g.db.Lookup(a)
	return geoInfo{country: i.Country, continent: i.Continent, asn: i.ASN, org: i.Org,
		lat: i.Latitude, lon: i.Longitude, hasLoc: i.HasLocation}
}
