// Package stats keeps the per-app request statistics of the proxy in
// memory: atomic counters, read as a Snapshot by the Prometheus exporter,
// and (NewApp(true)) per-second aggregates with status codes, latency
// sketches, upstream servers, cache statuses and top paths, taken by the
// metrics reporter (TakeSeconds, seconds.go). The proxy records each
// request once (Done) and each upstream attempt once (Attempt); both feed
// the counters and the aggregates.
package stats

import (
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds of the upstream latency histogram; a
// final implicit bucket counts everything slower.
var LatencyBuckets = [...]time.Duration{
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// App holds the counters of one app. The zero value is ready (counters
// only); all methods are safe for concurrent use and, once warm, do not
// allocate.
type App struct {
	sec *seconds // nil: no per-second aggregates

	requests     atomic.Uint64
	status       [5]atomic.Uint64 // 1xx..5xx
	bytesIn      atomic.Uint64
	bytesOut     atomic.Uint64
	latencySum   atomic.Uint64 // nanoseconds
	latencyCount atomic.Uint64
	buckets      [len(LatencyBuckets) + 1]atomic.Uint64
	upErrors     [upstreamErrorKinds]atomic.Uint64

	// Stream apps (node/stream): connections forwarded and refused.
	conns   atomic.Uint64
	refused atomic.Uint64
}

// UpstreamError classifies a failed attempt at an upstream server.
type UpstreamError int

// Upstream error kinds, the label values of the upstream error metric.
const (
	UpstreamConnect  UpstreamError = iota // connecting failed (refused, unreachable)
	UpstreamTimeout                       // connecting or waiting for the response timed out
	UpstreamResponse                      // the connection broke or the response was malformed
	UpstreamNoServer                      // no healthy server to try
	upstreamErrorKinds
)

// AttemptOK is the kind of an attempt that got a response.
const AttemptOK UpstreamError = -1

// NewApp returns an App; perSecond keeps the per-second aggregates that
// TakeSeconds hands over (without it, only the counters).
func NewApp(perSecond bool) *App {
	a := new(App)
	if perSecond {
		a.sec = new(seconds)
	}
	return a
}

// PerSecond reports whether the app keeps per-second aggregates (callers
// then set Done.At).
func (a *App) PerSecond() bool { return a.sec != nil }

// Done records one finished request in the counters and, when kept, in the
// second d.At falls in.
func (a *App) Done(d *Done) {
	a.Observe(d.Status, d.BytesIn, d.BytesOut)
	if a.sec != nil {
		a.sec.done(d)
	}
}

// Attempt records one attempt at an upstream server (server "" with
// UpstreamNoServer: none was available) that ended at at after d: the
// latency of a success (kind AttemptOK) or the failure's kind.
func (a *App) Attempt(at time.Time, server string, d time.Duration, kind UpstreamError) {
	if kind == AttemptOK {
		a.ObserveUpstream(d)
	} else {
		a.ObserveUpstreamError(kind)
	}
	if a.sec != nil {
		a.sec.attempt(at, server, d, kind)
	}
}

// Conn records one finished connection of a stream app (node/stream),
// which counts as one request without a status code (Snapshot.Requests
// and the per-second requests, for top and series) with the bytes read from
// the client (in) and written to it (out); at matters with per-second
// aggregates.
func (a *App) Conn(at time.Time, bytesIn, bytesOut int64) {
	a.conns.Add(1)
	a.requests.Add(1)
	if bytesIn > 0 {
		a.bytesIn.Add(uint64(bytesIn))
	}
	if bytesOut > 0 {
		a.bytesOut.Add(uint64(bytesOut))
	}
	if a.sec != nil {
		a.sec.conn(at, bytesIn, bytesOut)
	}
}

// Bytes records bytes of a stream app forwarded outside a connection's
// end (UDP datagrams: Conn counts the session, with no bytes, when it
// ends).
func (a *App) Bytes(at time.Time, bytesIn, bytesOut int64) {
	if bytesIn > 0 {
		a.bytesIn.Add(uint64(bytesIn))
	}
	if bytesOut > 0 {
		a.bytesOut.Add(uint64(bytesOut))
	}
	if a.sec != nil {
		a.sec.bytes(at, bytesIn, bytesOut)
	}
}

// Refused records a stream connection the node closed before forwarding
// (limit, access control, PROXY header, unknown server name, no server).
func (a *App) Refused() { a.refused.Add(1) }

// UpstreamErrorNames are the label values of the kinds, by kind.
var UpstreamErrorNames = [upstreamErrorKinds]string{"connect", "timeout", "response", "no_server"}

// Observe records one finished request: its status, the body bytes received
// from the client and sent to it.
func (a *App) Observe(status int, bytesIn, bytesOut int) {
	a.requests.Add(1)
	if c := status/100 - 1; c >= 0 && c < len(a.status) {
		a.status[c].Add(1)
	}
	if bytesIn > 0 {
		a.bytesIn.Add(uint64(bytesIn))
	}
	if bytesOut > 0 {
		a.bytesOut.Add(uint64(bytesOut))
	}
}

// ObserveUpstream records the time from sending a request upstream to having
// its response headers.
func (a *App) ObserveUpstream(d time.Duration) {
	if d < 0 {
		d = 0
	}
	a.latencySum.Add(uint64(d))
	a.latencyCount.Add(1)
	i := 0
	for i < len(LatencyBuckets) && d > LatencyBuckets[i] {
		i++
	}
	a.buckets[i].Add(1)
}

// ObserveUpstreamError records one failed attempt at an upstream (only
// failures pay: the success path is untouched).
func (a *App) ObserveUpstreamError(k UpstreamError) {
	if k >= 0 && k < upstreamErrorKinds {
		a.upErrors[k].Add(1)
	}
}

// Snapshot is a copy of an app's counters. Counters only grow (until the app
// leaves the config).
type Snapshot struct {
	Requests uint64
	// Status counts responses by class: Status[0] = 1xx ... Status[4] = 5xx.
	Status [5]uint64
	// BytesIn and BytesOut count body bytes from and to clients.
	BytesIn, BytesOut uint64
	// UpstreamLatencySum / UpstreamLatencyCount is the mean time to the
	// upstream's response headers.
	UpstreamLatencySum   time.Duration
	UpstreamLatencyCount uint64
	// UpstreamLatencyBuckets[i] counts responses slower than
	// LatencyBuckets[i-1] and at most LatencyBuckets[i]; the last one counts
	// the rest (not cumulative).
	UpstreamLatencyBuckets [len(LatencyBuckets) + 1]uint64
	// UpstreamErrors counts failed upstream attempts by kind (indexed by
	// UpstreamError; retries count once per attempt).
	UpstreamErrors [upstreamErrorKinds]uint64
	// Connections and Refused count a stream app's finished and refused
	// connections (Conn, Refused); Requests includes Connections.
	Connections, Refused uint64
}

// Snapshot returns the current counter values.
func (a *App) Snapshot() Snapshot {
	var s Snapshot
	s.Requests = a.requests.Load()
	for i := range a.status {
		s.Status[i] = a.status[i].Load()
	}
	s.BytesIn = a.bytesIn.Load()
	s.BytesOut = a.bytesOut.Load()
	s.UpstreamLatencySum = time.Duration(a.latencySum.Load())
	s.UpstreamLatencyCount = a.latencyCount.Load()
	for i := range a.buckets {
		s.UpstreamLatencyBuckets[i] = a.buckets[i].Load()
	}
	for i := range a.upErrors {
		s.UpstreamErrors[i] = a.upErrors[i].Load()
	}
	s.Connections = a.conns.Load()
	s.Refused = a.refused.Load()
	return s
}
