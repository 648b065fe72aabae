package natsutil

// Purge commands: persisted so an offline node applies what it missed, and
// acknowledged per node. Names are data (see subjects.go).
const (
	// PurgeStream holds purge commands, one subject per partition.
	PurgeStream = "STRATA_PURGE"
	// PurgeSubjects is the filter of PurgeStream.
	PurgeSubjects = "strata.purge.cmd.>"
	// PurgeAckPrefix + node id is where a node acknowledges purges.
	PurgeAckPrefix = "strata.purge.ack."
	// PurgeAckAll subscribes to every node's acknowledgements.
	PurgeAckAll = "strata.purge.ack.>"
)

// PurgeSubject is the subject of one partition's purge commands.
func PurgeSubject(partitionID string) string {
	return "strata.purge.cmd." + partitionID
}

// PurgeAckSubject is where node nodeID acknowledges purges.
func PurgeAckSubject(nodeID string) string {
	return PurgeAckPrefix + nodeID
}
