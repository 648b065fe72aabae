package waf

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/waf/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/ids"
	"github.com/strata-edge/strata/services/edgesync"
)

// Challenge keys: each partition has its own HMAC key that signs the
// clearance cookies of the challenge action (node/challenge). A rotation
// (ChallengeKeyRotated, stream ChallengeKeyStream) makes a new
// random key current; the partition's tracks (stable and staging) hold the
// current and the previous key (kind "challenge_key"), so a cookie signed
// just before a rotation keeps verifying. The secret is sealed for the
// partition's node key-encryption key (derived from the control KEK, as
// certificate keys are) when it is made, and never stored in clear.

// KindChallengeKey is the sync kind of challenge keys (node/store/kinds.go).
const KindChallengeKey = "challenge_key"

// Challenge key rotation.
const (
	// DefaultChallengeKeyEvery is how often each partition's key rotates.
	DefaultChallengeKeyEvery = 24 * time.Hour
	// challengeKeysKept: the current key and the previous one; a key is
	// valid for two periods (a cookie lives at most 24 h).
	challengeKeysKept = 2
	challengeSecret   = 32
	prefixChallenge   = "wck_"
)

var challengeKeySyncKind = edgesync.Kind{Name: KindChallengeKey, View: func(s *syncv1.Snapshot, objs []proto.Message) {
	s.ChallengeKeys = edgesync.As[*wafv1.ChallengeKey](objs)
}}

// challengeKeys are a partition's keys, newest first.
type challengeKeys struct {
	keys []*wafv1.ChallengeKey
}

// foldChallengeKey keeps the partition's newest keys and sends them to its
// tracks; the key that falls out is removed from them.
func (st *state) foldChallengeKey(e eventstore.Event, m *ev.ChallengeKeyRotated) {
	p := m.GetPartitionId()
	if p == "" {
		return
	}
	if st.challenge == nil {
		st.challenge = map[string]*challengeKeys{}
	}
	ck := st.challenge[p]
	if ck == nil {
		ck = &challengeKeys{}
		st.challenge[p] = ck
	}
	st.challengeVersion = e.Position
	k := &wafv1.ChallengeKey{Id: m.GetKeyId(), Key: m.GetKey(), NotBefore: m.GetNotBefore(), NotAfter: m.GetNotAfter()}
	ck.keys = append([]*wafv1.ChallengeKey{k}, ck.keys...)
	var dropped []*wafv1.ChallengeKey
	if len(ck.keys) > challengeKeysKept {
		dropped = ck.keys[challengeKeysKept:]
		ck.keys = slices.Clip(ck.keys[:challengeKeysKept])
	}
	if st.sync == nil {
		return
	}
	var changes []edgesync.Change
	for _, staging := range []bool{false, true} {
		changes = append(changes, edgesync.Change{Kind: KindChallengeKey, ID: k.GetId(), Staging: staging, Values: map[string]proto.Message{p: k}})
		for _, d := range dropped {
			changes = append(changes, edgesync.Change{Kind: KindChallengeKey, ID: d.GetId(), Staging: staging})
		}
	}
	st.sync.Apply(e.Position, e.Metadata.Time, changes...)
}

// ChallengeKeys returns a partition's keys, newest first (secrets sealed).
func (s *Service) ChallengeKeys(partition string) []*wafv1.ChallengeKey {
	var out []*wafv1.ChallengeKey
	s.proj.Read(func(st *state) {
		if ck := st.challenge[partition]; ck != nil {
			out = slices.Clone(ck.keys)
		}
	})
	return out
}

// RotateChallengeKeys makes a new key current on each of partitions (ids;
// every partition when empty). A partition another replica rotated at the
// same moment keeps that one.
func (s *Service) RotateChallengeKeys(ctx context.Context, partitions []string) ([]*wafv1.ChallengeKeyInfo, error) {
	if s.opts.KEK == nil {
		return nil, apierr.FailedPrecondition("waf: no key-encryption key (the service runs without Options.KEK): challenge keys cannot be sealed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	if len(partitions) == 0 {
		s.proj.Read(func(st *state) {
			for p := range st.partitions {
				partitions = append(partitions, p)
			}
		})
		slices.Sort(partitions)
	}
	var out []*wafv1.ChallengeKeyInfo
	for _, p := range partitions {
		info, err := s.rotate(ctx, p)
		if errors.Is(err, eventstore.ErrConflict) {
			continue // rotated by another replica just now
		}
		if err != nil {
			return out, err
		}
		out = append(out, info)
	}
	return out, nil
}

func (s *Service) rotate(ctx context.Context, partition string) (*wafv1.ChallengeKeyInfo, error) {
	var expected uint64
	s.proj.Read(func(st *state) { expected = st.challengeVersion })
	nodeKEK, err := s.opts.KEK.Derive("partition/" + partition) // the nodes' KEK (services/cert.NodeKeyring)
	if err != nil {
		return nil, err
	}
	secret := make([]byte, challengeSecret)
	_, _ = rand.Read(secret)
	defer clear(secret)
	id := ids.New(prefixChallenge)
	env, err := nodeKEK.Seal(id, 1, secret)
	if err != nil {
		return nil, fmt.Errorf("waf: seal challenge key for partition %s: %w", partition, err)
	}
	now := s.now().UTC()
	every := s.challengeEvery()
	m := &ev.ChallengeKeyRotated{KeyId: id, PartitionId: partition,
		Key:       &certv1.WrappedKey{KekId: env.KEKID, WrappedDataKey: env.WrappedDataKey, Ciphertext: env.Ciphertext, KeyVersion: 1},
		NotBefore: timestamppb.New(now), NotAfter: timestamppb.New(now.Add(challengeKeysKept * max(every, DefaultChallengeKeyEvery)))}
	if _, err := s.appendAndWait(ctx, ChallengeKeyStream, expected, []proto.Message{m}); err != nil {
		return nil, err
	}
	return &wafv1.ChallengeKeyInfo{PartitionId: partition, KeyId: id, NotBefore: m.GetNotBefore(), NotAfter: m.GetNotAfter()}, nil
}

func (s *Service) challengeEvery() time.Duration {
	if s.opts.ChallengeKeyEvery > 0 {
		return s.opts.ChallengeKeyEvery
	}
	return DefaultChallengeKeyEvery
}

// due are the partitions whose current key is missing or older than the
// rotation period at now.
func (st *state) due(now time.Time, every time.Duration) []string {
	var out []string
	for p := range st.partitions {
		ck := st.challenge[p]
		if ck == nil || len(ck.keys) == 0 || !now.Before(ck.keys[0].GetNotBefore().AsTime().Add(every)) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// challengeKeyCheck is how often the loop looks for partitions due (a
// new partition gets its key within it).
const challengeKeyCheck = 5 * time.Second

// rotateChallengeKeys is the background loop: it gives each partition a
// key (at start, and a new partition soon after it appears) and rotates
// every period; every replica runs it, the expected version lets one of
// them win.
func (s *Service) rotateChallengeKeys(ctx context.Context) {
	t := time.NewTicker(min(challengeKeyCheck, s.challengeEvery()))
	defer t.Stop()
	for {
		var due []string
		s.proj.Read(func(st *state) { due = st.due(s.now(), s.challengeEvery()) })
		if len(due) > 0 {
			if _, err := s.RotateChallengeKeys(ctx, due); err != nil && ctx.Err() == nil {
				s.log.Warn("waf: rotate challenge keys", "partitions", due, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RotateChallengeKey is the RPC.
func (h *handler) RotateChallengeKey(ctx context.Context, req *wafv1.RotateChallengeKeyRequest) (*wafv1.RotateChallengeKeyResponse, error) {
	parts, err := h.s.resolvePartitions(req.GetPartitionIds())
	if err != nil {
		return nil, h.fail(err)
	}
	keys, err := h.s.RotateChallengeKeys(ctx, parts)
	if err != nil {
		return nil, h.fail(err)
	}
	return &wafv1.RotateChallengeKeyResponse{Keys: keys}, nil
}
