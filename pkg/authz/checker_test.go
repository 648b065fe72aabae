package authz

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/strata-edge/strata/pkg/apiauth"
)

// world is a small object tree: partitions p1 and p2, apps in them, a
// cluster and a node in p1. It resolves ids and names.
type world struct {
	objects map[Object]ResolvedObject
	names   map[Object]string // kind+name -> id
}

func newWorld() *world {
	w := &world{objects: map[Object]ResolvedObject{}, names: map[Object]string{}}
	add := func(kind, id, name string, parents ...Object) {
		w.objects[Object{kind, id}] = ResolvedObject{Object: Object{kind, id}, Name: name, Parents: parents}
		w.names[Object{kind, name}] = id
	}
	p1, p2 := Object{KindPartition, "par_1"}, Object{KindPartition, "par_2"}
	add(KindPartition, "par_1", "default")
	add(KindPartition, "par_2", "eu")
	add(KindApp, "app_shop", "shop", p1)
	add(KindApp, "app_blog", "blog", p2)
	add(KindApp, "app_both", "both", p1, p2)
	add(KindCluster, "clu_1", "edge-1", p1)
	add(KindNode, "nod_1", "n1", Object{KindCluster, "clu_1"})
	return w
}

func (w *world) ResolveObject(_ context.Context, kind, ref string) (ResolvedObject, error) {
	if o, ok := w.objects[Object{kind, ref}]; ok {
		return o, nil
	}
	if id, ok := w.names[Object{kind, ref}]; ok {
		return w.objects[Object{kind, id}], nil
	}
	return ResolvedObject{}, fmt.Errorf("%s %q: %w", kind, ref, ErrUnknownObject)
}

func (w *world) resolvers() *Resolvers {
	rs := NewResolvers()
	rs.Register(w, KindPartition, KindApp, KindCluster, KindNode)
	return rs
}

func role(t *testing.T, name string) Role {
	t.Helper()
	r, ok := BuiltInRole(name)
	if !ok {
		t.Fatalf("no role %s", name)
	}
	return r
}

func TestCheckerScopes(t *testing.T) {
	ctx := context.Background()
	w := newWorld()
	rs := w.resolvers()
	p1, p2 := Object{KindPartition, "par_1"}, Object{KindPartition, "par_2"}
	admin, viewer := role(t, RoleAdmin), role(t, RoleViewer)
	tests := []struct {
		name   string
		grants []Grant
		perm   string
		obj    Object
		want   bool
	}{
		{name: "grant over everything", grants: []Grant{{admin, Everything}}, perm: "config.app.write", obj: Object{KindApp, "app_blog"}, want: true},
		{name: "grant over the app", grants: []Grant{{admin, Object{KindApp, "app_shop"}}}, perm: "config.app.write", obj: Object{KindApp, "app_shop"}, want: true},
		{name: "grant over another app", grants: []Grant{{admin, Object{KindApp, "app_shop"}}}, perm: "config.app.write", obj: Object{KindApp, "app_blog"}, want: false},
		{name: "partition covers its app", grants: []Grant{{admin, p1}}, perm: "config.app.write", obj: Object{KindApp, "app_shop"}, want: true},
		{name: "partition does not cover other partition's app", grants: []Grant{{admin, p1}}, perm: "config.app.write", obj: Object{KindApp, "app_blog"}, want: false},
		{name: "app in two partitions needs both", grants: []Grant{{admin, p1}}, perm: "config.app.write", obj: Object{KindApp, "app_both"}, want: false},
		{name: "app in two partitions with both granted", grants: []Grant{{admin, p1}, {admin, p2}}, perm: "config.app.write", obj: Object{KindApp, "app_both"}, want: true},
		{name: "node through cluster to partition", grants: []Grant{{admin, p1}}, perm: "config.node.write", obj: Object{KindNode, "nod_1"}, want: true},
		{name: "role without the permission", grants: []Grant{{viewer, p1}}, perm: "config.app.write", obj: Object{KindApp, "app_shop"}, want: false},
		{name: "viewer reads", grants: []Grant{{viewer, p1}}, perm: "config.app.read", obj: Object{KindApp, "app_shop"}, want: true},
		{name: "mixed roles do not combine across scopes", grants: []Grant{{viewer, p1}, {admin, p2}}, perm: "config.app.write", obj: Object{KindApp, "app_both"}, want: false},
		{name: "unknown object", grants: []Grant{{admin, p1}}, perm: "config.app.write", obj: Object{KindApp, "app_gone"}, want: false},
		{name: "no grants", perm: "config.app.read", obj: Object{KindApp, "app_shop"}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewChecker(apiauth.Principal{Name: "bob", Kind: "user"}, tt.grants, rs)
			if got := c.Can(ctx, tt.perm, tt.obj); got != tt.want {
				t.Fatalf("Can(%s, %s) = %v, want %v", tt.perm, tt.obj, got, tt.want)
			}
			// The context helpers agree with the checker.
			if got := Can(WithChecker(ctx, c), tt.perm, tt.obj); got != tt.want {
				t.Fatalf("authz.Can(ctx, %s, %s) = %v, want %v", tt.perm, tt.obj, got, tt.want)
			}
		})
	}
}

func TestFilter(t *testing.T) {
	ctx := context.Background()
	w := newWorld()
	c := NewChecker(apiauth.Principal{Name: "bob"}, []Grant{{role(t, RoleViewer), Object{KindPartition, "par_1"}}}, w.resolvers())
	got := Filter(WithChecker(ctx, c), "config.app.read", KindApp, []string{"app_blog", "app_shop", "app_both", "app_gone"})
	if want := []string{"app_shop"}; !slices.Equal(got, want) {
		t.Fatalf("Filter = %v, want %v", got, want)
	}
	// Without a checker in the context nothing is allowed.
	if got := Filter(ctx, "config.app.read", KindApp, []string{"app_shop"}); len(got) != 0 {
		t.Fatalf("Filter without checker = %v, want none", got)
	}
	if Can(ctx, "config.app.read", Object{KindApp, "app_shop"}) {
		t.Fatal("Can without checker allowed")
	}
}

// BenchmarkCan measures one scoped check: a grant over a partition covering
// an app, resolved through its parent (a fresh checker per request, as the
// interceptor makes).
func BenchmarkCan(b *testing.B) {
	ctx := context.Background()
	rs := newWorld().resolvers()
	admin, _ := BuiltInRole(RoleAdmin)
	viewer, _ := BuiltInRole(RoleViewer)
	grants := []Grant{{viewer, Object{KindApp, "app_blog"}}, {admin, Object{KindPartition, "par_1"}}}
	p := apiauth.Principal{Name: "bob"}
	for b.Loop() {
		c := NewChecker(p, grants, rs)
		if !c.Can(ctx, "config.app.write", Object{KindApp, "app_shop"}) {
			b.Fatal("denied")
		}
	}
}

func TestMissing(t *testing.T) {
	ctx := context.Background()
	rs := newWorld().resolvers()
	known := DefaultRules().Permissions()
	p1 := Object{KindPartition, "par_1"}
	shop := Object{KindApp, "app_shop"}
	super, admin, viewer := role(t, RoleSuperAdmin), role(t, RoleAdmin), role(t, RoleViewer)
	tests := []struct {
		name           string
		caller, target []Grant
		missing        bool
		perm           string
	}{
		{name: "same grants", caller: []Grant{{viewer, Everything}}, target: []Grant{{viewer, Everything}}},
		{name: "target has none", caller: nil, target: nil},
		{name: "super_admin covers all", caller: []Grant{{super, Everything}}, target: []Grant{{admin, Everything}, {viewer, shop}}},
		{name: "everything covers a partition", caller: []Grant{{admin, Everything}}, target: []Grant{{admin, p1}}},
		{name: "partition covers its app", caller: []Grant{{admin, p1}}, target: []Grant{{admin, shop}}},
		{name: "app does not cover its partition", caller: []Grant{{admin, shop}}, target: []Grant{{admin, p1}}, missing: true},
		{name: "viewer does not cover admin", caller: []Grant{{viewer, Everything}}, target: []Grant{{admin, shop}}, missing: true},
		{name: "admin does not cover super_admin's IAM", caller: []Grant{{admin, Everything}}, target: []Grant{{super, Everything}}, missing: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewChecker(apiauth.Principal{Name: "bob", Kind: "user"}, tt.caller, rs)
			perm, scope, missing := c.Missing(ctx, tt.target, known)
			if missing != tt.missing {
				t.Fatalf("Missing = %s over %s, %v; want missing %v", perm, scope, missing, tt.missing)
			}
		})
	}
}
