package edgesync

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// A delta larger than a quarter of the server's max payload travels by
// reference: the whole delta goes to the partition's Object Store bucket
// (chunked, any size) and the stream gets a small Delta naming it.
const (
	// maxDeltaObjects bounds the referenced deltas kept per track: a node
	// further behind re-syncs from the snapshot.
	maxDeltaObjects = 16
	// publishAttempts bounds how often one delta is tried before the track
	// moves on without it (its nodes re-sync from the snapshot).
	publishAttempts = 8
)

// inlineLimit is the largest delta published as one message.
func (p *Publisher) inlineLimit() int {
	if p.inline > 0 {
		return p.inline
	}
	if nc := p.js.Conn(); nc != nil && nc.MaxPayload() > 0 {
		return int(nc.MaxPayload() / 4)
	}
	return 256 << 10
}

// encode returns the message that carries d: d itself, or a reference to
// d stored in the bucket when d is larger than inlineLimit.
func (p *Publisher) encode(ctx context.Context, k Key, d *syncv1.Delta) ([]byte, error) {
	data, err := proto.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode delta %d: %w", d.ToVersion, err)
	}
	if len(data) <= p.inlineLimit() {
		return data, nil
	}
	obs, err := p.bucket(ctx, k.Partition)
	if err != nil {
		return nil, err
	}
	name := natsutil.DeltaObjectKey(k.Staging, d.ToVersion)
	if _, err := obs.PutBytes(ctx, name, data); err != nil {
		return nil, fmt.Errorf("put delta %d (%d bytes) as %s: %w", d.ToVersion, len(data), name, err)
	}
	p.prune(ctx, obs, k)
	return proto.Marshal(reference(d, name))
}

// reference is the small Delta naming object in place of d's content. Also
// published for a delta given up on (its object may not exist): nodes at
// its from_version then re-sync from the snapshot.
func reference(d *syncv1.Delta, object string) *syncv1.Delta {
	return &syncv1.Delta{
		PartitionId: d.PartitionId, Staging: d.Staging,
		FromVersion: d.FromVersion, ToVersion: d.ToVersion,
		LegacyGuard: d.LegacyGuard, LegacyGuardIds: d.LegacyGuardIds,
		CreatedAt: d.CreatedAt, Schema: d.Schema, Object: object,
	}
}

// prune deletes the track's referenced deltas beyond the newest
// maxDeltaObjects and those older than the stream keeps deltas (best
// effort: the next put prunes again).
func (p *Publisher) prune(ctx context.Context, obs jetstream.ObjectStore, k Key) {
	list, err := obs.List(ctx)
	if err != nil {
		p.logger.Warn("list referenced deltas", "partition", k.Partition, "err", err)
		return
	}
	type obj struct {
		name    string
		version uint64
		at      time.Time
	}
	var objs []obj
	prefix := natsutil.DeltaObjectPrefix(k.Staging)
	for _, info := range list {
		v, err := strconv.ParseUint(strings.TrimPrefix(info.Name, prefix), 10, 64)
		if strings.HasPrefix(info.Name, prefix) && err == nil {
			objs = append(objs, obj{info.Name, v, info.ModTime})
		}
	}
	slices.SortFunc(objs, func(a, b obj) int { return cmp.Compare(b.version, a.version) }) // newest first
	for i, o := range objs {
		if i < maxDeltaObjects && time.Since(o.at) < syncMaxAge {
			continue
		}
		if err := obs.Delete(ctx, o.name); err != nil {
			p.logger.Warn("delete referenced delta", "partition", k.Partition, "object", o.name, "err", err)
		}
	}
}

// Err tells why the newest version of track k did not reach the stream as
// it should have (empty when it did): the last failed attempt, or the delta
// given up on, until a later delta is published.
func (p *Publisher) Err(k Key) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pt := p.tracks[k]; pt != nil {
		return pt.err
	}
	return ""
}
