// Package metrics exposes an edge node's counters to Prometheus: proxy
// requests, upstream latency and errors per app, the HTTP cache, purges,
// DNS queries by response code, and the sync agent's state.
//
// The collector reads the counters the node's parts keep anyway (atomics,
// node.Observe) at scrape time, so serving pays nothing for it. Labels are
// bounded: app ids, status classes, cache statuses, rcodes, never URLs or
// client addresses. docs/nodes.md lists every metric.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/dns"
	"github.com/strata-edge/strata/node/forward"
	"github.com/strata-edge/strata/node/proxy/stats"
	"github.com/strata-edge/strata/node/xdp"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// descs is every metric's description, in declaration order (Describe).
var descs []*prometheus.Desc

func desc(name, help string, labels ...string) *prometheus.Desc {
	d := prometheus.NewDesc("strata_node_"+name, help, labels, nil)
	descs = append(descs, d)
	return d
}

var (
	descInfo = desc("info", "Always 1; the node's identity in labels.", "node_id", "cluster_id", "partition_id", "track")

	descRequests = desc("http_requests_total",
		"HTTP requests the proxy answered, by app and status class (1xx..5xx).", "app_id", "code")
	descBytesIn = desc("http_request_body_bytes_total",
		"Request body bytes received from clients, by app.", "app_id")
	descBytesOut = desc("http_response_body_bytes_total",
		"Response body bytes sent to clients, by app (streamed bodies of unknown length are not counted).", "app_id")
	descUpstreamLatency = desc("upstream_response_seconds",
		"Time from sending a request upstream to having its response headers, by app.", "app_id")
	descUpstreamErrors = desc("upstream_errors_total",
		"Failed upstream attempts by app and reason (connect, timeout, response, no_server); each retry counts.", "app_id", "reason")
	descOpenConns = desc("http_open_connections",
		"Client connections open now on the HTTP and HTTPS listeners.")

	descCache = desc("cache_requests_total",
		"Requests under a cache rule, by cache status (HIT, MISS, EXPIRED, STALE, BYPASS).", "status")
	descCacheObjects = desc("cache_objects", "Objects stored in the HTTP cache.")
	descPurges       = desc("purges_applied_total", "Purge commands applied to the cache.")
	descPurged       = desc("purged_objects_total", "Cached objects purge commands deleted or marked stale.")
	descTierFetches  = desc("tier_parent_fetches_total", "Cache misses a parent-tier node answered (tiered caching).")
	descTierFailures = desc("tier_parent_failures_total", "Parent-tier attempts that failed (connect error, timeout, 5xx); the next candidate was asked.")
	descTierOrigin   = desc("tier_origin_fallbacks_total", "Cache misses that went to the origin after every parent-tier candidate failed.")
	descPurgePos     = desc("purge_position",
		"STRATA_PURGE stream sequence of the last purge the node applied (compare across nodes).")

	descDNSQueries = desc("dns_queries_total",
		"DNS queries received, by transport (udp, tcp).", "proto")
	descDNSResponses = desc("dns_responses_total",
		"DNS responses sent, by transport and response code (NOERROR, NXDOMAIN, REFUSED, ...).", "proto", "rcode")
	descDNSAnswering = desc("dns_answering",
		"1 while the DNS listeners are open, 0 when closed (cluster turned DNS off, or the address is taken).")

	descReportsSent    = desc("metrics_reports_sent_total", "Metrics reports the metrics service answered (node/stats).")
	descReportsQueued  = desc("metrics_reports_queued", "Metrics reports waiting for the metrics service's answer.")
	descReportsDropped = desc("metrics_reports_dropped_total", "Metrics reports dropped unsent because the queue of unanswered ones was full.")

	descXDPPackets = desc("xdp_packets_total",
		"Packets the XDP DDoS filter saw, by reason: passed, allow_listed, or why dropped (denied_cidr, blocked_ttl, syn_rate, dns_rate, icmp_rate, malformed, fragment; malformed ones also pass when not dropped; syn_cookie_sent: SYNs over the limit answered with a SYN cookie, syn_cookie_ack_ok: handshake ACKs carrying a valid one).", "reason")
	descXDPAttached = desc("xdp_attached",
		"1 per interface the XDP filter runs on (mode native or generic), 0 where it is not attached (see the node's log or node list for why).", "iface", "mode")

	descRateLimited = desc("rate_limited_total",
		"Requests over a rate limit (whatever its on_exceed did: reject, log, challenge) and requests a DELAY limit held, by app, limit and outcome (exceeded, delayed).", "app_id", "limit", "outcome")
	descRateLimitKeys    = desc("rate_limit_keys", "Keys the rate limiter keeps counters for (bounded; least recently used forgotten first).")
	descRateLimitEvicted = desc("rate_limit_keys_evicted_total", "Rate limit keys forgotten to stay within the bound (a flood of distinct keys shows here).")
	descRateLimitDropped = desc("rate_limit_deltas_dropped_total", "Cluster rate limit counts not shared with the other nodes because the table of deltas was full.")

	descForwardConns = desc("forward_connections_total",
		"Forward-proxy connections (SOCKS5, HTTP CONNECT) and absolute-form HTTP proxy requests, by app and result (ok, auth_failed, rate_limited, client_denied, egress_refused, unreachable, connection_refused, bad_request, unsupported, error).", "app_id", "result")
	descForwardBytes = desc("forward_bytes_total",
		"Bytes the forward proxy relayed, by app and direction (in: client to destination, out: back).", "app_id", "direction")
	descStreamConns = desc("stream_connections_total",
		"Finished connections (TCP) and sessions (UDP) of stream apps, by app.", "app_id")
	descStreamRefused = desc("stream_refused_total",
		"Stream connections closed before forwarding (max_connections, access control, PROXY header, TLS or unknown server name, no server; UDP: dropped datagrams of refused clients), by app.", "app_id")
	descStreamBytes = desc("stream_bytes_total",
		"Bytes stream apps forwarded, by app and direction (in: client to upstream, out: back).", "app_id", "direction")
	descStreamOpen  = desc("stream_open_connections", "TCP connections of stream apps open now.")
	descForwardOpen = desc("forward_open_connections", "Forward-proxy client connections open now, by app.", "app_id")

	descWAFPolicies  = desc("waf_policies", "Distinct WAF policies compiled for the running config (one per policy id and version, shared by its apps).")
	descWAFCompiles  = desc("waf_compiles_total", "WAF policy compilations (a policy is compiled once per release, not per app or snapshot).")
	descWAFCompileS  = desc("waf_compile_seconds_total", "Time spent compiling WAF policies.")
	descWAFInspected = desc("waf_requests_total", "Requests an app's WAF policy inspected, by policy.", "policy_id")
	descWAFSkipped   = desc("waf_whitelisted_total", "Requests the policy's whitelist let through uninspected, by policy.", "policy_id")
	descWAFResponses = desc("waf_responses_total", "Upstream responses an app's WAF policy inspected (inspect_responses), by policy.", "policy_id")
	descWAFActions   = desc("waf_actions_total", "Requests a WAF policy, rate limit or challenge flagged, by policy and action (block, detect, challenge, log, allow).", "policy_id", "action")
	descWAFRules     = desc("waf_rule_matches_total", "Rule matches in flagged requests, by policy, rule (CRS id or custom:<id>) and the request's action.", "policy_id", "rule_id", "action")
	descWAFPublished = desc("waf_hits_published_total", "WAF hits published on NATS (strata.waf.hit.<node>).")
	descWAFPubErrs   = desc("waf_hits_unpublished_total", "WAF hits that could not be published (NATS unavailable).")
	descWAFDropped   = desc("waf_hits_dropped_total", "WAF hits not published because the node sent its maximum per second (counted above all the same).")
	descWAFPanics    = desc("waf_panics_total", "Inspections that panicked (BLOCK answered 500, DETECT passed); a bug to report.")

	descVersion    = desc("sync_version", "Config snapshot version the node runs (0: none yet).")
	descLastApply  = desc("sync_last_apply_timestamp_seconds", "Unix time the running config was applied (0: never).")
	descApplyOK    = desc("sync_apply_healthy", "1 when the newest snapshot was applied, 0 when the node rejected it and runs the previous one.")
	descApplyErrs  = desc("sync_apply_errors_total", "Snapshots the node rejected (it kept running the previous one).")
	descDeltas     = desc("sync_deltas_applied_total", "Config deltas applied.")
	descSnapshots  = desc("sync_snapshots_installed_total", "Full snapshots installed (first start, or catch-up after a long absence).")
	descSyncGaps   = desc("sync_gaps_total", "Deltas that did not start at the running version (resynchronised, never applied).")
	descSkipped    = desc("sync_duplicates_total", "Deltas skipped because the node already ran their version.")
	statusClasses  = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}
	latencyBuckets = func() []float64 {
		b := make([]float64, len(stats.LatencyBuckets))
		for i, d := range stats.LatencyBuckets {
			b[i] = d.Seconds()
		}
		return b
	}()
)

// Collector is a prometheus.Collector for one node.
type Collector struct{ n *node.Node }

// New returns the collector of n. Register it once per registry: two nodes
// in one registry would repeat the same series.
func New(n *node.Node) *Collector { return &Collector{n: n} }

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range descs {
		ch <- d
	}
}

// Collect reads the node's counters.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	o, ok := c.n.Observe()
	ch <- prometheus.MustNewConstMetric(descInfo, prometheus.GaugeValue, 1, o.NodeID, o.ClusterID, o.PartitionID, natsutil.Track(o.Staging))
	if !ok {
		return // not started: nothing counted yet
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}

	for id, s := range o.Apps {
		for i, n := range s.Status {
			counter(descRequests, n, id, statusClasses[i])
		}
		counter(descBytesIn, s.BytesIn, id)
		counter(descBytesOut, s.BytesOut, id)
		// The stats buckets count each response once; Prometheus wants
		// them cumulative. Count is their sum, so the two always agree.
		buckets := make(map[float64]uint64, len(latencyBuckets))
		var cum uint64
		for i, le := range latencyBuckets {
			cum += s.UpstreamLatencyBuckets[i]
			buckets[le] = cum
		}
		cum += s.UpstreamLatencyBuckets[len(latencyBuckets)]
		ch <- prometheus.MustNewConstHistogram(descUpstreamLatency, cum, s.UpstreamLatencySum.Seconds(), buckets, id)
		for k, n := range s.UpstreamErrors {
			counter(descUpstreamErrors, n, id, stats.UpstreamErrorNames[k])
		}
	}
	gauge(descOpenConns, float64(o.OpenConnections))
	for id, s := range o.Stream {
		counter(descStreamConns, s.Connections, id)
		counter(descStreamRefused, s.Refused, id)
		counter(descStreamBytes, s.BytesIn, id, "in")
		counter(descStreamBytes, s.BytesOut, id, "out")
		for k, n := range s.UpstreamErrors {
			counter(descUpstreamErrors, n, id, stats.UpstreamErrorNames[k])
		}
	}
	gauge(descStreamOpen, float64(o.StreamOpen))
	for id, lc := range o.RateLimits.Limits {
		counter(descRateLimited, lc.Exceeded, id.App, id.Name, "exceeded")
		counter(descRateLimited, lc.Delayed, id.App, id.Name, "delayed")
	}
	gauge(descRateLimitKeys, float64(o.RateLimits.Keys))
	counter(descRateLimitEvicted, o.RateLimits.Evicted)
	counter(descRateLimitDropped, o.RateLimits.Dropped)
	for id, s := range o.Forward {
		for _, r := range forward.Results {
			counter(descForwardConns, s.Connections[r], id, r)
		}
		counter(descForwardBytes, s.BytesIn, id, "in")
		counter(descForwardBytes, s.BytesOut, id, "out")
		gauge(descForwardOpen, float64(s.Open), id)
	}

	for i, n := range o.Cache.Requests {
		counter(descCache, n, cache.StatusNames[i])
	}
	gauge(descCacheObjects, float64(o.Cache.Objects))
	counter(descPurges, o.Cache.Purges)
	counter(descPurged, o.Cache.Purged)
	gauge(descPurgePos, float64(o.PurgePosition))
	counter(descTierFetches, o.Tier.Fetches)
	counter(descTierFailures, o.Tier.Failures)
	counter(descTierOrigin, o.Tier.Fallbacks)

	if d := o.DNS; d != nil {
		for t, n := range d.Queries {
			counter(descDNSQueries, n, dns.TransportNames[t])
			for rc, n := range d.Responses[t] {
				if n > 0 || rc == 0 { // NOERROR always; other codes once seen
					counter(descDNSResponses, n, dns.TransportNames[t], rcodeName(rc))
				}
			}
		}
		gauge(descDNSAnswering, bool01(d.Answering))
	}

	if r := o.Reports; r != nil {
		counter(descReportsSent, r.Sent)
		gauge(descReportsQueued, float64(r.Queued))
		counter(descReportsDropped, r.Dropped)
	}

	if x := o.XDP; x != nil {
		for _, r := range xdp.Reasons {
			if x.Packets != nil {
				counter(descXDPPackets, x.Packets[r], r)
			}
		}
		for _, s := range x.Ifaces {
			gauge(descXDPAttached, bool01(s.Error == ""), s.Name, s.Mode)
		}
	}

	w := &o.WAF
	gauge(descWAFPolicies, float64(w.Policies))
	counter(descWAFCompiles, w.Compiles)
	ch <- prometheus.MustNewConstMetric(descWAFCompileS, prometheus.CounterValue, w.CompileSeconds)
	for id, n := range w.Inspected {
		counter(descWAFInspected, n, id)
	}
	for id, n := range w.Skipped {
		counter(descWAFSkipped, n, id)
	}
	for id, n := range w.Responses {
		counter(descWAFResponses, n, id)
	}
	for _, c := range w.Actions {
		counter(descWAFActions, c.N, c.Policy, c.Action)
	}
	for _, c := range w.Rules {
		counter(descWAFRules, c.N, c.Policy, c.Rule, c.Action)
	}
	counter(descWAFPublished, w.Published)
	counter(descWAFPubErrs, w.PublishErrors)
	counter(descWAFDropped, w.Dropped)
	counter(descWAFPanics, w.Panics)

	gauge(descVersion, float64(o.Version))
	var last float64
	if !o.LastApply.IsZero() {
		last = float64(o.LastApply.UnixNano()) / 1e9
	}
	gauge(descLastApply, last)
	gauge(descApplyOK, bool01(o.ApplyErr == nil))
	counter(descApplyErrs, o.Sync.ApplyErrors)
	counter(descDeltas, o.Sync.Applied)
	counter(descSnapshots, o.Sync.Snapshots)
	counter(descSyncGaps, o.Sync.Gaps)
	counter(descSkipped, o.Sync.Skipped)
}

// rcodeNames are the RFC 1035/2136 names of the 4-bit header RCODEs.
var rcodeNames = [16]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"}

func rcodeName(rc int) string {
	if rc < len(rcodeNames) && rcodeNames[rc] != "" {
		return rcodeNames[rc]
	}
	return "RCODE" + strconv.Itoa(rc)
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var _ prometheus.Collector = (*Collector)(nil)
