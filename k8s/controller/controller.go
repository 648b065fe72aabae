// Package controller is the Strata Kubernetes controller: it watches Gateway
// API objects (GatewayClass, Gateway, HTTPRoute, GRPCRoute, TLSRoute,
// ReferenceGrant) and networking.k8s.io Ingresses with controller-runtime,
// translates each HTTP route and each TLS listener (with its TLSRoutes) into
// one Strata app (package translate), applies and releases it through
// the Strata API (package apply), and writes the outcome back as status
// conditions and events.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/strata-edge/strata/k8s/apply"
	"github.com/strata-edge/strata/pkg/validate"
)

// DefaultControllerName is the GatewayClass spec.controllerName this
// controller handles unless told otherwise.
const DefaultControllerName = "strata-edge.io/gateway-controller"

// Options configure a Controller.
type Options struct {
	// ControllerName is the GatewayClass controllerName handled.
	ControllerName string
	// IngressClass is the IngressClass name handled; DefaultIngressClass
	// also takes Ingresses that name no class.
	IngressClass        string
	DefaultIngressClass bool
	// Cluster names this Kubernetes cluster: several clusters feed one
	// Strata control plane, each with its own name (it is part of every app
	// name and the k8s_cluster label).
	Cluster string
	// Partitions are the Strata partitions (names or ids) this cluster's
	// apps go to.
	Partitions []string
	// HTTPPorts and HTTPSPorts are the ports of Ingress apps (Gateway
	// listeners carry their own).
	HTTPPorts, HTTPSPorts []uint32
	// Addresses are the nodes' addresses written to Gateway and Ingress status.
	Addresses []string
	// MetricsAddr and HealthAddr serve /metrics and /healthz, /readyz; "0" or
	// "" disables them.
	MetricsAddr, HealthAddr string
	// LeaderElection lets several replicas run with one active.
	LeaderElection          bool
	LeaderElectionNamespace string
	// Logger receives controller-runtime's logs (default: slog.Default()).
	Logger *slog.Logger
}

func (o *Options) validate() error {
	if o.ControllerName == "" {
		o.ControllerName = DefaultControllerName
	}
	if o.IngressClass == "" {
		o.IngressClass = "strata"
	}
	if o.Cluster == "" {
		o.Cluster = "default"
	}
	if why := validate.Name(o.Cluster); why != "" {
		return fmt.Errorf("cluster: %s", why)
	}
	if len(o.Partitions) == 0 {
		o.Partitions = []string{"default"}
	}
	if len(o.HTTPPorts) == 0 {
		o.HTTPPorts = []uint32{80}
	}
	if len(o.HTTPSPorts) == 0 {
		o.HTTPSPorts = []uint32{443}
	}
	if o.MetricsAddr == "" {
		o.MetricsAddr = "0"
	}
	if o.HealthAddr == "" {
		o.HealthAddr = "0"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Controller runs the reconcilers in one controller-runtime manager.
type Controller struct {
	opts     Options
	mgr      manager.Manager
	client   client.Client
	applier  *apply.Applier
	recorder recorder.EventRecorder
	// gatewayAPI: the cluster serves the Gateway API CRDs.
	gatewayAPI bool
	// served are the Gateway API kinds the cluster serves at v1.
	served map[string]bool
}

// Scheme holds every type the controller reads.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, gwv1.Install, gwv1beta1.Install} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// New builds the controller for the cluster of cfg.
func New(cfg *rest.Config, applier *apply.Applier, opts Options) (*Controller, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	ctrl.SetLogger(logr.FromSlogHandler(opts.Logger.Handler()))
	skip := true
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme:                  Scheme(),
		Metrics:                 metricsserver.Options{BindAddress: opts.MetricsAddr},
		HealthProbeBindAddress:  opts.HealthAddr,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        "strata-k8s-controller." + opts.Cluster,
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
		Controller:              config.Controller{SkipNameValidation: &skip},
	})
	if err != nil {
		return nil, fmt.Errorf("controller manager: %w", err)
	}
	c := &Controller{opts: opts, mgr: mgr, client: mgr.GetClient(), applier: applier, recorder: mgr.GetEventRecorder("strata-k8s-controller")}
	gatewayAPI, served, err := servesGatewayAPI(cfg)
	if err != nil {
		return nil, err
	}
	c.gatewayAPI, c.served = gatewayAPI, served
	for _, k := range []routeKind{tlsKind, tcpKind, udpKind} {
		if gatewayAPI && !served[k.kind] {
			opts.Logger.Warn("k8s-controller: the cluster serves no " + k.kind + " CRD at gateway.networking.k8s.io/v1 (Gateway API v1.5 or later): its listeners are refused; install it and restart to handle " + k.kind + "s")
		}
	}
	if !gatewayAPI {
		opts.Logger.Warn("k8s-controller: the cluster has no Gateway API CRDs (gateway.networking.k8s.io/v1): handling Ingresses only; install the CRDs and restart to handle Gateways and HTTPRoutes")
	}
	if err := c.setup(gatewayAPI); err != nil {
		return nil, err
	}
	return c, nil
}

// Start runs the controller until ctx ends.
func (c *Controller) Start(ctx context.Context) error { return c.mgr.Start(ctx) }

// servesGatewayAPI says whether the API server has the Gateway API CRDs,
// and which of the stream route kinds it serves at v1 (TLSRoute, TCPRoute,
// UDPRoute: the standard channel since v1.5).
func servesGatewayAPI(cfg *rest.Config) (gateway bool, served map[string]bool, err error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, nil, err
	}
	res, err := dc.ServerResourcesForGroupVersion(gwv1.GroupVersion.String())
	if apierrors.IsNotFound(err) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, fmt.Errorf("discover the Gateway API: %w", err)
	}
	served = map[string]bool{}
	for _, r := range res.APIResources {
		if !strings.Contains(r.Name, "/") {
			served[r.Kind] = true
		}
	}
	return true, served, nil
}

func (c *Controller) setup(gatewayAPI bool) error {
	all := func(list func(context.Context) []reconcile.Request) handler.EventHandler {
		return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request { return list(ctx) })
	}
	// ofService maps a Service event to what uses it (EndpointSlices are
	// the endpoints reconciler's: they change server sets, not apps).
	ofService := func(using func(ctx context.Context, ns, name string) []reconcile.Request) handler.EventHandler {
		return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return using(ctx, o.GetNamespace(), o.GetName())
		})
	}
	ingressesOfService := ofService(func(ctx context.Context, ns, name string) []reconcile.Request {
		return c.ingressesUsing(ctx, ns, name, "")
	})
	ingress := ctrl.NewControllerManagedBy(c.mgr).Named("ingress").For(&networkingv1.Ingress{}).
		Watches(&corev1.Service{}, ingressesOfService).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return c.ingressesUsing(ctx, o.GetNamespace(), "", o.GetName())
		})).
		Complete(ingressReconciler{c})
	// Endpoints are synced apart from the routes (endpoints.go): an
	// EndpointSlice change writes a server set, never a release.
	ingress = errors.Join(ingress, c.setupEndpoints())
	if !gatewayAPI {
		if ingress != nil {
			return ingress
		}
		return c.mgr.Add(manager.RunnableFunc(c.collectOrphans))
	}
	toParents := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return parentGateways(o.GetNamespace(), routeOf(o).parents)
	})
	gateway := ctrl.NewControllerManagedBy(c.mgr).Named("gateway").For(&gwv1.Gateway{}).
		Watches(&gwv1.GatewayClass{}, all(c.allGateways)).
		Watches(&corev1.Secret{}, all(c.allGateways)).
		Watches(&gwv1beta1.ReferenceGrant{}, all(c.allGateways))
	errs := []error{ingress,
		ctrl.NewControllerManagedBy(c.mgr).Named("gatewayclass").For(&gwv1.GatewayClass{}).Complete(classReconciler{c})}
	for _, k := range c.routeKinds() {
		gateway = gateway.Watches(k.newObj(), toParents)
		if k.kind != httpKind.kind && k.kind != grpcKind.kind {
			continue // a stream listener is one app: streamReconciler, keyed by Gateway
		}
		k := k
		using := ofService(func(ctx context.Context, ns, name string) []reconcile.Request {
			return c.routesUsing(ctx, k, ns, name, false)
		})
		every := all(func(ctx context.Context) []reconcile.Request { return c.routesUsing(ctx, k, "", "", false) })
		errs = append(errs, ctrl.NewControllerManagedBy(c.mgr).Named(strings.ToLower(k.kind)).For(k.newObj()).
			Watches(&gwv1.Gateway{}, every).
			Watches(&gwv1.GatewayClass{}, every).
			Watches(&gwv1beta1.ReferenceGrant{}, every).
			Watches(&corev1.Secret{}, every).
			Watches(&corev1.Service{}, using).
			Complete(routeReconciler{c, k}))
	}
	errs = append(errs, gateway.Complete(gatewayReconciler{c}))
	if kinds := c.streamKinds(); len(kinds) > 0 {
		using := ofService(func(ctx context.Context, ns, name string) []reconcile.Request {
			var out []reconcile.Request
			for _, k := range kinds {
				out = append(out, c.routesUsing(ctx, k, ns, name, true)...)
			}
			return out
		})
		b := ctrl.NewControllerManagedBy(c.mgr).Named("streamlistener").For(&gwv1.Gateway{})
		for _, k := range kinds {
			b = b.Watches(k.newObj(), toParents)
		}
		errs = append(errs, b.
			Watches(&gwv1.GatewayClass{}, all(c.allGateways)).
			Watches(&gwv1beta1.ReferenceGrant{}, all(c.allGateways)).
			Watches(&corev1.Secret{}, all(c.allGateways)).
			Watches(&corev1.Service{}, using).
			Complete(streamReconciler{c}))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return c.mgr.Add(manager.RunnableFunc(c.collectOrphans))
}

// collectOrphans deletes, once the caches are synced, the apps of this
// cluster whose Kubernetes object went away while the controller was down.
func (c *Controller) collectOrphans(ctx context.Context) error {
	if !c.mgr.GetCache().WaitForCacheSync(ctx) {
		return nil
	}
	owners, err := c.applier.Owned(ctx, c.opts.Cluster)
	if err != nil {
		c.opts.Logger.Warn("k8s-controller: listing this cluster's apps failed; orphans stay until their object is seen again", "err", err)
		return nil
	}
	for _, o := range owners {
		var obj client.Object
		switch o.Kind {
		case "HTTPRoute":
			obj = &gwv1.HTTPRoute{}
		case "GRPCRoute":
			obj = &gwv1.GRPCRoute{}
		case "Gateway":
			obj = &gwv1.Gateway{} // its removed listeners: streamReconciler
		case "Ingress":
			obj = &networkingv1.Ingress{}
		default:
			continue
		}
		err := c.client.Get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: o.Name}, obj)
		if client.IgnoreNotFound(err) == nil && err != nil {
			if _, err := c.applier.Delete(ctx, o); err != nil {
				c.opts.Logger.Warn("k8s-controller: deleting an orphaned app failed", "app", o.AppName(), "err", err)
			}
		}
	}
	return nil
}

func parentGateways(routeNS string, refs []gwv1.ParentReference) []reconcile.Request {
	var out []reconcile.Request
	for _, p := range refs {
		ns := routeNS
		if p.Namespace != nil {
			ns = string(*p.Namespace)
		}
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: string(p.Name)}})
	}
	return out
}

func (c *Controller) allGateways(ctx context.Context) []reconcile.Request {
	var l gwv1.GatewayList
	if err := c.client.List(ctx, &l); err != nil {
		return nil
	}
	out := make([]reconcile.Request, len(l.Items))
	for i, g := range l.Items {
		out[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&g)}
	}
	return out
}

// routesUsing lists the routes of kind k with a backendRef to Service
// ns/name (every route of the kind when name is ""), or with gateways their
// parent Gateways.
func (c *Controller) routesUsing(ctx context.Context, k routeKind, ns, name string, gateways bool) []reconcile.Request {
	routes, err := k.list(ctx, c.client)
	if err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, rt := range routes {
		if name != "" && !rt.uses(ns, name) {
			continue
		}
		if gateways {
			out = append(out, parentGateways(rt.obj.GetNamespace(), rt.parents)...)
		} else {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(rt.obj)})
		}
	}
	return out
}

// ingressesUsing lists the Ingresses in ns with a backend Service service
// or a TLS Secret secret.
func (c *Controller) ingressesUsing(ctx context.Context, ns, service, secret string) []reconcile.Request {
	var l networkingv1.IngressList
	if err := c.client.List(ctx, &l, client.InNamespace(ns)); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, ing := range l.Items {
		if ingressUses(&ing, service, secret) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&ing)})
		}
	}
	return out
}

func ingressUses(ing *networkingv1.Ingress, service, secret string) bool {
	uses := func(b *networkingv1.IngressBackend) bool {
		return service != "" && b != nil && b.Service != nil && b.Service.Name == service
	}
	if uses(ing.Spec.DefaultBackend) {
		return true
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			if uses(&p.Backend) {
				return true
			}
		}
	}
	for _, t := range ing.Spec.TLS {
		if secret != "" && t.SecretName == secret {
			return true
		}
	}
	return false
}
