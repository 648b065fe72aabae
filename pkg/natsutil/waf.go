package natsutil

// WAF hits and cluster-wide rate limit counters.
const (
	// WafHitPrefix + node id is where a node reports WAF hits (core NATS,
	// one strata.waf.v1.WafHit per message); stream WafHitStream keeps them.
	WafHitPrefix = "strata.waf.hit."
	// WafHitAll is the filter of WafHitStream.
	WafHitAll = "strata.waf.hit.>"
	// WafHitStream holds the hit log (bounded by age and bytes).
	WafHitStream = "STRATA_WAF_HITS"
	// RateLimitPrefix starts the subjects on which the nodes of a cluster
	// share rate limit counters: RateLimitPrefix + partition.cluster.node.
	RateLimitPrefix = "strata.ratelimit."
)

// WafHitSubject is where node nodeID reports WAF hits.
func WafHitSubject(nodeID string) string { return WafHitPrefix + nodeID }

// RateLimitSubject is where node nodeID of cluster clusterID publishes its
// rate limit counters.
func RateLimitSubject(partitionID, clusterID, nodeID string) string {
	return RateLimitPrefix + partitionID + "." + clusterID + "." + nodeID
}

// RateLimitClusterSubjects subscribes to the counters of every node of a
// cluster.
func RateLimitClusterSubjects(partitionID, clusterID string) string {
	return RateLimitPrefix + partitionID + "." + clusterID + ".*"
}
