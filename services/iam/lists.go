package iam

import (
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/pkg/listfilter"
)

// The filterable fields of the IAM service's List RPCs (docs/api.md,
// "Filtering").

func tsTime(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

// timeKey orders by a time, then id.
func timeKey(t *timestamppb.Timestamp, id string) string {
	return listfilter.Key(listfilter.Asc(uint64(tsTime(t).UnixNano())), id)
}

func pageOf(size int32, token, filter, scope string) listfilter.Request {
	return listfilter.Request{PageSize: size, PageToken: token, Filter: filter, Scope: scope}
}

var userSchema = listfilter.Schema[*iamv1.User]{
	"name":         listfilter.String((*iamv1.User).GetName),
	"display_name": listfilter.String((*iamv1.User).GetDisplayName),
	"email":        listfilter.String((*iamv1.User).GetEmail),
	"disabled":     listfilter.Bool((*iamv1.User).GetDisabled),
	"kind":         listfilter.String(func(u *iamv1.User) string { return strings.TrimPrefix(u.GetKind().String(), "USER_KIND_") }),
	"source":       listfilter.String((*iamv1.User).GetSource),
	"groups":       listfilter.Strings((*iamv1.User).GetGroups),
	"has_password": listfilter.Bool((*iamv1.User).GetHasPassword),
	"created_at":   listfilter.Time(func(u *iamv1.User) time.Time { return tsTime(u.GetCreatedAt()) }),
}

var groupSchema = listfilter.Schema[*iamv1.Group]{
	"name":        listfilter.String((*iamv1.Group).GetName),
	"description": listfilter.String((*iamv1.Group).GetDescription),
	"members":     listfilter.Strings((*iamv1.Group).GetMembers),
	"created_at":  listfilter.Time(func(g *iamv1.Group) time.Time { return tsTime(g.GetCreatedAt()) }),
}

var roleSchema = listfilter.Schema[*iamv1.Role]{
	"name":        listfilter.String((*iamv1.Role).GetName),
	"description": listfilter.String((*iamv1.Role).GetDescription),
	"permissions": listfilter.Strings((*iamv1.Role).GetPermissions),
	"built_in":    listfilter.Bool((*iamv1.Role).GetBuiltIn),
}

var permissionSchema = listfilter.Schema[*iamv1.Permission]{
	"name":       listfilter.String((*iamv1.Permission).GetName),
	"procedures": listfilter.Strings((*iamv1.Permission).GetProcedures),
}

var grantSchema = listfilter.Schema[*iamv1.Grant]{
	"id":         listfilter.String((*iamv1.Grant).GetId),
	"user":       listfilter.String((*iamv1.Grant).GetUser),
	"group":      listfilter.String((*iamv1.Grant).GetGroup),
	"role":       listfilter.String((*iamv1.Grant).GetRole),
	"created_by": listfilter.String((*iamv1.Grant).GetCreatedBy),
	"created_at": listfilter.Time(func(g *iamv1.Grant) time.Time { return tsTime(g.GetCreatedAt()) }),
	"scope_kind": listfilter.String(func(g *iamv1.Grant) string { return g.GetScope().GetKind() }),
	"scope_id":   listfilter.String(func(g *iamv1.Grant) string { return g.GetScope().GetId() }),
	"scope_name": listfilter.String(func(g *iamv1.Grant) string { return g.GetScope().GetName() }),
}

var tokenSchema = listfilter.Schema[*iamv1.Token]{
	"id":           listfilter.String((*iamv1.Token).GetId),
	"description":  listfilter.String((*iamv1.Token).GetDescription),
	"user":         listfilter.String((*iamv1.Token).GetUser),
	"created_by":   listfilter.String((*iamv1.Token).GetCreatedBy),
	"revoked":      listfilter.Bool((*iamv1.Token).GetRevoked),
	"expired":      listfilter.Bool((*iamv1.Token).GetExpired),
	"created_at":   listfilter.Time(func(t *iamv1.Token) time.Time { return tsTime(t.GetCreatedAt()) }),
	"expires_at":   listfilter.Time(func(t *iamv1.Token) time.Time { return tsTime(t.GetExpiresAt()) }),
	"last_used_at": listfilter.Time(func(t *iamv1.Token) time.Time { return tsTime(t.GetLastUsedAt()) }),
}

// auditSchema filters ListAuditEvents beside its own fields (actor, stream,
// type, since, until); its page token stays a log position.
var auditSchema = listfilter.Schema[*iamv1.AuditEvent]{
	"position":   listfilter.Number(func(e *iamv1.AuditEvent) float64 { return float64(e.GetPosition()) }),
	"id":         listfilter.String((*iamv1.AuditEvent).GetId),
	"stream":     listfilter.String((*iamv1.AuditEvent).GetStream),
	"type":       listfilter.String((*iamv1.AuditEvent).GetType),
	"actor":      listfilter.String((*iamv1.AuditEvent).GetActor),
	"request_id": listfilter.String((*iamv1.AuditEvent).GetRequestId),
	"time":       listfilter.Time(func(e *iamv1.AuditEvent) time.Time { return tsTime(e.GetTime()) }),
	"data":       listfilter.String((*iamv1.AuditEvent).GetDataJson),
}
