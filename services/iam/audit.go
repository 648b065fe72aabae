package iam

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/redact"
)

const (
	defaultAuditPageSize = 100
	maxAuditPageSize     = 1000
	// auditScanBudget bounds the events one call reads; a call that reaches
	// it returns what it found with a page token to go on.
	auditScanBudget = 20000
	auditChunk      = 500
	// auditClockSkew: events are in log order, and their times follow it up
	// to the clock differences of the writers.
	auditClockSkew = time.Minute
)

// auditFilter is a parsed ListAuditEventsRequest.
type auditFilter struct {
	actor, stream, typ string
	since, until       time.Time
}

func (f auditFilter) match(e eventstore.Event) bool {
	return (f.actor == "" || e.Metadata.Actor == f.actor) &&
		segmentPrefix(e.Stream, f.stream) && segmentPrefix(e.Type, f.typ) &&
		(f.since.IsZero() || !e.Metadata.Time.Before(f.since)) &&
		(f.until.IsZero() || !e.Metadata.Time.After(f.until))
}

// segmentPrefix reports whether prefix is s or a prefix of s ending at a '.'.
func segmentPrefix(s, prefix string) bool {
	return prefix == "" || s == prefix || (strings.HasPrefix(s, prefix) && s[len(prefix)] == '.')
}

func (h *handler) ListAuditEvents(ctx context.Context, req *iamv1.ListAuditEventsRequest) (*iamv1.ListAuditEventsResponse, error) {
	f := auditFilter{actor: req.Actor, stream: strings.TrimSuffix(req.Stream, "."), typ: strings.TrimSuffix(req.Type, ".")}
	var vs apierr.Fields
	if req.Since != nil {
		vs.Add("since", checkTimestamp(req.Since.CheckValid()))
		f.since = req.Since.AsTime()
	}
	if req.Until != nil {
		vs.Add("until", checkTimestamp(req.Until.CheckValid()))
		f.until = req.Until.AsTime()
	}
	if !f.since.IsZero() && !f.until.IsZero() && f.until.Before(f.since) {
		vs.Add("until", "is before since")
	}
	size := int(req.PageSize)
	switch {
	case size == 0:
		size = defaultAuditPageSize
	case size > maxAuditPageSize:
		vs.Add("page_size", fmt.Sprintf("must be at most %d", maxAuditPageSize))
	}
	upper, err := h.store.Head(ctx)
	if err != nil {
		return nil, h.fail(err)
	}
	if req.PageToken != "" {
		n, err := strconv.ParseUint(req.PageToken, 10, 64)
		if err != nil || n == 0 {
			vs.Add("page_token", "not a token from a previous response")
		} else {
			upper = min(upper, n-1)
		}
	}
	filter, ferr := auditSchema.Compile(req.Filter)
	if ferr != nil {
		vs.Add("filter", ferr.Error())
	}
	if err := vs.Err(); err != nil {
		return nil, h.fail(err)
	}

	out := &iamv1.ListAuditEventsResponse{}
	checker, _ := authz.CheckerFrom(ctx)
	scanned := 0
	for upper > 0 {
		from := upper - min(upper, auditChunk)
		evs, err := h.store.ReadAll(ctx, from, int(upper-from))
		if err != nil {
			return nil, h.fail(err)
		}
		for i := len(evs) - 1; i >= 0; i-- {
			e := evs[i]
			scanned++
			upper = e.Position - 1
			if !f.since.IsZero() && e.Metadata.Time.Before(f.since.Add(-auditClockSkew)) {
				return out, nil // older than anything asked for: done
			}
			if ae := (*iamv1.AuditEvent)(nil); f.match(e) && h.mayReadEvent(ctx, checker, e) && filter.Match(func() *iamv1.AuditEvent { ae = auditEvent(e); return ae }()) {
				out.Events = append(out.Events, ae)
				if len(out.Events) == size {
					if upper > 0 {
						out.NextPageToken = strconv.FormatUint(e.Position, 10)
					}
					return out, nil
				}
			}
			if scanned >= auditScanBudget && upper > 0 {
				out.NextPageToken = strconv.FormatUint(e.Position, 10)
				return out, nil
			}
		}
		if len(evs) == 0 {
			break
		}
	}
	return out, nil
}

func checkTimestamp(err error) string {
	if err != nil {
		return err.Error()
	}
	return ""
}

// mayReadEvent: IAM events need PermIAMAuditRead over everything; others
// PermAuditRead over the object their stream names ("app.<id>" -> app).
func (s *Service) mayReadEvent(ctx context.Context, c *authz.Checker, e eventstore.Event) bool {
	if c == nil {
		return false
	}
	if strings.HasPrefix(e.Stream, streamPrefix) {
		return c.CanEverywhere(authz.PermIAMAuditRead) && c.CanEverywhere(authz.PermAuditRead)
	}
	if c.CanEverywhere(authz.PermAuditRead) {
		return true
	}
	kind, id, ok := strings.Cut(e.Stream, ".")
	return ok && c.Can(ctx, authz.PermAuditRead, authz.Object{Kind: kind, ID: id})
}

func auditEvent(e eventstore.Event) *iamv1.AuditEvent {
	return &iamv1.AuditEvent{
		Position: e.Position, Id: e.ID, Stream: e.Stream, Type: e.Type, Actor: e.Metadata.Actor,
		RequestId: e.Metadata.RequestID, Time: ts(e.Metadata.Time), CausationId: e.Metadata.CausationID,
		DataJson: payloadJSON(e.Type, e.Data),
	}
}

// payloadJSON renders an event payload of any service as JSON with secrets
// removed, or "" when the payload's message is not linked into this binary.
// Event type ids follow "<service>.<kind>.<what>" -> message
// strata.events.<service>.v1.<Kind><What> (snake_case parts in CamelCase).
func payloadJSON(typ string, data []byte) string {
	name, ok := messageNameOf(typ)
	if !ok {
		return ""
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		return ""
	}
	msg := mt.New().Interface()
	if err := proto.Unmarshal(data, msg); err != nil {
		return ""
	}
	redact.Message(msg.ProtoReflect())
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(msg)
	if err != nil {
		return ""
	}
	return string(b)
}

// messageNameOf maps an event type id to its payload's full message name.
func messageNameOf(typ string) (protoreflect.FullName, bool) {
	parts := strings.Split(typ, ".")
	if len(parts) < 2 || parts[0] == "" {
		return "", false
	}
	var b strings.Builder
	for _, p := range parts[1:] {
		for _, w := range strings.Split(p, "_") {
			if w == "" {
				return "", false
			}
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	name := protoreflect.FullName("strata.events." + parts[0] + ".v1." + b.String())
	return name, name.IsValid()
}
