// Package natsutil holds Strata's NATS names (subjects, streams, buckets) in one
// place, and helpers to run an embedded nats-server.
package natsutil

import "fmt"

// Stream, bucket and subject names are data: renaming one orphans what is stored
// under the old name, so they never derive from Go identifiers.
const (
	// HubDomain is the JetStream domain of the control plane's NATS (the hub).
	// Nodes reach the hub's JetStream across their leaf link with
	// jetstream.NewWithDomain(nc, HubDomain).
	HubDomain = "hub"

	// EventsStream holds the global event log (pkg/eventstore JetStream adapter).
	EventsStream = "STRATA_EVENTS"
	// EventsSubjectPrefix + stream name is the subject of one aggregate stream.
	EventsSubjectPrefix = "strata.events."

	// SyncStream holds per-partition config deltas, limited by age and count.
	SyncStream = "STRATA_SYNC"
	// SyncSubjects is the filter of SyncStream.
	SyncSubjects = "strata.sync.delta.>"
	// SyncSchema is the version of the sync contract (syncv1.Bundle and
	// Delta schema): the control plane stamps it on everything it publishes
	// and a node refuses any other, saying which side to upgrade. 1 was the
	// per-kind fields (upserts, zone_upserts, ...), 2 is one Resource table.
	SyncSchema = 2

	// NodeStatusPrefix + node id is where a node publishes its heartbeat.
	NodeStatusPrefix = "strata.node.status."

	// ACMEHTTP01Bucket is the KV bucket (hub domain) of pending ACME HTTP-01
	// challenges: key = token, value = key authorization. The cert service
	// writes it; every edge node answers /.well-known/acme-challenge/<token>
	// from it.
	ACMEHTTP01Bucket = "strata-acme-http01"
	// ACMEDNS01Bucket is the KV bucket (hub domain) of pending ACME DNS-01
	// challenges: key = "<owner name>.<token>" (owner lower-case, no trailing
	// dot, e.g. "_acme-challenge.example.com.<token>"), value = the TXT value.
	// One owner can hold several values (a wildcard and its apex in one
	// order). The cert service writes and deletes entries; every edge node
	// watches the bucket and answers TXT queries from its in-memory copy.
	ACMEDNS01Bucket = "strata-acme-dns01"
	// CertLeaseBucket is the KV bucket holding the lease that lets one cert
	// service replica at a time talk to ACME CAs.
	CertLeaseBucket = "strata-cert-lease"
)

// Track names the snapshot track of a partition: "stable" or "staging".
func Track(staging bool) string {
	if staging {
		return "staging"
	}
	return "stable"
}

// DeltaSubject is the subject of one partition track's deltas.
func DeltaSubject(partitionID string, staging bool) string {
	return fmt.Sprintf("strata.sync.delta.%s.%s", partitionID, Track(staging))
}

// SnapshotBucket is the Object Store bucket holding a partition's latest full
// snapshots, one object per track. One bucket per partition so that a node's
// credentials can allow reading its own partition's bucket and no other.
func SnapshotBucket(partitionID string) string {
	return "strata-snapshots-" + partitionID
}

// SnapshotKey is the Object Store key of one track's latest snapshot in the
// partition's bucket.
func SnapshotKey(staging bool) string {
	return Track(staging)
}

// DeltaObjectPrefix starts the Object Store keys of one track's referenced
// deltas (Delta.object) in the partition's bucket.
func DeltaObjectPrefix(staging bool) string {
	return "delta." + Track(staging) + "."
}

// DeltaObjectKey is the Object Store key of the delta to toVersion of a
// track, when it is too large for one message.
func DeltaObjectKey(staging bool, toVersion uint64) string {
	return fmt.Sprintf("%s%d", DeltaObjectPrefix(staging), toVersion)
}

// NodeInboxPrefix is the inbox prefix a node uses for replies, so that its
// credentials can allow subscribing to its own inboxes only.
func NodeInboxPrefix(nodeID string) string {
	return "_INBOX_" + nodeID
}

// NodeStatusSubject is the heartbeat subject of one node.
func NodeStatusSubject(nodeID string) string {
	return NodeStatusPrefix + nodeID
}

// Metrics reports: a node sends one per flush interval as a request on its
// own subject; a metrics service (queue group MetricsQueue) answers once it
// stored the report.
const (
	MetricsReportPrefix = "strata.metrics.report."
	MetricsReportAll    = "strata.metrics.report.*"
	MetricsQueue        = "strata-metrics"
)

// MetricsReportSubject is where node nodeID sends its metrics reports.
func MetricsReportSubject(nodeID string) string {
	return MetricsReportPrefix + nodeID
}
