package config

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// Id prefixes. An id is prefix + 16 lower-case base32 characters (80 random
// bits), so it is safe in stream names, NATS subjects and bucket names.
const (
	prefixPartition = "part_"
	prefixCluster   = "clu_"
	prefixNode      = "node_"
	prefixApp       = "app_"
	prefixUpstream  = "ups_"
	prefixRule      = "rule_"
	prefixEvent     = "evt_"
)

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return prefix + strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// Stream names of the aggregates.
func partitionStream(id string) string { return "partition." + id }
func clusterStream(id string) string   { return "cluster." + id }
func nodeStream(id string) string      { return "node." + id }
func appStream(id string) string       { return "app." + id }
