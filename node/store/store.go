// Package store is the edge node's local, transactional copy of the config it
// runs (static stability): the last applied snapshot survives restarts and
// lets the node serve while the control plane or its link is down.
//
// Layout (bbolt, one file):
//
//	meta/header      syncv1.Snapshot without apps: partition, track, version, created_at
//	meta/stream_seq  uint64: stream sequence of the last applied delta
//	meta/applied_at  int64: unix nanoseconds of the last write
//	<bucket>/<id>    one bucket per kind (kinds.go: apps, zones, certs,
//	                 clusters), the resource's payload under its id
//
// One key per object keeps a delta write O(change). Every kind goes through
// the same code: the kinds table says how to decode it and where it lives in
// the Snapshot view.
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

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

// ErrGap is returned by ApplyDelta when the delta does not start at the
// stored version (or nothing is stored yet): applying it would skip changes.
// The caller re-syncs from a full snapshot; nothing was written.
var ErrGap = errors.New("store: delta does not start at the stored version")

// ErrUpgrade is returned, with nothing written, for a bundle or delta this
// node cannot apply whatever it stores: another sync schema, or a kind of
// resource it does not know. The error says which side to upgrade.
var ErrUpgrade = errors.New("store: upgrade needed")

var (
	bucketMeta = []byte("meta")

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
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: time.Second,
		// A file that grows is mapped again, which first copies every
		// cached node: reserving the address space up front keeps a
		// delta to a million-app store from paying that. Virtual only.
		InitialMmapSize: 1 << 30,
		// The hashmap freelist allocates pages in O(1), not by a scan of
		// the free list (bbolt's own advice for large files).
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketMeta); err != nil {
			return err
		}
		for _, k := range kinds {
			if _, err := tx.CreateBucketIfNotExists(k.bucket); err != nil {
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

// SaveSnapshot stores the view snap (its bundle) like SaveBundle: for a node
// starting empty, tests and tools. snap is not modified.
func (s *Store) SaveSnapshot(snap *syncv1.Snapshot, streamSeq uint64) error {
	if snap == nil {
		return errors.New("store: snapshot: required")
	}
	return s.SaveBundle(BundleOf(snap), streamSeq)
}

// SaveBundle replaces the stored config with b, whose newest delta is at
// streamSeq (0 when unknown), in one transaction. It refuses, writing
// nothing, a bundle of another schema or with a kind this node lacks
// (ErrUpgrade).
func (s *Store) SaveBundle(b *syncv1.Bundle, streamSeq uint64) error {
	if b == nil {
		return errors.New("store: snapshot: required")
	}
	if err := checkSchema(b.GetSchema()); err != nil {
		return fmt.Errorf("store: snapshot %d: %w", b.GetVersion(), err)
	}
	objs, err := decodeResources(b.GetResources(), "resources")
	if err != nil {
		return fmt.Errorf("store: snapshot %d: %w", b.GetVersion(), err)
	}
	next := &syncv1.Snapshot{
		PartitionId: b.GetPartitionId(),
		Staging:     b.GetStaging(),
		Version:     b.GetVersion(),
		CreatedAt:   b.GetCreatedAt(),
	}
	for i, k := range kinds {
		k.set(next, sortByID(objs[i]))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, k := range kinds {
			if err := tx.DeleteBucket(k.bucket); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
				return err
			}
			if _, err := tx.CreateBucket(k.bucket); err != nil {
				return err
			}
		}
		if err := putResources(tx, b.GetResources()); err != nil {
			return err
		}
		return writeMeta(tx, next, streamSeq, now)
	})
	if err != nil {
		return fmt.Errorf("store: save snapshot %d: %w", b.GetVersion(), err)
	}
	s.cur = next
	s.meta = Meta{Version: next.GetVersion(), StreamSeq: streamSeq, AppliedAt: now}
	return nil
}

// ApplyDelta applies d, found at stream sequence streamSeq, in one
// transaction and returns the resulting snapshot (shared, never modified).
// It returns ErrGap, and writes nothing, unless d starts at the stored
// version; ErrUpgrade for another schema or a kind this node lacks.
func (s *Store) ApplyDelta(d *syncv1.Delta, streamSeq uint64) (*syncv1.Snapshot, error) {
	ups, dels, err := validateDelta(d)
	if err != nil {
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
		PartitionId: cur.GetPartitionId(),
		Staging:     cur.GetStaging(),
		Version:     d.GetToVersion(),
		CreatedAt:   d.GetCreatedAt(),
	}
	for i, k := range kinds {
		k.patch(cur, next, ups[i], dels[i])
	}
	now := time.Now()
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, r := range d.GetDeletes() {
			if err := tx.Bucket(kinds[kindIndex(r.GetKind())].bucket).Delete([]byte(r.GetId())); err != nil {
				return err
			}
		}
		if err := putResources(tx, d.GetUpserts()); err != nil {
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

// validateDelta rejects a delta that cannot be applied whatever is stored,
// and returns its upserts decoded and its deletes, by kind.
func validateDelta(d *syncv1.Delta) (decoded, map[int][]string, error) {
	if d == nil {
		return nil, nil, errors.New("store: delta: required")
	}
	if d.GetToVersion() <= d.GetFromVersion() {
		return nil, nil, fmt.Errorf("store: delta to_version %d: must be greater than from_version %d", d.GetToVersion(), d.GetFromVersion())
	}
	if err := checkSchema(d.GetSchema()); err != nil {
		return nil, nil, fmt.Errorf("store: delta %d->%d: %w", d.GetFromVersion(), d.GetToVersion(), err)
	}
	ups, err := decodeResources(d.GetUpserts(), "upserts")
	if err != nil {
		return nil, nil, fmt.Errorf("store: delta %w", err)
	}
	upserted := make(map[string]bool, len(d.GetUpserts()))
	for _, r := range d.GetUpserts() {
		upserted[r.GetKind()+"/"+r.GetId()] = true
	}
	dels := map[int][]string{}
	for i, r := range d.GetDeletes() {
		ki := kindIndex(r.GetKind())
		switch {
		case ki < 0:
			return nil, nil, fmt.Errorf("store: delta %w: deletes[%d].kind %q is unknown to this node: upgrade the node", ErrUpgrade, i, r.GetKind())
		case r.GetId() == "":
			return nil, nil, fmt.Errorf("store: delta deletes[%d]: empty %s id", i, r.GetKind())
		case upserted[r.GetKind()+"/"+r.GetId()]:
			return nil, nil, fmt.Errorf("store: delta deletes[%d] %s %q: also upserted", i, r.GetKind(), r.GetId())
		}
		dels[ki] = append(dels[ki], r.GetId())
	}
	return ups, dels, nil
}

// putResources writes each resource's payload under its id in its kind's
// bucket.
func putResources(tx *bolt.Tx, rs []*syncv1.Resource) error {
	for _, r := range rs {
		if err := tx.Bucket(kinds[kindIndex(r.GetKind())].bucket).Put([]byte(r.GetId()), r.GetPayload()); err != nil {
			return fmt.Errorf("put %s %q: %w", r.GetKind(), r.GetId(), err)
		}
	}
	return nil
}

func sortByID(objs []Object) []Object {
	slices.SortFunc(objs, func(a, b Object) int { return strings.Compare(a.GetId(), b.GetId()) })
	return objs
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
	for _, k := range kinds {
		var objs []Object
		err := tx.Bucket(k.bucket).ForEach(func(key, v []byte) error {
			o, err := k.decode(v)
			if err != nil {
				return fmt.Errorf("decode %s %q: %w", k.name, key, err)
			}
			if !bytes.Equal([]byte(o.GetId()), key) {
				return fmt.Errorf("%s under key %q has id %q", k.name, key, o.GetId())
			}
			objs = append(objs, o)
			return nil
		})
		if err != nil {
			return nil, Meta{}, err
		}
		k.set(snap, objs)
	}
	return snap, meta, nil
}
