// Package edgesync is the one path from the control plane to the nodes: it
// keeps the two tracks (stable, staging) of every partition, folds the
// changes content services contribute into versioned snapshots and deltas
// of the sync contract (proto/strata/sync/v1), publishes them to JetStream
// and tells how far a node lags. It knows no kind: a content service
// registers each kind it contributes (its name and how it appears in the
// Snapshot view) and sends Changes. See docs/architecture.md.
package edgesync

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// Kind is one kind of object a track holds.
type Kind struct {
	// Name in the sync contract (Resource.kind); node/store/kinds.go
	// decodes it.
	Name string
	// View sets the track's objects of the kind (sorted by id) in the
	// Snapshot view the config API and consistency checks read.
	View func(s *syncv1.Snapshot, objs []proto.Message)
}

// As is objs as the kind's message type T, for a Kind's View.
func As[T proto.Message](objs []proto.Message) []T {
	out := make([]T, len(objs))
	for i, o := range objs {
		out[i] = o.(T)
	}
	return out
}

// Change is what a content service contributes: from now on the object ID
// of Kind is Values[p] on the stable (or staging) track of each partition p
// in Values, and absent from every other track of that staging.
type Change struct {
	Kind    string
	ID      string
	Staging bool
	Values  map[string]proto.Message
}

// Everywhere is Values for an object with the same content on each of
// partitions.
func Everywhere(v proto.Message, partitions []string) map[string]proto.Message {
	out := make(map[string]proto.Message, len(partitions))
	for _, p := range partitions {
		out[p] = v
	}
	return out
}

// Key names a track.
type Key struct {
	Partition string
	Staging   bool
}

// Tracks holds every track. Apply is called in event-log order (the
// contributors' projection); readers and the publisher may run at any time.
type Tracks struct {
	logger  *slog.Logger
	publish bool                  // keep deltas in outbox for the publisher
	outbox  *queue[*syncv1.Delta] // of every track, oldest first
	kinds   []Kind
	// folders and watchers are the contributors (feed.go); feed is how far
	// Follow has handed the log to them.
	folders  []Folder
	watchers []watcher
	feed     eventstore.Position
	// fold is held while the folders fold one event: deltas are taken only
	// between events, so a later folder's changes at the same position
	// still join that version's delta (Tracks.move).
	fold sync.Mutex

	mu     sync.RWMutex
	tracks map[Key]*track
}

// track is the state of one partition track: every object as a Resource
// (the wire form) and its value (for the view).
type track struct {
	version   uint64
	createdAt time.Time
	objs      map[string]object // kind + "/" + id
	snap      *syncv1.Snapshot
	history   []trackVersion // newest last, for node lag (lag.go)
}

// object is one object of a track. Both are immutable, so the stable and
// staging tracks of a partition share them when they hold the same value
// (a release that is not staging puts one value on both: one copy of its
// payload instead of two).
type object struct {
	res   *syncv1.Resource
	value proto.Message
}

// New returns empty tracks for kinds; publish keeps deltas for a Publisher.
func New(logger *slog.Logger, publish bool, kinds ...Kind) *Tracks {
	return &Tracks{logger: logger, publish: publish, kinds: kinds,
		tracks: map[Key]*track{}, outbox: newQueue[*syncv1.Delta]()}
}

// Ensure creates both tracks of a partition (version 0, empty).
func (ts *Tracks) Ensure(partition string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, staging := range []bool{false, true} {
		ts.trackFor(Key{partition, staging})
	}
}

func (ts *Tracks) trackFor(k Key) *track {
	t := ts.tracks[k]
	if t == nil {
		t = &track{objs: map[string]object{}}
		ts.tracks[k] = t
	}
	return t
}

// deterministic: equal content, equal payload bytes.
var marshal = proto.MarshalOptions{Deterministic: true}

// Apply folds the changes of the event at position pos (made at time at):
// every track they change moves to version pos with one delta. Changes of
// an event already applied to a track join that version's delta.
func (ts *Tracks) Apply(pos uint64, at time.Time, changes ...Change) {
	ts.mu.Lock()
	moved := ts.apply(pos, at, changes)
	watchers := ts.watchers
	ts.mu.Unlock()
	for _, w := range watchers {
		if ids := moved[w.kind]; len(ids) > 0 {
			w.f(pos, at, ids)
		}
	}
}

// apply folds changes and returns the ids of the objects that moved, by
// kind. Called with ts.mu held.
func (ts *Tracks) apply(pos uint64, at time.Time, changes []Change) map[string][]string {
	moved := map[string][]string{}
	note := func(c Change) {
		if ids := moved[c.Kind]; len(ids) == 0 || ids[len(ids)-1] != c.ID {
			moved[c.Kind] = append(ids, c.ID)
		}
	}
	deltas := map[Key]*syncv1.Delta{}
	delta := func(k Key) *syncv1.Delta {
		if d := deltas[k]; d != nil {
			return d
		}
		d := &syncv1.Delta{}
		deltas[k] = d
		return d
	}
	for _, c := range changes {
		key := c.Kind + "/" + c.ID
		for p, v := range c.Values {
			k := Key{p, c.Staging}
			t := ts.trackFor(k)
			r := ts.resource(Key{p, !c.Staging}, key, c, v, pos)
			if o := t.objs[key]; o.res != nil && string(o.res.Payload) == string(r.Payload) {
				continue
			}
			t.objs[key] = object{r, v}
			d := delta(k)
			d.Upserts = append(d.Upserts, r)
			note(c)
		}
		for k, t := range ts.tracks {
			if k.Staging != c.Staging || c.Values[k.Partition] != nil || t.objs[key].res == nil {
				continue
			}
			delete(t.objs, key)
			d := delta(k)
			d.Deletes = append(d.Deletes, &syncv1.ResourceRef{Kind: c.Kind, Id: c.ID})
			note(c)
		}
	}
	for k, d := range deltas {
		ts.move(k, ts.tracks[k], d, pos, at)
	}
	return moved
}

// resource returns the wire form of object key with value v at version pos,
// shared with the twin track (the other staging of the partition) when that
// holds the same value.
func (ts *Tracks) resource(twin Key, key string, c Change, v proto.Message, pos uint64) *syncv1.Resource {
	var payload []byte
	if t := ts.tracks[twin]; t != nil {
		if o := t.objs[key]; o.value == v {
			if o.res.Version == pos {
				return o.res
			}
			payload = o.res.Payload
		}
	}
	if payload == nil {
		b, err := marshal.Marshal(v)
		if err != nil {
			panic(err) // a generated message always encodes
		}
		payload = b
	}
	return &syncv1.Resource{Kind: c.Kind, Id: c.ID, Version: pos, Payload: payload}
}

// move moves t to version pos by the changes in d and hands d to the
// publisher; when t is at pos already, d joins that version's delta.
func (ts *Tracks) move(k Key, t *track, d *syncv1.Delta, pos uint64, at time.Time) {
	t.snap = nil
	if t.version == pos {
		ts.outbox.Edit(func(ds []*syncv1.Delta) {
			if last := lastOf(ds, k); last != nil && last.ToVersion == pos {
				last.Upserts = append(last.Upserts, d.Upserts...)
				last.Deletes = append(last.Deletes, d.Deletes...)
			}
		})
		return
	}
	d.PartitionId, d.Staging, d.FromVersion, d.ToVersion = k.Partition, k.Staging, t.version, pos
	d.CreatedAt, d.Schema = timestamppb.New(at), natsutil.SyncSchema
	d.LegacyGuard, d.LegacyGuardIds = legacyGuard()[:1], []string{legacyGuardID}
	t.version, t.createdAt = pos, at
	t.remember(pos, at)
	if ts.publish {
		ts.outbox.Push(d)
	}
}

// lastOf returns the newest of ds on track k, or nil.
func lastOf(ds []*syncv1.Delta, k Key) *syncv1.Delta {
	for i := len(ds) - 1; i >= 0; i-- {
		if keyOf(ds[i]) == k {
			return ds[i]
		}
	}
	return nil
}

func keyOf(d *syncv1.Delta) Key { return Key{d.PartitionId, d.Staging} }

// Holds reports whether track k holds the object id of kind.
func (ts *Tracks) Holds(k Key, kind, id string) bool {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	t := ts.tracks[k]
	return t != nil && t.objs[kind+"/"+id].res != nil
}

// Keys returns every track.
func (ts *Tracks) Keys() []Key {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	keys := make([]Key, 0, len(ts.tracks))
	for k := range ts.tracks {
		keys = append(keys, k)
	}
	return keys
}

// Pending returns the deltas of track k not yet taken by a publisher (with
// publish set and no publisher: every delta, for tests and benchmarks).
func (ts *Tracks) Pending(k Key) (out []*syncv1.Delta) {
	ts.outbox.Edit(func(ds []*syncv1.Delta) { out = onTrack(ds, k) })
	return out
}

// Take returns the deltas of track k not yet taken and forgets those of
// every track (benchmarks that run no publisher).
func (ts *Tracks) Take(k Key) []*syncv1.Delta { return onTrack(ts.takeDeltas(), k) }

// takeDeltas empties the outbox once the event being folded is complete.
func (ts *Tracks) takeDeltas() []*syncv1.Delta {
	ts.fold.Lock()
	defer ts.fold.Unlock()
	return ts.outbox.Take()
}

func onTrack(ds []*syncv1.Delta, k Key) []*syncv1.Delta {
	return slices.DeleteFunc(slices.Clone(ds), func(d *syncv1.Delta) bool { return keyOf(d) != k })
}

// Snapshot returns the current immutable snapshot view of a track (nil when
// the partition has no such track).
func (ts *Tracks) Snapshot(partition string, staging bool) *syncv1.Snapshot {
	s, _ := ts.SnapshotAt(Key{partition, staging}, 0)
	return s
}

// SnapshotAt returns the snapshot view of track k and its wire form if the
// track is at version (any version when 0), else nils.
func (ts *Tracks) SnapshotAt(k Key, version uint64) (*syncv1.Snapshot, *syncv1.Bundle) {
	ts.mu.Lock() // builds the snapshot once per version
	defer ts.mu.Unlock()
	t := ts.tracks[k]
	if t == nil || (version != 0 && t.version != version) {
		return nil, nil
	}
	if t.snap == nil {
		t.snap = ts.view(k, t)
	}
	return t.snap, t.bundle(k)
}

func (ts *Tracks) view(k Key, t *track) *syncv1.Snapshot {
	s := &syncv1.Snapshot{PartitionId: k.Partition, Staging: k.Staging, Version: t.version}
	if !t.createdAt.IsZero() {
		s.CreatedAt = timestamppb.New(t.createdAt)
	}
	byKind := map[string][]proto.Message{}
	for _, r := range t.sorted() {
		byKind[r.Kind] = append(byKind[r.Kind], t.objs[r.Kind+"/"+r.Id].value)
	}
	for _, kind := range ts.kinds {
		kind.View(s, byKind[kind.Name])
	}
	return s
}

// sorted returns the track's resources sorted by kind, then id.
func (t *track) sorted() []*syncv1.Resource {
	out := make([]*syncv1.Resource, 0, len(t.objs))
	for _, o := range t.objs {
		out = append(out, o.res)
	}
	slices.SortFunc(out, func(x, y *syncv1.Resource) int {
		if c := strings.Compare(x.Kind, y.Kind); c != 0 {
			return c
		}
		return strings.Compare(x.Id, y.Id)
	})
	return out
}

// bundle is the wire form of the track.
func (t *track) bundle(k Key) *syncv1.Bundle {
	b := &syncv1.Bundle{PartitionId: k.Partition, Staging: k.Staging, Version: t.version,
		Schema: natsutil.SyncSchema, LegacyGuard: legacyGuard(), Resources: t.sorted()}
	if !t.createdAt.IsZero() {
		b.CreatedAt = timestamppb.New(t.createdAt)
	}
	return b
}

// legacyGuardID names the app a node older than the schema field meets in
// every bundle and delta instead of an empty config: that app twice in a
// bundle, upserted and deleted at once in a delta, both of which its store
// refuses with this id in the error (TestOldNodesRefuseSchema2).
var legacyGuardID = fmt.Sprintf("sync-schema-%d-upgrade-this-node", natsutil.SyncSchema)

func legacyGuard() []*configv1.App {
	return []*configv1.App{{Id: legacyGuardID}, {Id: legacyGuardID}}
}

// Runs is what an object's release runs on each track.
type Runs[C comparable] struct{ Stable, Staging C }

// Move sends each track whose content changed from before to after (by
// pointer: released contents are shared and never changed) the new content
// on the partitions values gives (a zero content is removed). ts nil: the
// service sends nothing.
func Move[C interface {
	comparable
	proto.Message
}](ts *Tracks, e eventstore.Event, kind, id string, before, after Runs[C], values func(C) map[string]proto.Message) {
	if ts == nil {
		return
	}
	var zero C
	for _, t := range []struct {
		staging   bool
		prev, cur C
	}{{false, before.Stable, after.Stable}, {true, before.Staging, after.Staging}} {
		if t.prev == t.cur {
			continue
		}
		var vs map[string]proto.Message
		if t.cur != zero {
			vs = values(t.cur)
		}
		ts.Apply(e.Position, e.Metadata.Time, Change{Kind: kind, ID: id, Staging: t.staging, Values: vs})
	}
}
