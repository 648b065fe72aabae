// Package authz decides what an authenticated caller may do. One Connect
// interceptor (NewInterceptor) checks every RPC against a table that maps each
// procedure to the permission it needs (rules.go), deny by default; handlers
// that need finer checks call Can and Filter with the request's context.
//
// A caller's permissions come from grants: a role (a set of permissions) given
// to a user or a group over a scope: everything, or one object (a partition,
// an app, a DNS zone...). A grant over an object covers the objects below it:
// a grant over partition P covers the apps whose partitions are all covered.
// The Policy (the IAM service) says which grants a caller has; ObjectResolvers
// (the services that own objects) say which objects exist and what is above
// them.
package authz

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/strata-edge/strata/pkg/apiauth"
)

// KindAll is the scope kind of grants over everything.
const KindAll = "all"

// Object names something a grant can cover: a partition, an app, a DNS zone...
type Object struct {
	Kind string // "partition", "app", "dns_zone", ...
	ID   string // canonical id
}

// Everything is the scope of grants over all objects.
var Everything = Object{Kind: KindAll}

func (o Object) String() string {
	if o.Kind == KindAll {
		return KindAll
	}
	return fmt.Sprintf("%s %q", o.Kind, o.ID)
}

// Grant is a role held over a scope, as the Policy hands it out for one caller.
type Grant struct {
	Role  Role
	Scope Object
}

// Policy tells which grants are in effect for a caller: its own and those of
// its groups. The IAM service implements it.
type Policy interface {
	Grants(ctx context.Context, p apiauth.Principal) ([]Grant, error)
}

// ErrUnknownObject is returned (wrapped) by an ObjectResolver for an object
// that does not exist.
var ErrUnknownObject = errors.New("unknown object")

// ErrNoResolver is returned by Resolvers.Resolve for a kind no service resolves.
var ErrNoResolver = errors.New("no service resolves this kind of object")

// ResolvedObject is an object with what it belongs to.
type ResolvedObject struct {
	Object
	// Name is for display (grants keep it).
	Name string
	// Parents are the objects directly above: an app's partitions, a
	// cluster's partition. A grant covers an object when it covers the object
	// itself or every one of its parents.
	Parents []Object
}

// ObjectResolver looks up objects of the kinds a service owns. ConfigService
// resolves "partition", "cluster", "node" and "app"; the DNS service "dns_zone".
type ObjectResolver interface {
	// ResolveObject returns the object of kind whose id or name is ref, or an
	// error wrapping ErrUnknownObject when there is none.
	ResolveObject(ctx context.Context, kind, ref string) (ResolvedObject, error)
}

// ObjectResolverFunc adapts a function to ObjectResolver.
type ObjectResolverFunc func(ctx context.Context, kind, ref string) (ResolvedObject, error)

// ResolveObject calls f.
func (f ObjectResolverFunc) ResolveObject(ctx context.Context, kind, ref string) (ResolvedObject, error) {
	return f(ctx, kind, ref)
}

// Resolvers maps object kinds to the resolvers of the services that own them.
// Services register when they start; it is safe for concurrent use.
type Resolvers struct {
	mu sync.RWMutex
	m  map[string]ObjectResolver
}

// NewResolvers returns an empty registry.
func NewResolvers() *Resolvers {
	return &Resolvers{m: map[string]ObjectResolver{}}
}

// Register makes r resolve objects of the given kinds.
func (rs *Resolvers) Register(r ObjectResolver, kinds ...string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, k := range kinds {
		rs.m[k] = r
	}
}

// Kinds returns the kinds that can be resolved, sorted.
func (rs *Resolvers) Kinds() []string {
	if rs == nil {
		return nil
	}
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	return slices.Sorted(maps.Keys(rs.m))
}

// Resolve looks up an object by id or name. For a kind without a resolver it
// returns ErrNoResolver.
func (rs *Resolvers) Resolve(ctx context.Context, kind, ref string) (ResolvedObject, error) {
	var r ObjectResolver
	if rs != nil {
		rs.mu.RLock()
		r = rs.m[kind]
		rs.mu.RUnlock()
	}
	if r == nil {
		return ResolvedObject{}, fmt.Errorf("%s %q: %w", kind, ref, ErrNoResolver)
	}
	obj, err := r.ResolveObject(ctx, kind, ref)
	if err != nil {
		return ResolvedObject{}, err
	}
	obj.Kind = kind
	return obj, nil
}

// maxDepth bounds the walk up the object tree (node -> cluster -> partition).
const maxDepth = 4

// Checker answers authorization questions for one caller during one request.
// It is safe for concurrent use.
type Checker struct {
	principal apiauth.Principal
	grants    []Grant
	resolvers *Resolvers

	mu      sync.Mutex
	parents map[Object][]Object // resolved per request
}

// NewChecker returns a checker for a caller with the given grants.
func NewChecker(p apiauth.Principal, grants []Grant, rs *Resolvers) *Checker {
	return &Checker{principal: p, grants: grants, resolvers: rs, parents: map[Object][]Object{}}
}

// Principal is the caller.
func (c *Checker) Principal() apiauth.Principal { return c.principal }

// CanEverywhere reports whether the caller holds perm over everything.
func (c *Checker) CanEverywhere(perm string) bool {
	for _, g := range c.grants {
		if g.Scope.Kind == KindAll && g.Role.Allows(perm) {
			return true
		}
	}
	return false
}

// CanSomewhere reports whether the caller holds perm over anything at all.
func (c *Checker) CanSomewhere(perm string) bool {
	for _, g := range c.grants {
		if g.Role.Allows(perm) {
			return true
		}
	}
	return false
}

// Can reports whether the caller holds perm over obj (given by canonical id):
// through a grant over everything, over obj itself, or over every parent of
// obj. Objects that cannot be resolved are covered only by grants over
// everything or over themselves.
func (c *Checker) Can(ctx context.Context, perm string, obj Object) bool {
	return c.can(ctx, perm, obj, 0)
}

func (c *Checker) can(ctx context.Context, perm string, obj Object, depth int) bool {
	held := false
	for _, g := range c.grants {
		if !g.Role.Allows(perm) {
			continue
		}
		held = true
		if g.Scope.Kind == KindAll || g.Scope == obj {
			return true
		}
	}
	if !held || depth >= maxDepth || obj.Kind == KindAll {
		return false
	}
	parents := c.parentsOf(ctx, obj)
	if len(parents) == 0 {
		return false
	}
	for _, p := range parents {
		if !c.can(ctx, perm, p, depth+1) {
			return false
		}
	}
	return true
}

func (c *Checker) parentsOf(ctx context.Context, obj Object) []Object {
	c.mu.Lock()
	ps, ok := c.parents[obj]
	c.mu.Unlock()
	if ok {
		return ps
	}
	// Errors (unknown object, no resolver) leave the object without parents:
	// deny unless granted directly.
	if r, err := c.resolvers.Resolve(ctx, obj.Kind, obj.ID); err == nil {
		ps = r.Parents
	}
	c.mu.Lock()
	c.parents[obj] = ps
	c.mu.Unlock()
	return ps
}

// Missing reports the first permission (of known) that grants give over a
// scope and the caller does not hold over it, or ok false when the caller
// holds all of them. A credential handed out for another user must not
// carry more than the caller holds: this is that test.
func (c *Checker) Missing(ctx context.Context, grants []Grant, known []string) (perm string, scope Object, missing bool) {
	for _, g := range grants {
		for _, p := range g.Role.Expand(known) {
			held := c.CanEverywhere(p)
			if !held && g.Scope.Kind != KindAll {
				held = c.Can(ctx, p, g.Scope)
			}
			if !held {
				return p, g.Scope, true
			}
		}
	}
	return "", Object{}, false
}

// Filter returns the ids of objects of kind over which the caller holds perm,
// in their original order.
func (c *Checker) Filter(ctx context.Context, perm, kind string, ids []string) []string {
	if c.CanEverywhere(perm) {
		return ids
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if c.Can(ctx, perm, Object{Kind: kind, ID: id}) {
			out = append(out, id)
		}
	}
	return out
}

type checkerKey struct{}

// WithChecker returns ctx carrying c; the interceptor does this for every
// authorized call.
func WithChecker(ctx context.Context, c *Checker) context.Context {
	return context.WithValue(ctx, checkerKey{}, c)
}

// CheckerFrom returns the checker of the current call.
func CheckerFrom(ctx context.Context) (*Checker, bool) {
	c, ok := ctx.Value(checkerKey{}).(*Checker)
	return c, ok && c != nil
}

// Can reports whether the caller of ctx holds perm over obj. Without a checker
// in ctx (the call did not pass the interceptor) it denies.
func Can(ctx context.Context, perm string, obj Object) bool {
	c, ok := CheckerFrom(ctx)
	return ok && c.Can(ctx, perm, obj)
}

// CanEverywhere reports whether the caller of ctx holds perm over everything.
func CanEverywhere(ctx context.Context, perm string) bool {
	c, ok := CheckerFrom(ctx)
	return ok && c.CanEverywhere(perm)
}

// Filter returns the ids of objects of kind the caller of ctx holds perm over;
// list handlers use it to return only what the caller may read. Without a
// checker in ctx it returns nothing.
func Filter(ctx context.Context, perm, kind string, ids []string) []string {
	c, ok := CheckerFrom(ctx)
	if !ok {
		return nil
	}
	return c.Filter(ctx, perm, kind, ids)
}
