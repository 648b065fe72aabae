package natsutil

// DDoS block commands: persisted so a node that was offline applies the
// blocks still running, and acknowledged per node; filter counters reported
// per node. Names are data (see subjects.go).
const (
	// DdosStream holds block commands, one subject per partition.
	DdosStream = "STRATA_DDOS"
	// DdosSubjects is the filter of DdosStream.
	DdosSubjects = "strata.ddos.cmd.>"
	// DdosAckPrefix + node id is where a node acknowledges blocks.
	DdosAckPrefix = "strata.ddos.ack."
	// DdosAckAll subscribes to every node's acknowledgements.
	DdosAckAll = "strata.ddos.ack.>"
	// DdosReportPrefix + node id is where a node reports its filter.
	DdosReportPrefix = "strata.ddos.report."
	// DdosReportAll subscribes to every node's reports.
	DdosReportAll = "strata.ddos.report.>"
)

// DdosSubject is the subject of one partition's block commands.
func DdosSubject(partitionID string) string { return "strata.ddos.cmd." + partitionID }

// DdosAckSubject is where node nodeID acknowledges blocks.
func DdosAckSubject(nodeID string) string { return DdosAckPrefix + nodeID }

// DdosReportSubject is where node nodeID reports its filter counters.
func DdosReportSubject(nodeID string) string { return DdosReportPrefix + nodeID }
