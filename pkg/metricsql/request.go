// Package metricsql compiles Metric SQL (docs/metrics.md), one SELECT over
// the reqs table, into an aggregator with bounded memory that each node
// feeds every request, and merges the nodes' results in the metrics
// service.
package metricsql

import (
	"net/netip"
	"time"
)

// Request is one row of the reqs table: what the proxy knows of a request
// when it is done. The proxy reuses one Request per connection; an
// aggregator must copy what it keeps.
type Request struct {
	Time        time.Time
	App         string
	Host        string
	Path        string
	Method      string
	Status      int
	BytesIn     int64
	BytesOut    int64
	LatencyMs   float64
	Upstream    string // host:port of the server that answered; empty if none
	ClientIP    netip.Addr
	Country     string // ISO 3166 code from the node's GeoIP data; empty if unknown
	ASN         uint32
	CacheStatus string // HIT, MISS, EXPIRED, STALE, BYPASS, ...; empty when not cached
	Rule        string // the page rule that decided the action; empty if none
	// Header returns a request header's value (canonical or any case); nil
	// means no headers.
	Header func(name string) string
}
