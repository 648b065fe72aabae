// Package geo looks client addresses up in a MaxMind-format (MMDB) file:
// country, continent, autonomous system and (City files) coordinates. One file is opened per node and
// shared by the DNS geo rules and the Metric SQL columns country and asn.
package geo

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Info is what the file knows about an address; empty fields are unknown.
type Info struct {
	Country   string // ISO 3166 code, upper case
	Continent string // upper case
	ASN       uint32
	Org       string // the ASN's organisation, lower case
	// Latitude and Longitude (WGS84 degrees) from a City database; HasLocation
	// says whether the file has them for the address.
	Latitude, Longitude float64
	HasLocation         bool
}

// record covers the fields of the GeoLite2/GeoIP2 Country, City and ASN
// databases (and merged files holding both).
type record struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Continent struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"continent"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
	ASN uint32 `maxminddb:"autonomous_system_number"`
	Org string `maxminddb:"autonomous_system_organization"`
}

// DB is an open MMDB file, safe for concurrent use.
type DB struct{ r *maxminddb.Reader }

// Open opens the MMDB file at path.
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %q: %w", path, err)
	}
	return &DB{r: r}, nil
}

// Lookup returns what the file knows about a (nothing for a nil DB).
func (db *DB) Lookup(a netip.Addr) Info {
	if db == nil {
		return Info{}
	}
	var rec record
	if err := db.r.Lookup(a).Decode(&rec); err != nil {
		return Info{}
	}
	out := Info{
		Country:   strings.ToUpper(rec.Country.ISOCode),
		Continent: strings.ToUpper(rec.Continent.Code),
		ASN:       rec.ASN,
		Org:       strings.ToLower(rec.Org),
	}
	if la, lo := rec.Location.Latitude, rec.Location.Longitude; la != nil && lo != nil {
		out.Latitude, out.Longitude, out.HasLocation = *la, *lo, true
	}
	return out
}

// Close closes the file.
func (db *DB) Close() error { return db.r.Close() }
