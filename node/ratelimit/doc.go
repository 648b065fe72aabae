// Package ratelimit counts requests against the rate limit actions of page
// rules (configv1.RateLimitAction): a token bucket with nginx limit_req's
// burst and delay semantics, fixed windows and sliding windows, keyed by
// client IP, header, cookie, query argument, path or a combination. One
// Limiter per node keeps the counters in a bounded table; Sync shares the
// counters of cluster-scoped rules with the other nodes of the cluster
// over NATS. See README.md and docs/waf.md, "Rate limits".
package ratelimit
