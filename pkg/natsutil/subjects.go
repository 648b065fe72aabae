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

	// SnapshotBucket is the Object Store bucket with the latest full snapshot per
	// partition track.
	SnapshotBucket = "strata-snapshots"

	// NodeStatusPrefix + node id is where a node publishes its heartbeat.
	NodeStatusPrefix = "strata.node.status."
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

// SnapshotKey is the Object Store key of one partition track's latest snapshot.
func SnapshotKey(partitionID string, staging bool) string {
	return partitionID + "." + Track(staging)
}

// NodeStatusSubject is the heartbeat subject of one node.
func NodeStatusSubject(nodeID string) string {
	return NodeStatusPrefix + nodeID
}
