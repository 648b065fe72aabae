package controller

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/k8s/translate"
)

// Endpoints: the servers of a Service port are a Strata server set
// (UpstreamEndpoints) that the apps' upstreams name; this reconciler keeps
// each set equal to the ready endpoints of the Service's EndpointSlices
// through SetEndpoints, one event per change and no release, so endpoint
// churn never reaches the routes' release history. A Service is synced
// while a route or Ingress of ours names it; identical sets write nothing,
// so a restart converges without events.

// EndpointsID is the set of Service ns/name at port number port.
func EndpointsID(cluster, ns, name string, port int32) string {
	return strings.Join([]string{"k8s", cluster, ns, name, strconv.Itoa(int(port))}, ".")
}

// endpointsPrefix starts the ids of every set of Service ns/name.
func endpointsPrefix(cluster, ns, name string) string {
	return strings.Join([]string{"k8s", cluster, ns, name, ""}, ".")
}

type endpointsReconciler struct{ *Controller }

func (r endpointsReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ns, name := req.Namespace, req.Name
	var svc corev1.Service
	err := r.client.Get(ctx, req.NamespacedName, &svc)
	if client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, err
	}
	keep := map[string]bool{}
	if err == nil && r.serviceUsed(ctx, ns, name) {
		var slices discoveryv1.EndpointSliceList
		if err := r.client.List(ctx, &slices, client.InNamespace(ns), client.MatchingLabels{discoveryv1.LabelServiceName: name}); err != nil {
			return reconcile.Result{}, err
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			set := &configv1.UpstreamEndpoints{Id: EndpointsID(r.opts.Cluster, ns, name, sp.Port), PartitionIds: r.opts.Partitions,
				Labels: map[string]string{translate.LabelManagedBy: translate.ManagedBy, translate.LabelCluster: r.opts.Cluster,
					translate.LabelNamespace: ns, translate.LabelName: name, "k8s_port": strconv.Itoa(int(sp.Port))}}
			for _, addr := range readyServers(slices.Items, sp) {
				set.Endpoints = append(set.Endpoints, &configv1.Endpoint{Address: addr, Weight: 1, Ready: true})
			}
			set.Endpoints = dedupeEndpoints(set.Endpoints)
			if _, err := r.applier.Config.SetEndpoints(ctx, &configv1.SetEndpointsRequest{Endpoints: set}); err != nil {
				return reconcile.Result{}, fmt.Errorf("set endpoints %s: %w", set.Id, err)
			}
			keep[set.Id] = true
		}
	}
	// Sets of ports (or Services) that went away, or no route uses.
	l, err := r.applier.Config.ListEndpoints(ctx, &configv1.ListEndpointsRequest{IdPrefix: endpointsPrefix(r.opts.Cluster, ns, name)})
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("list endpoints: %w", err)
	}
	for _, s := range l.Endpoints {
		if !keep[s.Id] {
			if _, err := r.applier.Config.DeleteEndpoints(ctx, &configv1.DeleteEndpointsRequest{Id: s.Id}); err != nil && connect.CodeOf(err) != connect.CodeNotFound {
				return reconcile.Result{}, fmt.Errorf("delete endpoints %s: %w", s.Id, err)
			}
		}
	}
	return reconcile.Result{}, nil
}

// dedupeEndpoints drops repeated addresses (an address in two slices).
func dedupeEndpoints(eps []*configv1.Endpoint) []*configv1.Endpoint {
	seen := map[string]bool{}
	out := eps[:0]
	for _, e := range eps {
		if !seen[e.Address] {
			seen[e.Address] = true
			out = append(out, e)
		}
	}
	return out
}

// serviceUsed reports whether a route or Ingress of ours names Service
// ns/name.
func (r endpointsReconciler) serviceUsed(ctx context.Context, ns, name string) bool {
	if len(r.ingressesUsing(ctx, ns, name, "")) > 0 {
		return true
	}
	if !r.gatewayAPI {
		return false
	}
	for _, k := range r.routeKinds() {
		if len(r.routesUsing(ctx, k, ns, name, false)) > 0 {
			return true
		}
	}
	return false
}

// setupEndpoints registers the reconciler: per Service, on changes of the
// Service, its EndpointSlices and the routes naming it.
func (c *Controller) setupEndpoints() error {
	sliceService := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		if svc := o.GetLabels()[discoveryv1.LabelServiceName]; svc != "" {
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: svc}}}
		}
		return nil
	})
	b := ctrl.NewControllerManagedBy(c.mgr).Named("endpoints").For(&corev1.Service{}).
		Watches(&discoveryv1.EndpointSlice{}, sliceService).
		Watches(&networkingv1.Ingress{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return ingressServices(o.(*networkingv1.Ingress))
		}))
	if c.gatewayAPI {
		for _, k := range c.routeKinds() {
			b = b.Watches(k.newObj(), handler.EnqueueRequestsFromMapFunc(routeServices))
		}
	}
	return b.Complete(endpointsReconciler{c})
}

// routeServices are the backend Services of a route of any kind.
func routeServices(_ context.Context, o client.Object) []reconcile.Request {
	keys := routeOf(o).services
	out := make([]reconcile.Request, len(keys))
	for i, k := range keys {
		out[i] = reconcile.Request{NamespacedName: k}
	}
	return out
}

// ingressServices are the backend Services of an Ingress.
func ingressServices(ing *networkingv1.Ingress) []reconcile.Request {
	var out []reconcile.Request
	add := func(b *networkingv1.IngressBackend) {
		if b != nil && b.Service != nil {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: ing.Namespace, Name: b.Service.Name}})
		}
	}
	add(ing.Spec.DefaultBackend)
	for _, r := range ing.Spec.Rules {
		if r.HTTP != nil {
			for i := range r.HTTP.Paths {
				add(&r.HTTP.Paths[i].Backend)
			}
		}
	}
	return out
}
