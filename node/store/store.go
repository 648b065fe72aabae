// Package store is the edge node's local, transactional copy of the config it
// runs (static stability): the last applied snapshot survives restarts and
// lets the node serve while the control plane or its link is down.
//
// Layout (bbolt, one file):
//
//	meta/header      syncv1.Snapshot without apps: partition, track, version, created_at
//	meta/stream_seq  uint64: stream sequence of the last applied delta
//	meta/applied_at  int64: unix nanoseconds of the last write
//	apps/<app id>    strata.config.v1.App, one key per app
//	zones/<zone id>  strata.dns.v1.Zone, one key per released DNS zone
//	certs/<cert id>  strata.cert.v1.SyncedCertificate, private key still wrapped
//	clusters/<id>    strata.config.v1.Cluster, settings of the partition's clusters
//
// One key per object keeps a delta write O(change).
package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

// ErrGap is returned by ApplyDelta when the delta does not start at the
// stored version (or nothing is stored yet): applying it would skip changes.
// The caller re-syncs from a full snapshot; nothing was written.
var ErrGap = errors.New("store: delta does not start at the stored version")

var (
	bucketMeta     = []byte("meta")
	bucketApps     = []byte("apps")
	bucketZones    = []byte("zones")
	bucketCerts    = []byte("certs")
	bucketClusters = []byte("clusters")

	keyHeader    = []byte("header")
	keyStreamSeq = []byte("stream_seq")
	keyAppliedAt = []byte("applied_at")
)

// marshal is deterministic so that the same snapshot always gives the same
// bytes (labels are a map).
var marshal = proto.MarshalOptions{Deterministic: true}

// Meta describes the stored snapshot.
type Meta struct {
	// Version of the stored snapshot.
	Version uint64
	// StreamSeq is the stream sequence of the last applied delta: catching
	// up starts at StreamSeq+1. Zero means unknown (start at the oldest
	// retained delta).
	StreamSeq uint64
	// AppliedAt is when the stored snapshot was written.
	AppliedAt time.Time
}

// Store is a node's local config store. It is safe for concurrent use.
type Store struct {
	db *bolt.DB

	mu   sync.Mutex
	cur  *syncv1.Snapshot // the stored snapshot, apps sorted by id; never mutated
	meta Meta
}

// Open opens (or creates) the store file at path. It fails after a second
// when another process holds the file.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketApps, bucketZones, bucketCerts, bucketClusters} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: create buckets in %s: %w", path, err)
	}
	s := &Store{db: db}
	if err := db.View(func(tx *bolt.Tx) error {
		s.cur, s.meta, err = read(tx)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: read %s: %w", path, err)
	}
	return s, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Load returns the stored snapshot and its meta, or a nil snapshot when
// nothing was stored yet. The snapshot is shared and must not be modified.
func (s *Store) Load() (*syncv1.Snapshot, Meta, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur, s.meta, nil
}

// SaveSnapshot replaces the stored config with snap, whose newest delta is at
// streamSeq (0 when unknown), in one transaction. snap is not modified.
func (s *Store) SaveSnapshot(snap *syncv1.Snapshot, streamSeq uint64) error {
	if snap == nil {
		return errors.New("store: snapshot: required")
	}
	apps, err := sortedApps(snap.GetApps())
	if err != nil {
		return fmt.Errorf("store: snapshot %d: %w", snap.GetVersion(), err)
	}
	zones, err := sortedZones(snap.GetZones())
	if err != nil {
		return fmt.Errorf("store: snapshot %d: %w", snap.GetVersion(), err)
	}
	certs, err := sortedByID(snap.GetCertificates(), "certificates")
	if err != nil {
		return fmt.Errorf("store: snapshot %d: %w", snap.GetVersion(), err)
	}
	clusters, err := sortedByID(snap.GetClusters(), "clusters")
	if err != nil {
		return fmt.Errorf("store: snapshot %d: %w", snap.GetVersion(), err)
	}
	next := &syncv1.Snapshot{
		PartitionId:  snap.GetPartitionId(),
		Staging:      snap.GetStaging(),
		Version:      snap.GetVersion(),
		Apps:         apps,
		Zones:        zones,
		Certificates: certs,
		Clusters:     clusters,
		CreatedAt:    snap.GetCreatedAt(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketApps); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		b, err := tx.CreateBucket(bucketApps)
		if err != nil {
			return err
		}
		for _, app := range apps {
			v, err := marshal.Marshal(app)
			if err != nil {
				return fmt.Errorf("encode app %q: %w", app.GetId(), err)
			}
			if err := b.Put([]byte(app.GetId()), v); err != nil {
				return err
			}
		}
		if err := tx.DeleteBucket(bucketZones); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		zb, err := tx.CreateBucket(bucketZones)
		if err != nil {
			return err
		}
		if err := putZones(zb, zones); err != nil {
			return err
		}
		if err := tx.DeleteBucket(bucketCerts); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		cb, err := tx.CreateBucket(bucketCerts)
		if err != nil {
			return err
		}
		if err := putByID(cb, certs, "certificate"); err != nil {
			return err
		}
		if err := tx.DeleteBucket(bucketClusters); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		clb, err := tx.CreateBucket(bucketClusters)
		if err != nil {
			return err
		}
		if err := putByID(clb, clusters, "cluster"); err != nil {
			return err
		}
		return writeMeta(tx, next, streamSeq, now)
	})
	if err != nil {
		return fmt.Errorf("store: save snapshot %d: %w", snap.GetVersion(), err)
	}
	s.cur = next
	s.meta = Meta{Version: next.GetVersion(), StreamSeq: streamSeq, AppliedAt: now}
	return nil
}

// ApplyDelta applies d, found at stream sequence streamSeq, in one
// transaction and returns the resulting snapshot (shared, never modified).
// It returns ErrGap, and writes nothing, unless d starts at the stored
// version.
func (s *Store) ApplyDelta(d *syncv1.Delta, streamSeq uint64) (*syncv1.Snapshot, error) {
	if err := validateDelta(d); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cur
	if cur == nil {
		return nil, fmt.Errorf("%w: delta %d->%d, nothing stored", ErrGap, d.GetFromVersion(), d.GetToVersion())
	}
	if d.GetPartitionId() != cur.GetPartitionId() || d.GetStaging() != cur.GetStaging() {
		return nil, fmt.Errorf("store: delta partition_id %q staging %v: stored snapshot is partition_id %q staging %v",
			d.GetPartitionId(), d.GetStaging(), cur.GetPartitionId(), cur.GetStaging())
	}
	if d.GetFromVersion() != cur.GetVersion() {
		return nil, fmt.Errorf("%w: delta %d->%d, stored %d", ErrGap, d.GetFromVersion(), d.GetToVersion(), cur.GetVersion())
	}
	next := &syncv1.Snapshot{
		PartitionId:  cur.GetPartitionId(),
		Staging:      cur.GetStaging(),
		Version:      d.GetToVersion(),
		Apps:         mergeApps(cur.GetApps(), d.GetUpserts(), d.GetDeletes()),
		Zones:        mergeZones(cur.GetZones(), d.GetZoneUpserts(), d.GetZoneDeletes()),
		Certificates: mergeByID(cur.GetCertificates(), d.GetCertUpserts(), d.GetCertDeletes()),
		Clusters:     mergeByID(cur.GetClusters(), d.GetClusterUpserts(), nil),
		CreatedAt:    d.GetCreatedAt(),
	}
	now := time.Now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketApps)
		for _, id := range d.GetDeletes() {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		for _, app := range d.GetUpserts() {
			v, err := marshal.Marshal(app)
			if err != nil {
				return fmt.Errorf("encode app %q: %w", app.GetId(), err)
			}
			if err := b.Put([]byte(app.GetId()), v); err != nil {
				return err
			}
		}
		zb := tx.Bucket(bucketZones)
		for _, id := range d.GetZoneDeletes() {
			if err := zb.Delete([]byte(id)); err != nil {
				return err
			}
		}
		if err := putZones(zb, d.GetZoneUpserts()); err != nil {
			return err
		}
		cb := tx.Bucket(bucketCerts)
		for _, id := range d.GetCertDeletes() {
			if err := cb.Delete([]byte(id)); err != nil {
				return err
			}
		}
		if err := putByID(cb, d.GetCertUpserts(), "certificate"); err != nil {
			return err
		}
		if err := putByID(tx.Bucket(bucketClusters), d.GetClusterUpserts(), "cluster"); err != nil {
			return err
		}
		return writeMeta(tx, next, streamSeq, now)
	})
	if err != nil {
		return nil, fmt.Errorf("store: apply delta %d->%d: %w", d.GetFromVersion(), d.GetToVersion(), err)
	}
	s.cur = next
	s.meta = Meta{Version: next.GetVersion(), StreamSeq: streamSeq, AppliedAt: now}
	return next, nil
}

// validateDelta rejects a delta that cannot be applied whatever is stored.
func validateDelta(d *syncv1.Delta) error {
	if d == nil {
		return errors.New("store: delta: required")
	}
	if d.GetToVersion() <= d.GetFromVersion() {
		return fmt.Errorf("store: delta to_version %d: must be greater than from_version %d", d.GetToVersion(), d.GetFromVersion())
	}
	upserted := make(map[string]bool, len(d.GetUpserts()))
	for i, app := range d.GetUpserts() {
		switch {
		case app.GetId() == "":
			return fmt.Errorf("store: delta upserts[%d].id: required", i)
		case upserted[app.GetId()]:
			return fmt.Errorf("store: delta upserts[%d].id %q: duplicate", i, app.GetId())
		}
		upserted[app.GetId()] = true
	}
	for i, id := range d.GetDeletes() {
		switch {
		case id == "":
			return fmt.Errorf("store: delta deletes[%d]: empty app id", i)
		case upserted[id]:
			return fmt.Errorf("store: delta deletes[%d] %q: also upserted", i, id)
		}
	}
	zoneUpserted := make(map[string]bool, len(d.GetZoneUpserts()))
	for i, z := range d.GetZoneUpserts() {
		switch {
		case z.GetId() == "":
			return fmt.Errorf("store: delta zone_upserts[%d].id: required", i)
		case zoneUpserted[z.GetId()]:
			return fmt.Errorf("store: delta zone_upserts[%d].id %q: duplicate", i, z.GetId())
		}
		zoneUpserted[z.GetId()] = true
	}
	for i, id := range d.GetZoneDeletes() {
		switch {
		case id == "":
			return fmt.Errorf("store: delta zone_deletes[%d]: empty zone id", i)
		case zoneUpserted[id]:
			return fmt.Errorf("store: delta zone_deletes[%d] %q: also upserted", i, id)
		}
	}
	if err := validateIDs(d.GetCertUpserts(), d.GetCertDeletes(), "cert_upserts", "cert_deletes"); err != nil {
		return err
	}
	return validateIDs(d.GetClusterUpserts(), nil, "cluster_upserts", "")
}

// validateIDs checks the upserts and deletes of one object kind in a delta:
// ids present, unique, and never both upserted and deleted.
func validateIDs[T identified](upserts []T, deletes []string, upField, delField string) error {
	seen := make(map[string]bool, len(upserts))
	for i, o := range upserts {
		switch {
		case o.GetId() == "":
			return fmt.Errorf("store: delta %s[%d].id: required", upField, i)
		case seen[o.GetId()]:
			return fmt.Errorf("store: delta %s[%d].id %q: duplicate", upField, i, o.GetId())
		}
		seen[o.GetId()] = true
	}
	for i, id := range deletes {
		switch {
		case id == "":
			return fmt.Errorf("store: delta %s[%d]: empty id", delField, i)
		case seen[id]:
			return fmt.Errorf("store: delta %s[%d] %q: also upserted", delField, i, id)
		}
	}
	return nil
}

// identified is a stored object with an id.
type identified interface {
	proto.Message
	GetId() string
}

// sortedByID returns objs sorted by id, rejecting missing and duplicate ids.
func sortedByID[T identified](objs []T, what string) ([]T, error) {
	out := slices.Clone(objs)
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(a.GetId(), b.GetId()) })
	for i, o := range out {
		if o.GetId() == "" {
			return nil, fmt.Errorf("%s: an object has no id", what)
		}
		if i > 0 && out[i-1].GetId() == o.GetId() {
			return nil, fmt.Errorf("%s: id %q: duplicate", what, o.GetId())
		}
	}
	return out, nil
}

// mergeByID is mergeApps for any kind with ids.
func mergeByID[T identified](cur, upserts []T, deletes []string) []T {
	drop := make(map[string]bool, len(upserts)+len(deletes))
	for _, id := range deletes {
		drop[id] = true
	}
	for _, o := range upserts {
		drop[o.GetId()] = true
	}
	out := make([]T, 0, len(cur)+len(upserts))
	for _, o := range cur {
		if !drop[o.GetId()] {
			out = append(out, o)
		}
	}
	out = append(out, upserts...)
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(a.GetId(), b.GetId()) })
	return out
}

func putByID[T identified](b *bolt.Bucket, objs []T, what string) error {
	for _, o := range objs {
		v, err := marshal.Marshal(o)
		if err != nil {
			return fmt.Errorf("encode %s %q: %w", what, o.GetId(), err)
		}
		if err := b.Put([]byte(o.GetId()), v); err != nil {
			return err
		}
	}
	return nil
}

// sortedZones returns zones sorted by id, rejecting missing and duplicate ids.
func sortedZones(zones []*dnsv1.Zone) ([]*dnsv1.Zone, error) {
	out := slices.Clone(zones)
	slices.SortFunc(out, func(a, b *dnsv1.Zone) int { return strings.Compare(a.GetId(), b.GetId()) })
	for i, z := range out {
		if z.GetId() == "" {
			return nil, errors.New("zones: a zone has no id")
		}
		if i > 0 && out[i-1].GetId() == z.GetId() {
			return nil, fmt.Errorf("zones: id %q: duplicate", z.GetId())
		}
	}
	return out, nil
}

// mergeZones is mergeApps for zones.
func mergeZones(cur, upserts []*dnsv1.Zone, deletes []string) []*dnsv1.Zone {
	drop := make(map[string]bool, len(upserts)+len(deletes))
	for _, id := range deletes {
		drop[id] = true
	}
	for _, z := range upserts {
		drop[z.GetId()] = true
	}
	out := make([]*dnsv1.Zone, 0, len(cur)+len(upserts))
	for _, z := range cur {
		if !drop[z.GetId()] {
			out = append(out, z)
		}
	}
	out = append(out, upserts...)
	slices.SortFunc(out, func(a, b *dnsv1.Zone) int { return strings.Compare(a.GetId(), b.GetId()) })
	return out
}

func putZones(b *bolt.Bucket, zones []*dnsv1.Zone) error {
	for _, z := range zones {
		v, err := marshal.Marshal(z)
		if err != nil {
			return fmt.Errorf("encode zone %q: %w", z.GetId(), err)
		}
		if err := b.Put([]byte(z.GetId()), v); err != nil {
			return err
		}
	}
	return nil
}

// sortedApps returns apps sorted by id (a new slice sharing the apps),
// rejecting missing and duplicate ids.
func sortedApps(apps []*configv1.App) ([]*configv1.App, error) {
	out := slices.Clone(apps)
	slices.SortFunc(out, func(a, b *configv1.App) int { return strings.Compare(a.GetId(), b.GetId()) })
	for i, app := range out {
		if app.GetId() == "" {
			return nil, errors.New("apps: an app has no id")
		}
		if i > 0 && out[i-1].GetId() == app.GetId() {
			return nil, fmt.Errorf("apps: id %q: duplicate", app.GetId())
		}
	}
	return out, nil
}

// mergeApps returns cur (sorted by id) with deletes removed and upserts
// replacing or adding apps, sorted by id. cur is not modified; unchanged apps
// are shared, which is safe because snapshots are immutable.
func mergeApps(cur, upserts []*configv1.App, deletes []string) []*configv1.App {
	drop := make(map[string]bool, len(upserts)+len(deletes))
	for _, id := range deletes {
		drop[id] = true
	}
	for _, app := range upserts {
		drop[app.GetId()] = true
	}
	out := make([]*configv1.App, 0, len(cur)+len(upserts))
	for _, app := range cur {
		if !drop[app.GetId()] {
			out = append(out, app)
		}
	}
	out = append(out, upserts...)
	slices.SortFunc(out, func(a, b *configv1.App) int { return strings.Compare(a.GetId(), b.GetId()) })
	return out
}

func writeMeta(tx *bolt.Tx, snap *syncv1.Snapshot, streamSeq uint64, at time.Time) error {
	header, err := marshal.Marshal(&syncv1.Snapshot{
		PartitionId: snap.GetPartitionId(),
		Staging:     snap.GetStaging(),
		Version:     snap.GetVersion(),
		CreatedAt:   snap.GetCreatedAt(),
	})
	if err != nil {
		return fmt.Errorf("encode header: %w", err)
	}
	b := tx.Bucket(bucketMeta)
	if err := b.Put(keyHeader, header); err != nil {
		return err
	}
	if err := b.Put(keyStreamSeq, binary.BigEndian.AppendUint64(nil, streamSeq)); err != nil {
		return err
	}
	return b.Put(keyAppliedAt, binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())))
}

// read decodes the stored snapshot; nil when nothing was stored.
func read(tx *bolt.Tx) (*syncv1.Snapshot, Meta, error) {
	mb := tx.Bucket(bucketMeta)
	header := mb.Get(keyHeader)
	if header == nil {
		return nil, Meta{}, nil
	}
	snap := &syncv1.Snapshot{}
	if err := proto.Unmarshal(header, snap); err != nil {
		return nil, Meta{}, fmt.Errorf("decode header: %w", err)
	}
	meta := Meta{Version: snap.GetVersion()}
	if v := mb.Get(keyStreamSeq); len(v) == 8 {
		meta.StreamSeq = binary.BigEndian.Uint64(v)
	}
	if v := mb.Get(keyAppliedAt); len(v) == 8 {
		meta.AppliedAt = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
	}
	err := tx.Bucket(bucketApps).ForEach(func(k, v []byte) error {
		app := &configv1.App{}
		if err := proto.Unmarshal(v, app); err != nil {
			return fmt.Errorf("decode app %q: %w", k, err)
		}
		if !bytes.Equal([]byte(app.GetId()), k) {
			return fmt.Errorf("app under key %q has id %q", k, app.GetId())
		}
		snap.Apps = append(snap.Apps, app)
		return nil
	})
	if err != nil {
		return nil, Meta{}, err
	}
	err = tx.Bucket(bucketZones).ForEach(func(k, v []byte) error {
		z := &dnsv1.Zone{}
		if err := proto.Unmarshal(v, z); err != nil {
			return fmt.Errorf("decode zone %q: %w", k, err)
		}
		if !bytes.Equal([]byte(z.GetId()), k) {
			return fmt.Errorf("zone under key %q has id %q", k, z.GetId())
		}
		snap.Zones = append(snap.Zones, z)
		return nil
	})
	if err != nil {
		return nil, Meta{}, err
	}
	err = tx.Bucket(bucketCerts).ForEach(func(k, v []byte) error {
		c := &certv1.SyncedCertificate{}
		if err := proto.Unmarshal(v, c); err != nil {
			return fmt.Errorf("decode certificate %q: %w", k, err)
		}
		if !bytes.Equal([]byte(c.GetId()), k) {
			return fmt.Errorf("certificate under key %q has id %q", k, c.GetId())
		}
		snap.Certificates = append(snap.Certificates, c)
		return nil
	})
	if err != nil {
		return nil, Meta{}, err
	}
	err = tx.Bucket(bucketClusters).ForEach(func(k, v []byte) error {
		c := &configv1.Cluster{}
		if err := proto.Unmarshal(v, c); err != nil {
			return fmt.Errorf("decode cluster %q: %w", k, err)
		}
		if !bytes.Equal([]byte(c.GetId()), k) {
			return fmt.Errorf("cluster under key %q has id %q", k, c.GetId())
		}
		snap.Clusters = append(snap.Clusters, c)
		return nil
	})
	if err != nil {
		return nil, Meta{}, err
	}
	return snap, meta, nil
}
