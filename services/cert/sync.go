package cert

import (
	"log/slog"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/keywrap"
	"github.com/strata-edge/strata/services/edgesync"
)

// KindCertificate is the kind this service contributes to the partition
// tracks (node/store/kinds.go decodes it): a track holds the certificates
// attached to the apps it holds, keys re-wrapped for the partition's nodes.
const KindCertificate = "certificate"

// kindApp is the config service's kind certificates follow (its name in
// the sync contract).
const kindApp = "app"

var certKind = edgesync.Kind{Name: KindCertificate, View: func(s *syncv1.Snapshot, objs []proto.Message) {
	s.Certificates = edgesync.As[*certv1.SyncedCertificate](objs)
}}

// syncer sends the model's certificates to the tracks. It is the model's
// folder: Handle folds an event, then brings the certificate of a cert
// event in line; apps entering or leaving tracks bring theirs in line.
type syncer struct {
	*Model
	tracks *edgesync.Tracks
	kek    *keywrap.Keyring
	logger *slog.Logger
	// wrapped is each certificate wrapped for one partition (id + " " +
	// partition) and the Source it was made from: wrapping again (new
	// nonces) would change the bytes and make a delta of nothing. Only the
	// fold goroutine uses it.
	wrapped map[string]wrappedCert
}

type wrappedCert struct {
	src, w *certv1.SyncedCertificate
}

// contribute makes m's certificates reach tracks.
func contribute(tracks *edgesync.Tracks, m *Model, kek *keywrap.Keyring, logger *slog.Logger) {
	s := &syncer{Model: m, tracks: tracks, kek: kek, logger: logger, wrapped: map[string]wrappedCert{}}
	tracks.Contribute(s, certKind)
	tracks.Watch(kindApp, func(pos uint64, at time.Time, apps []string) {
		var ids []string
		for _, a := range apps {
			ids = append(ids, m.AttachedTo(a)...)
		}
		slices.Sort(ids)
		s.sync(slices.Compact(ids), pos, at)
	})
}

// Handle folds e and syncs the certificate it is about.
func (s *syncer) Handle(e eventstore.Event) error {
	if err := s.Apply(e); err != nil || !registry.Has(e.Type) {
		return err
	}
	s.sync([]string{strings.TrimPrefix(e.Stream, "cert.")}, e.Position, e.Metadata.Time)
	return nil
}

// sync brings every track's certificates in line for the certificates
// ids: a track holds a certificate (with a key) attached to one of its apps.
func (s *syncer) sync(ids []string, pos uint64, at time.Time) {
	if len(ids) == 0 {
		return
	}
	keys := s.tracks.Keys()
	var changes []edgesync.Change
	for _, id := range ids {
		src, ok := s.Source(id)
		for _, staging := range []bool{false, true} {
			c := edgesync.Change{Kind: KindCertificate, ID: id, Staging: staging, Values: map[string]proto.Message{}}
			for _, k := range keys {
				if k.Staging != staging || !ok || !slices.ContainsFunc(src.AppIds, func(a string) bool { return s.tracks.Holds(k, kindApp, a) }) {
					continue
				}
				wk := id + " " + k.Partition
				if w := s.wrapped[wk]; w.src == src {
					c.Values[k.Partition] = w.w
					continue
				}
				w, err := WrapFor(s.kek, src, k.Partition)
				if err != nil {
					s.logger.Error("certificate not synced", "certificate", id, "partition", k.Partition, "err", err)
					continue
				}
				s.wrapped[wk] = wrappedCert{src, w}
				c.Values[k.Partition] = w
			}
			changes = append(changes, c)
		}
	}
	s.tracks.Apply(pos, at, changes...)
}
