package config

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// The kinds of resources a track holds, by their names in the sync contract
// (node/store/kinds.go decodes them).
const (
	kindApp         = "app"
	kindZone        = "zone"
	kindCertificate = "certificate"
	kindCluster     = "cluster"
)

// deterministic: equal content, equal payload bytes.
var marshal = proto.MarshalOptions{Deterministic: true}

// resource encodes v, the track's object id of kind, as changed at position
// version, and keeps it for the track's bundle.
func (t *track) resource(kind, id string, v proto.Message, version uint64) *syncv1.Resource {
	b, err := marshal.Marshal(v)
	if err != nil {
		panic(err) // a generated message always encodes
	}
	r := &syncv1.Resource{Kind: kind, Id: id, Version: version, Payload: b}
	t.res[kind+"/"+id] = r
	return r
}

// drop forgets the track's object id of kind and names it for a delta.
func (t *track) drop(kind, id string) *syncv1.ResourceRef {
	delete(t.res, kind+"/"+id)
	return &syncv1.ResourceRef{Kind: kind, Id: id}
}

// bundle is the wire form of the track's snapshot s: every resource, sorted
// by kind, then id.
func (t *track) bundle(s *syncv1.Snapshot) *syncv1.Bundle {
	b := &syncv1.Bundle{PartitionId: s.PartitionId, Staging: s.Staging, Version: s.Version, CreatedAt: s.CreatedAt,
		Schema: natsutil.SyncSchema, LegacyGuard: legacyGuard()}
	for _, r := range t.res {
		b.Resources = append(b.Resources, r)
	}
	slices.SortFunc(b.Resources, func(x, y *syncv1.Resource) int {
		if c := strings.Compare(x.Kind, y.Kind); c != 0 {
			return c
		}
		return strings.Compare(x.Id, y.Id)
	})
	return b
}

// legacyGuardID names the app a node older than the schema field meets in
// every bundle and delta instead of an empty config: that app twice in a
// bundle, upserted and deleted at once in a delta, both of which its store
// refuses with this id in the error (tested in publish_test.go).
var legacyGuardID = fmt.Sprintf("sync-schema-%d-upgrade-this-node", natsutil.SyncSchema)

func legacyGuard() []*configv1.App {
	return []*configv1.App{{Id: legacyGuardID}, {Id: legacyGuardID}}
}
