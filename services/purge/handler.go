package purge

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/gen/strata/purge/v1/purgev1connect"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/ids"
	"github.com/strata-edge/strata/pkg/listfilter"
	"github.com/strata-edge/strata/pkg/natsutil"
)

const prefixPurge = "prg_"

type handler struct{ s *Service }

func (h *handler) CreatePurge(ctx context.Context, req *purgev1.CreatePurgeRequest) (*purgev1.CreatePurgeResponse, error) {
	p, err := h.s.Create(ctx, req)
	return apierr.Reply(h.s.log, &purgev1.CreatePurgeResponse{Purge: p}, err)
}

func (h *handler) GetPurge(ctx context.Context, req *purgev1.GetPurgeRequest) (*purgev1.GetPurgeResponse, error) {
	p, err := find(ctx, h.s, "purge", req.GetId(), h.s.model.view)
	return apierr.Reply(h.s.log, &purgev1.GetPurgeResponse{Purge: p}, err)
}

// find looks up purge or push id, catching up with the log when it is not
// known: it may have been created a moment ago on another replica.
func find[T any](ctx context.Context, s *Service, kind, id string, view func(string) (T, bool)) (T, error) {
	v, ok := view(id)
	if !ok && s.model.CatchUp(ctx, s.opts.Store) == nil {
		v, ok = view(id)
	}
	if !ok {
		return v, apierr.NotFound(kind, id)
	}
	return v, nil
}

func (h *handler) ListPurges(_ context.Context, req *purgev1.ListPurgesRequest) (*purgev1.ListPurgesResponse, error) {
	pg, err := listfilter.Start(purgeSchema, listfilter.Request{PageSize: req.GetPageSize(), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, apierr.ToConnect(err)
	}
	resp := &purgev1.ListPurgesResponse{}
	resp.Purges, resp.NextPageToken = h.s.model.list(pg)
	return resp, nil
}

// Create validates a purge, records it, and publishes its command to every
// partition of its scope. The nodes it waits for are the scope's nodes
// online now.
func (s *Service) Create(ctx context.Context, req *purgev1.CreatePurgeRequest) (*purgev1.Purge, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	parts, err := s.partitions(ctx, req.GetScope())
	if err != nil {
		return nil, err
	}
	online := s.onlineNodes()
	id := ids.New(prefixPurge)
	now := s.opts.Now().UTC()
	msg := requested(id, req, parts, online, now)
	if err := s.send(ctx, "purge", id, msg, msg.GetCommand(), parts); err != nil {
		return nil, err
	}
	s.log.Info("purge sent", "purge", id, "kind", req.GetKind(), "values", len(req.GetValues()),
		"partitions", len(parts), "nodes", len(msg.GetExpectedNodeIds()))
	v, _ := s.model.view(id)
	return v, nil
}

// onlineNodes maps the nodes online now to their partitions: the nodes a
// purge or push waits for.
func (s *Service) onlineNodes() map[string]string {
	online := map[string]string{}
	for id, st := range s.opts.Nodes.NodeStatuses() {
		if p, ok := s.opts.Topology.NodePartition(id); ok && st.Online {
			online[id] = p
		}
	}
	return online
}

// send records msg, the request of purge or push id, and publishes cmd to
// every partition in parts (the message id makes a retried publish land
// once). Only the reply needs the read model, so it then waits for it: the
// nodes do not (acks that overtake the event are kept until it is folded).
func (s *Service) send(ctx context.Context, what, id string, msg, cmd proto.Message, parts []string) error {
	typ, data, err := registry.Encode(msg)
	if err != nil {
		return err
	}
	if err := apierr.CheckEventSize(msg, data); err != nil {
		return err
	}
	stored, err := s.opts.Store.Append(ctx, streamOf(id), 0, eventstore.Event{
		ID: "req_" + id, Type: typ, Data: data,
		Metadata: eventstore.Metadata{Actor: apiauth.Actor(ctx), RequestID: apiauth.RequestID(ctx), Time: s.opts.Now().UTC()},
	})
	if err != nil {
		return fmt.Errorf("record %s: %w", what, err)
	}
	b, err := proto.Marshal(cmd)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := s.opts.JetStream.Publish(ctx, natsutil.PurgeSubject(p), b, jetstream.WithMsgID(id+"."+p)); err != nil {
			return fmt.Errorf("%s %s recorded but not sent to partition %s: %w", what, id, p, err)
		}
	}
	return s.model.WaitFor(ctx, stored[0].Position)
}

// partitions resolves a scope to partition ids, sorted.
func (s *Service) partitions(ctx context.Context, sc *purgev1.Scope) ([]string, error) {
	switch t := sc.GetTarget().(type) {
	case *purgev1.Scope_AppId:
		obj, err := s.opts.Topology.ResolveObject(ctx, authz.KindApp, t.AppId)
		if errors.Is(err, authz.ErrUnknownObject) {
			return nil, apierr.NotFound("app", t.AppId)
		}
		if err != nil {
			return nil, err
		}
		return appPartitions(t.AppId, obj.Parents)
	case *purgev1.Scope_PartitionId:
		id, ok := s.opts.Topology.ResolvePartition(t.PartitionId)
		if !ok {
			return nil, apierr.NotFound("partition", t.PartitionId)
		}
		return []string{id}, nil
	default: // all (validated)
		parts := s.opts.Topology.PartitionIDs()
		if len(parts) == 0 {
			return nil, apierr.FailedPrecondition("there is no partition: nothing to purge")
		}
		return parts, nil
	}
}

var _ purgev1connect.PurgeServiceHandler = (*handler)(nil)
