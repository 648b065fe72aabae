package config

// Id prefixes. An id is prefix + 16 lower-case base32 characters (80 random
// bits), so it is safe in stream names, NATS subjects and bucket names.
const (
	prefixPartition = "part_"
	prefixCluster   = "clu_"
	prefixApp       = "app_"
	prefixUpstream  = "ups_"
	prefixRule      = "rule_"
	prefixEvent     = "evt_"
)

// Stream names of the aggregates.
func partitionStream(id string) string { return "partition." + id }
func clusterStream(id string) string   { return "cluster." + id }
func appStream(id string) string       { return "app." + id }
