package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/strata-edge/strata/pkg/apiauth"
)

// Option configures NewInterceptor.
type Option func(*interceptor)

// WithResolvers sets the object resolvers used for scoped grants. Without
// them only grants over everything or over an object itself count.
func WithResolvers(r *Resolvers) Option { return func(i *interceptor) { i.resolvers = r } }

// WithLogger sets where denials caused by a missing rule are logged.
func WithLogger(l *slog.Logger) Option { return func(i *interceptor) { i.log = l } }

// NewInterceptor returns the handler interceptor that authorizes every RPC
// against the rules (DefaultRules unless WithRules), deny by default: a
// procedure without a rule is refused with PermissionDenied. It must run
// after the authentication interceptor (apiauth.NewInterceptor), which puts
// the Principal in the context:
//
//	connect.WithInterceptors(apiauth.NewInterceptor(auth, ...), authz.NewInterceptor(policy, ...))
//
// Authorized calls carry a *Checker in their context (Can, Filter).
func NewInterceptor(policy Policy, opts ...Option) connect.Interceptor {
	i := &interceptor{policy: policy, rules: DefaultRules(), log: slog.Default()}
	for _, o := range opts {
		o(i)
	}
	return i
}

type interceptor struct {
	policy    Policy
	rules     Rules
	resolvers *Resolvers
	log       *slog.Logger
}

func (i *interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		rule, ctx, err := i.admit(ctx, req.Spec().Procedure)
		if err != nil {
			return nil, err
		}
		if rule.Scope == ScopeObject {
			msg, _ := req.Any().(proto.Message)
			if err := i.checkObjects(ctx, rule, msg); err != nil {
				return nil, err
			}
		}
		res, err := next(ctx, req)
		if err != nil || len(rule.Filters) == 0 {
			return res, err
		}
		if msg, ok := res.Any().(proto.Message); ok {
			i.filter(ctx, rule, msg)
		}
		return res, nil
	}
}

func (i *interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		rule, ctx, err := i.admit(ctx, conn.Spec().Procedure)
		if err != nil {
			return err
		}
		if rule.Scope == ScopeObject || len(rule.Filters) > 0 {
			conn = &checkedStream{StreamingHandlerConn: conn, ctx: ctx, rule: rule, i: i}
		}
		return next(ctx, conn)
	}
}

// checkedStream checks the objects of every received message and filters
// every sent one.
type checkedStream struct {
	connect.StreamingHandlerConn
	ctx  context.Context
	rule Rule
	i    *interceptor
}

func (s *checkedStream) Receive(m any) error {
	if err := s.StreamingHandlerConn.Receive(m); err != nil {
		return err
	}
	if s.rule.Scope == ScopeObject {
		msg, _ := m.(proto.Message)
		return s.i.checkObjects(s.ctx, s.rule, msg)
	}
	return nil
}

func (s *checkedStream) Send(m any) error {
	if msg, ok := m.(proto.Message); ok && len(s.rule.Filters) > 0 {
		s.i.filter(s.ctx, s.rule, msg)
	}
	return s.StreamingHandlerConn.Send(m)
}

// admit finds the rule and checks everything that does not depend on the
// request message.
func (i *interceptor) admit(ctx context.Context, procedure string) (Rule, context.Context, error) {
	rule, ok := i.rules[procedure]
	if !ok {
		i.log.Error("authz: RPC has no permission rule; denied", "procedure", procedure)
		return rule, ctx, connect.NewError(connect.CodePermissionDenied,
			fmt.Errorf("permission denied: %s has no permission rule (denied by default)", procedure))
	}
	if rule.Scope == ScopePublic {
		return rule, ctx, nil
	}
	p, ok := apiauth.PrincipalFrom(ctx)
	if !ok {
		return rule, ctx, connect.NewError(connect.CodeUnauthenticated,
			errors.New(`missing credentials: send the header "Authorization: Bearer <token>" or log in`))
	}
	grants, err := i.policy.Grants(ctx, p)
	if err != nil {
		i.log.Error("authz: policy failed", "procedure", procedure, "principal", p.Name, "err", err)
		return rule, ctx, connect.NewError(connect.CodeUnavailable, errors.New("authorization is unavailable, try again"))
	}
	c := NewChecker(p, grants, i.resolvers)
	ctx = WithChecker(ctx, c)
	switch rule.Scope {
	case ScopeAuthenticated:
		return rule, ctx, nil
	case ScopeEverywhere:
		if c.CanEverywhere(rule.Permission) {
			return rule, ctx, nil
		}
		return rule, ctx, denied(p, rule.Permission, "over everything")
	case ScopeSomewhere, ScopeObject:
		// Objects are checked once the request is read.
		if c.CanSomewhere(rule.Permission) {
			return rule, ctx, nil
		}
		return rule, ctx, denied(p, rule.Permission, "")
	}
	return rule, ctx, connect.NewError(connect.CodePermissionDenied,
		fmt.Errorf("permission denied: %s has an invalid rule", procedure))
}

func denied(p apiauth.Principal, perm, over string) error {
	if over != "" {
		over = " " + over
	}
	return connect.NewError(connect.CodePermissionDenied,
		fmt.Errorf("permission denied: %q does not hold %s%s", p.Name, perm, over))
}

// checkObjects needs the rule's permission over every object the request
// names.
func (i *interceptor) checkObjects(ctx context.Context, rule Rule, msg proto.Message) error {
	c, _ := CheckerFrom(ctx)
	if c.CanEverywhere(rule.Permission) {
		return nil
	}
	if msg == nil {
		return denied(c.Principal(), rule.Permission, "(request is not a protobuf message)")
	}
	for _, ref := range rule.Objects {
		for _, v := range stringValues(msg.ProtoReflect(), ref.Field, ref.Default) {
			obj, err := i.resolvers.Resolve(ctx, ref.Kind, v)
			switch {
			case errors.Is(err, ErrNoResolver):
				obj.Object = Object{Kind: ref.Kind, ID: v}
			case err != nil:
				// Unknown objects are denied like forbidden ones, so that
				// scoped callers cannot probe what exists.
				return denied(c.Principal(), rule.Permission, fmt.Sprintf("on %s %q", ref.Kind, v))
			}
			if !c.Can(ctx, rule.Permission, obj.Object) {
				return denied(c.Principal(), rule.Permission, fmt.Sprintf("on %s %q", ref.Kind, v))
			}
		}
	}
	return nil
}

// stringValues returns the values of a string or repeated string field, or
// def when it is empty.
func stringValues(m protoreflect.Message, field, def string) []string {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(field))
	var out []string
	if fd != nil && fd.Kind() == protoreflect.StringKind {
		if fd.IsList() {
			l := m.Get(fd).List()
			for j := 0; j < l.Len(); j++ {
				out = append(out, l.Get(j).String())
			}
		} else if s := m.Get(fd).String(); s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 && def != "" {
		out = append(out, def)
	}
	return out
}

// filter drops list elements the caller does not hold the rule's permission
// over.
func (i *interceptor) filter(ctx context.Context, rule Rule, msg proto.Message) {
	c, _ := CheckerFrom(ctx)
	if c.CanEverywhere(rule.Permission) {
		return
	}
	m := msg.ProtoReflect()
	for _, f := range rule.Filters {
		fd := m.Descriptor().Fields().ByName(protoreflect.Name(f.Field))
		if fd == nil || !fd.IsList() || fd.Message() == nil {
			// A rule that names no list must not leak the whole response.
			proto.Reset(msg)
			return
		}
		list := m.Mutable(fd).List()
		kept := 0
		for j := 0; j < list.Len(); j++ {
			el := list.Get(j)
			id := stringAt(el.Message(), f.IDPath)
			if id != "" && c.Can(ctx, rule.Permission, Object{Kind: f.Kind, ID: id}) {
				list.Set(kept, el)
				kept++
			}
		}
		list.Truncate(kept)
	}
}

// stringAt follows a dotted path of message fields to a string field.
func stringAt(m protoreflect.Message, path string) string {
	names := strings.Split(path, ".")
	for k, name := range names {
		fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
		if fd == nil || fd.IsList() || fd.IsMap() {
			return ""
		}
		if k == len(names)-1 {
			if fd.Kind() != protoreflect.StringKind {
				return ""
			}
			return m.Get(fd).String()
		}
		if fd.Message() == nil {
			return ""
		}
		m = m.Get(fd).Message()
	}
	return ""
}

var _ connect.Interceptor = (*interceptor)(nil)
