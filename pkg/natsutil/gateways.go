package natsutil

// Gateway address feed: the nodes service publishes, per partition, the
// public addresses of every cluster's healthy online nodes (syncv1.GatewaySet)
// on core NATS; nodes feed them to their DNS server. Liveness is not config,
// so this is neither persisted nor part of the snapshot timeline.
const (
	// GatewaysPrefix + partition id is a partition's gateway subject.
	GatewaysPrefix = "strata.gateways."
)

// GatewaysSubject is where the live gateway address sets of one partition
// are published.
func GatewaysSubject(partitionID string) string {
	return GatewaysPrefix + partitionID
}
