package config

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/validate"
	"github.com/strata-edge/strata/services/edgesync"
)

// Dynamic server sets (UpstreamEndpoints): addresses an upstream takes as
// its servers (Upstream.endpoints) that change without a release. Each
// SetEndpoints that changes a set is one event on the set's stream
// "endpoints.<id>" with its actor, so the history exists, but no app
// changes and no release is made: the set goes to the tracks of its
// partitions as its own kind, and the nodes swap the servers of the
// upstreams naming it. Endpoint churn (pods coming and going) thereby
// never fills an app's release history.

// Bounds of a set.
const (
	maxEndpoints       = 1000
	maxEndpointWeight  = 1000
	maxEndpointsID     = 253
	maxEndpointsLabels = 16
	// More partitions than any deployment has; bounds the work of one call.
	maxEndpointsPartitions = 256
)

// endpointsStream is the event stream of one set.
func endpointsStream(id string) string { return "endpoints." + id }

// checkEndpointsID says what is wrong with a set id ("" when nothing): a
// name (it is a stream name segment), up to maxEndpointsID long.
func checkEndpointsID(id string) string { return validate.NameUpTo(id, maxEndpointsID) }

// normalizeEndpoints validates a set (fields under "endpoints.") and returns
// it as stored: partitions resolved to ids, endpoints sorted by address,
// weight 0 as 1, output fields cleared.
func (st *state) normalizeEndpoints(in *configv1.UpstreamEndpoints) (*configv1.UpstreamEndpoints, error) {
	var v apierr.Fields
	if in == nil {
		v.Add("endpoints", "is required")
		return nil, v.Err()
	}
	out := &configv1.UpstreamEndpoints{Id: in.GetId(), Labels: in.GetLabels()}
	v.Add("endpoints.id", checkEndpointsID(in.GetId()))
	switch n := len(in.GetPartitionIds()); {
	case n == 0:
		v.Add("endpoints.partition_ids", "at least one partition is required")
	case n > maxEndpointsPartitions:
		v.Addf("endpoints.partition_ids", "has %d partitions, more than %d", n, maxEndpointsPartitions)
		return nil, v.Err()
	}
	for i, p := range in.GetPartitionIds() {
		id, ok := st.resolvePartition(p)
		switch {
		case !ok:
			v.Addf(index("endpoints.partition_ids", i), "partition %q does not exist", p)
		case slices.Contains(out.PartitionIds, id):
			v.Addf(index("endpoints.partition_ids", i), "partition %q is listed twice", p)
		default:
			out.PartitionIds = append(out.PartitionIds, id)
		}
	}
	slices.Sort(out.PartitionIds)
	if n := len(in.GetEndpoints()); n > maxEndpoints {
		v.Addf("endpoints.endpoints", "has %d endpoints, more than %d", n, maxEndpoints)
	} else {
		seen := map[string]int{}
		for i, e := range in.GetEndpoints() {
			f := index("endpoints.endpoints", i)
			if reason := checkHostPort(e.GetAddress()); reason != "" {
				v.Add(f+".address", reason)
			} else if j, dup := seen[e.GetAddress()]; dup {
				v.Addf(f+".address", "%q is a duplicate of endpoints[%d]", e.GetAddress(), j)
			}
			seen[e.GetAddress()] = i
			if e.GetWeight() > maxEndpointWeight {
				v.Addf(f+".weight", "%d is more than %d", e.GetWeight(), maxEndpointWeight)
			}
			out.Endpoints = append(out.Endpoints, &configv1.Endpoint{Address: e.GetAddress(), Weight: max(e.GetWeight(), 1), Ready: e.GetReady()})
		}
	}
	slices.SortFunc(out.Endpoints, func(a, b *configv1.Endpoint) int { return strings.Compare(a.Address, b.Address) })
	checkLabels(&v, "endpoints.labels", out.Labels, maxEndpointsLabels)
	if err := v.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// foldEndpoints applies a set's event and puts the set on (or takes it
// off) the tracks of its partitions, stable and staging alike: it applies
// without a release.
func (st *state) foldEndpoints(e eventstore.Event, msg proto.Message) {
	var id string
	var values map[string]proto.Message
	switch m := msg.(type) {
	case *ev.EndpointsSet:
		set := proto.CloneOf(m.GetEndpoints())
		set.Version, set.UpdatedAt, set.UpdatedBy = e.Position, timestamppb.New(e.Metadata.Time), e.Metadata.Actor
		id = set.GetId()
		st.endpoints[id] = set
		values = edgesync.Everywhere(set, set.GetPartitionIds())
	case *ev.EndpointsDeleted:
		id = m.GetEndpointsId()
		delete(st.endpoints, id)
	}
	st.endpointsVersion[id] = e.Position // the stream's version, deleted sets too
	for _, staging := range []bool{false, true} {
		st.sync.Apply(e.Position, e.Metadata.Time, edgesync.Change{Kind: kindEndpoints, ID: id, Staging: staging, Values: values})
	}
}

// sameEndpoints reports whether a stored set has the content of a
// normalized one (output fields aside).
func sameEndpoints(stored, set *configv1.UpstreamEndpoints) bool {
	a := proto.CloneOf(stored)
	a.Version, a.UpdatedAt, a.UpdatedBy = 0, nil, ""
	return proto.Equal(a, set)
}

// setEndpoints stores set unless it equals the stored one; it returns the
// set as stored and whether this call wrote it.
func (s *Service) setEndpoints(ctx context.Context, in *configv1.UpstreamEndpoints) (*configv1.UpstreamEndpoints, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return nil, false, err
	}
	for attempt := 0; ; attempt++ {
		var set, stored *configv1.UpstreamEndpoints
		var version uint64
		var err error
		s.proj.Read(func(st *state) {
			if set, err = st.normalizeEndpoints(in); err != nil {
				return
			}
			stored, version = st.endpoints[set.Id], st.endpointsVersion[set.Id]
		})
		if err != nil {
			return nil, false, err
		}
		if stored != nil && sameEndpoints(stored, set) {
			return stored, false, nil // consecutive identical sets write nothing
		}
		msg := &ev.EndpointsSet{Endpoints: set}
		if data, err := proto.Marshal(msg); err != nil {
			return nil, false, err
		} else if err := apierr.CheckEventSize(msg, data); err != nil {
			return nil, false, err
		}
		_, err = s.appendAndWait(ctx, endpointsStream(set.Id), version, []proto.Message{msg})
		if errors.Is(err, eventstore.ErrConflict) && attempt < 3 {
			if err := s.catchUp(ctx); err != nil {
				return nil, false, err
			}
			continue // another replica wrote the set: compare again
		}
		if err != nil {
			return nil, false, err
		}
		out, _ := s.getEndpoints(set.Id)
		return out, true, nil
	}
}

// deleteEndpoints removes a set.
func (s *Service) deleteEndpoints(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return err
	}
	var version uint64
	found := false
	s.proj.Read(func(st *state) {
		_, found = st.endpoints[id]
		version = st.endpointsVersion[id]
	})
	if !found {
		return apierr.NotFound("endpoints", id)
	}
	_, err := s.appendAndWait(ctx, endpointsStream(id), version, []proto.Message{&ev.EndpointsDeleted{EndpointsId: id}})
	if errors.Is(err, eventstore.ErrConflict) {
		return apierr.Conflict(fmt.Sprintf("endpoints %s changed concurrently; retry", id))
	}
	return err
}

// getEndpoints returns a stored set.
func (s *Service) getEndpoints(id string) (*configv1.UpstreamEndpoints, bool) {
	var out *configv1.UpstreamEndpoints
	s.proj.Read(func(st *state) { out = st.endpoints[id] })
	return out, out != nil
}

// listEndpoints returns the sets whose id starts with prefix, by id.
func (s *Service) listEndpoints(prefix string) []*configv1.UpstreamEndpoints {
	var out []*configv1.UpstreamEndpoints
	s.proj.Read(func(st *state) {
		for id, set := range st.endpoints {
			if strings.HasPrefix(id, prefix) {
				out = append(out, set)
			}
		}
	})
	slices.SortFunc(out, func(a, b *configv1.UpstreamEndpoints) int { return strings.Compare(a.Id, b.Id) })
	return out
}

// SetEndpoints is the RPC.
func (h *handler) SetEndpoints(ctx context.Context, req *configv1.SetEndpointsRequest) (*configv1.SetEndpointsResponse, error) {
	set, changed, err := h.s.setEndpoints(ctx, req.GetEndpoints())
	return apierr.Reply(h.s.logger, &configv1.SetEndpointsResponse{Endpoints: set, Changed: changed}, err)
}

// GetEndpoints is the RPC.
func (h *handler) GetEndpoints(_ context.Context, req *configv1.GetEndpointsRequest) (*configv1.GetEndpointsResponse, error) {
	set, ok := h.s.getEndpoints(req.GetId())
	if !ok {
		return nil, h.fail(apierr.NotFound("endpoints", req.GetId()))
	}
	return &configv1.GetEndpointsResponse{Endpoints: set}, nil
}

// ListEndpoints is the RPC.
func (h *handler) ListEndpoints(_ context.Context, req *configv1.ListEndpointsRequest) (*configv1.ListEndpointsResponse, error) {
	return &configv1.ListEndpointsResponse{Endpoints: h.s.listEndpoints(req.GetIdPrefix())}, nil
}

// DeleteEndpoints is the RPC.
func (h *handler) DeleteEndpoints(ctx context.Context, req *configv1.DeleteEndpointsRequest) (*configv1.DeleteEndpointsResponse, error) {
	err := h.s.deleteEndpoints(ctx, req.GetId())
	return apierr.Reply(h.s.logger, &configv1.DeleteEndpointsResponse{}, err)
}
