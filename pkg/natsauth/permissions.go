package natsauth

import (
	"fmt"

	"github.com/nats-io/jwt/v2"

	"github.com/strata-edge/strata/pkg/natsutil"
)

// jsAPI is the prefix of the hub's JetStream API as a node reaches it across
// its leaf link (jetstream.NewWithDomain(nc, natsutil.HubDomain)). Node
// permissions name these subjects only: a node never sees the domain-less
// $JS.API of the hub.
const jsAPI = "$JS." + natsutil.HubDomain + ".API."

// NodePermissions is what a node's user JWT allows, and nothing else:
//
//   - subscribe: its partition's delta subjects (both tracks, since a node's
//     staging flag may change), its partition's gateway address sets
//     (core NATS, published by the nodes service) and its own inboxes;
//   - subscribe also: the rate limit counters of its partition's nodes;
//   - publish: its own status, purge-ack, ddos-ack, ddos-report, waf-hit,
//     rate limit counter and metrics-report subjects (the metrics report is a request: the answer
//     comes to its inbox), and the JetStream API calls that read its
//     partition's deltas (an ordered consumer filtered to one track, created
//     through the subject form that carries the filter, which the server
//     checks against the consumer config), its partition's purge and ddos
//     block commands (the same way), its partition's snapshot bucket, and
//     the ACME challenge buckets (HTTP-01 by key, DNS-01 by a watch).
//
// A node's NATS client must use natsutil.NodeInboxPrefix(nodeID) as its inbox
// prefix (nats.CustomInboxPrefix), or replies cannot reach it.
func NodePermissions(nodeID, partitionID string) (jwt.Permissions, error) {
	if err := checkToken("node id", nodeID); err != nil {
		return jwt.Permissions{}, err
	}
	if err := checkToken("partition id", partitionID); err != nil {
		return jwt.Permissions{}, err
	}
	var p jwt.Permissions
	p.Sub.Allow.Add(
		natsutil.DeltaSubject(partitionID, false),
		natsutil.DeltaSubject(partitionID, true),
		natsutil.GatewaysSubject(partitionID),
		natsutil.NodeInboxPrefix(nodeID)+".>",
		// Rate limit counters of the node's cluster (any cluster of its
		// partition: the node filters to its own, whose id may change).
		natsutil.RateLimitPrefix+partitionID+".>",
	)
	p.Pub.Allow.Add(natsutil.NodeStatusSubject(nodeID), natsutil.PurgeAckSubject(nodeID), natsutil.MetricsReportSubject(nodeID),
		natsutil.DdosAckSubject(nodeID), natsutil.DdosReportSubject(nodeID), natsutil.WafHitSubject(nodeID),
		natsutil.RateLimitPrefix+partitionID+".*."+nodeID)
	p.Pub.Allow.Add(deltaAPISubjects(partitionID)...)
	p.Pub.Allow.Add(purgeAPISubjects(partitionID)...)
	p.Pub.Allow.Add(ddosAPISubjects(partitionID)...)
	p.Pub.Allow.Add(snapshotAPISubjects(partitionID)...)
	p.Pub.Allow.Add(acmeAPISubjects()...)
	p.Pub.Allow.Add(dns01APISubjects()...)
	return p, nil
}

// dns01APISubjects lets a node watch (never write) the KV bucket of pending
// ACME DNS-01 challenges: bucket info and the ordered push consumer of a KV
// watch, whose flow-control requests the node answers. TXT values are
// public by design (served over DNS).
func dns01APISubjects() []string {
	stream := "KV_" + natsutil.ACMEDNS01Bucket
	return []string{
		jsAPI + "STREAM.INFO." + stream,
		jsAPI + "CONSUMER.CREATE." + stream + ".>",
		jsAPI + "CONSUMER.DELETE." + stream + ".*",
		"$JS.FC." + stream + ".>",
	}
}

// acmeAPISubjects lets a node read (never write) the KV bucket of pending
// ACME HTTP-01 challenges, to answer a CA's validation request whichever
// node it reaches: bucket info and direct gets. Tokens and key
// authorizations are public by design (served over plain HTTP).
func acmeAPISubjects() []string {
	stream := "KV_" + natsutil.ACMEHTTP01Bucket
	return []string{
		jsAPI + "STREAM.INFO." + stream,
		jsAPI + "DIRECT.GET." + stream + ".>",
	}
}

// deltaAPISubjects lets a node run an ordered (pull) consumer on its
// partition's delta subjects of natsutil.SyncStream. Consumer names are random
// per consumer, so they are a wildcard token; the filter is not.
func deltaAPISubjects(partitionID string) []string {
	stream := natsutil.SyncStream
	return []string{
		jsAPI + "STREAM.INFO." + stream,
		jsAPI + "CONSUMER.CREATE." + stream + ".*." + natsutil.DeltaSubject(partitionID, false),
		jsAPI + "CONSUMER.CREATE." + stream + ".*." + natsutil.DeltaSubject(partitionID, true),
		jsAPI + "CONSUMER.MSG.NEXT." + stream + ".*",
		jsAPI + "CONSUMER.DELETE." + stream + ".*",
	}
}

// purgeAPISubjects lets a node run an ordered consumer on its partition's
// purge commands in natsutil.PurgeStream, and read that consumer's info (the
// purge agent checks whether it has caught up). Never a write: commands come
// from the purge service only.
func purgeAPISubjects(partitionID string) []string {
	stream := natsutil.PurgeStream
	return []string{
		jsAPI + "STREAM.INFO." + stream,
		jsAPI + "CONSUMER.CREATE." + stream + ".*." + natsutil.PurgeSubject(partitionID),
		jsAPI + "CONSUMER.INFO." + stream + ".*",
		jsAPI + "CONSUMER.MSG.NEXT." + stream + ".*",
		jsAPI + "CONSUMER.DELETE." + stream + ".*",
	}
}

// ddosAPISubjects lets a node run an ordered consumer on its partition's
// block commands in natsutil.DdosStream, as purgeAPISubjects does.
func ddosAPISubjects(partitionID string) []string {
	stream := natsutil.DdosStream
	return []string{
		jsAPI + "STREAM.INFO." + stream,
		jsAPI + "CONSUMER.CREATE." + stream + ".*." + natsutil.DdosSubject(partitionID),
		jsAPI + "CONSUMER.INFO." + stream + ".*",
		jsAPI + "CONSUMER.MSG.NEXT." + stream + ".*",
		jsAPI + "CONSUMER.DELETE." + stream + ".*",
	}
}

// snapshotAPISubjects lets a node read (never write) its partition's Object
// Store bucket: stream info, the meta message by direct get (Object Store
// streams allow direct get), and the chunks through an ordered push consumer
// whose flow-control requests the node must answer, or objects larger than a
// few chunks stall. Any consumer on its own bucket is harmless, so the
// consumer name and filter are wildcards.
func snapshotAPISubjects(partitionID string) []string {
	stream := ObjectStream(natsutil.SnapshotBucket(partitionID))
	return []string{
		jsAPI + "STREAM.INFO." + stream,
		jsAPI + "DIRECT.GET." + stream + ".>",
		jsAPI + "CONSUMER.CREATE." + stream + ".>",
		jsAPI + "CONSUMER.DELETE." + stream + ".*",
		"$JS.FC." + stream + ".>",
	}
}

// ObjectStream is the JetStream stream behind an Object Store bucket.
func ObjectStream(bucket string) string {
	return "OBJ_" + bucket
}

// checkToken accepts ids that are safe as one subject token and inside
// stream and bucket names: letters, digits, '_' and '-'.
func checkToken(field, v string) error {
	if v == "" {
		return fmt.Errorf("natsauth: %s: required", field)
	}
	if len(v) > 64 {
		return fmt.Errorf("natsauth: %s %q: longer than 64 characters", field, v)
	}
	for _, r := range v {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
		default:
			return fmt.Errorf("natsauth: %s %q: only letters, digits, '_' and '-' are allowed", field, v)
		}
	}
	return nil
}
