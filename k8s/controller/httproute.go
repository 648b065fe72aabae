package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/strata-edge/strata/k8s/apply"
	"github.com/strata-edge/strata/k8s/translate"
)

// Route conditions beyond Accepted and ResolvedRefs: Programmed says whether
// the route runs on the Strata nodes (released), with the release number.
const (
	condProgrammed      = "Programmed"
	reasonReleased      = "Released"
	reasonApplyFailed   = "ApplyFailed"
	reasonNotApplied    = "NotApplied"
	reasonPendingParent = "Pending"
)

// route is a Gateway API route (HTTPRoute, GRPCRoute, TLSRoute) as the
// reconcilers handle it: one shape, so that each kind is one routeKind
// value rather than a copy of the code.
type route struct {
	kind      string
	obj       client.Object
	parents   []gwv1.ParentReference
	hostnames []gwv1.Hostname
	status    *gwv1.RouteStatus
	// services are the Services the route's backendRefs name.
	services []client.ObjectKey
	// translate makes the plan of an HTTP kind's app (nil for the stream
	// kinds, whose listener is the app).
	translate func(translate.HTTPRouteInput, translate.Backends) (*translate.Plan, error)
	// streamRules are the backendRefs of each rule of a stream kind.
	streamRules [][]gwv1.BackendRef
}

// routeKind is what differs between the route kinds.
type routeKind struct {
	kind    string
	newObj  func() client.Object
	newList func() client.ObjectList
}

var (
	httpKind = routeKind{"HTTPRoute", func() client.Object { return &gwv1.HTTPRoute{} }, func() client.ObjectList { return &gwv1.HTTPRouteList{} }}
	grpcKind = routeKind{"GRPCRoute", func() client.Object { return &gwv1.GRPCRoute{} }, func() client.ObjectList { return &gwv1.GRPCRouteList{} }}
	tlsKind  = routeKind{"TLSRoute", func() client.Object { return &gwv1.TLSRoute{} }, func() client.ObjectList { return &gwv1.TLSRouteList{} }}
	tcpKind  = routeKind{"TCPRoute", func() client.Object { return &gwv1.TCPRoute{} }, func() client.ObjectList { return &gwv1.TCPRouteList{} }}
	udpKind  = routeKind{"UDPRoute", func() client.Object { return &gwv1.UDPRoute{} }, func() client.ObjectList { return &gwv1.UDPRouteList{} }}
)

// streamKinds are the route kinds of stream listeners, by listener protocol.
var streamKinds = map[gwv1.ProtocolType]routeKind{gwv1.TLSProtocolType: tlsKind, gwv1.TCPProtocolType: tcpKind, gwv1.UDPProtocolType: udpKind}

// list lists every route of the kind.
func (k routeKind) list(ctx context.Context, c client.Reader) ([]route, error) {
	l := k.newList()
	if err := c.List(ctx, l); err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(l)
	if err != nil {
		return nil, err
	}
	out := make([]route, len(items))
	for i, o := range items {
		out[i] = routeOf(o.(client.Object))
	}
	return out, nil
}

// routeOf wraps a route object of any kind.
func routeOf(o client.Object) route {
	switch r := o.(type) {
	case *gwv1.HTTPRoute:
		return httpRoute(r)
	case *gwv1.GRPCRoute:
		return grpcRoute(r)
	case *gwv1.TLSRoute:
		return streamRoute("TLSRoute", r, r.Spec.CommonRouteSpec, r.Spec.Hostnames, &r.Status.RouteStatus, r.Spec.Rules, func(r gwv1.TLSRouteRule) []gwv1.BackendRef { return r.BackendRefs })
	case *gwv1.TCPRoute:
		return streamRoute("TCPRoute", r, r.Spec.CommonRouteSpec, nil, &r.Status.RouteStatus, r.Spec.Rules, func(r gwv1.TCPRouteRule) []gwv1.BackendRef { return r.BackendRefs })
	case *gwv1.UDPRoute:
		return streamRoute("UDPRoute", r, r.Spec.CommonRouteSpec, nil, &r.Status.RouteStatus, r.Spec.Rules, func(r gwv1.UDPRouteRule) []gwv1.BackendRef { return r.BackendRefs })
	}
	return route{obj: o}
}

func httpRoute(r *gwv1.HTTPRoute) route {
	rt := baseRoute("HTTPRoute", r, r.Spec.CommonRouteSpec, r.Spec.Hostnames, &r.Status.RouteStatus)
	for _, rule := range r.Spec.Rules {
		rt.services = append(rt.services, serviceKeys(r.Namespace, rule.BackendRefs, func(b gwv1.HTTPBackendRef) gwv1.BackendObjectReference { return b.BackendObjectReference })...)
	}
	rt.translate = func(in translate.HTTPRouteInput, b translate.Backends) (*translate.Plan, error) {
		in.Route = r
		return translate.HTTPRoute(in, b)
	}
	return rt
}

func grpcRoute(r *gwv1.GRPCRoute) route {
	rt := baseRoute("GRPCRoute", r, r.Spec.CommonRouteSpec, r.Spec.Hostnames, &r.Status.RouteStatus)
	for _, rule := range r.Spec.Rules {
		rt.services = append(rt.services, serviceKeys(r.Namespace, rule.BackendRefs, func(b gwv1.GRPCBackendRef) gwv1.BackendObjectReference { return b.BackendObjectReference })...)
	}
	rt.translate = func(in translate.HTTPRouteInput, b translate.Backends) (*translate.Plan, error) {
		return translate.GRPCRoute(translate.GRPCRouteInput{Route: r, HTTPRouteInput: in}, b)
	}
	return rt
}

// streamRoute is a TLSRoute, TCPRoute or UDPRoute (rules of one shape).
func streamRoute[R any](kind string, obj client.Object, spec gwv1.CommonRouteSpec, hosts []gwv1.Hostname, st *gwv1.RouteStatus, rules []R, refs func(R) []gwv1.BackendRef) route {
	rt := baseRoute(kind, obj, spec, hosts, st)
	for _, rule := range rules {
		rt.streamRules = append(rt.streamRules, refs(rule))
		rt.services = append(rt.services, serviceKeys(obj.GetNamespace(), refs(rule), func(b gwv1.BackendRef) gwv1.BackendObjectReference { return b.BackendObjectReference })...)
	}
	return rt
}

func baseRoute(kind string, obj client.Object, spec gwv1.CommonRouteSpec, hosts []gwv1.Hostname, st *gwv1.RouteStatus) route {
	return route{kind: kind, obj: obj, parents: spec.ParentRefs, hostnames: hosts, status: st}
}

// serviceKeys are the Services the backendRefs of a route in namespace ns
// name (ref picks the reference out of the kind's own backendRef type).
func serviceKeys[B any](ns string, refs []B, ref func(B) gwv1.BackendObjectReference) []client.ObjectKey {
	var out []client.ObjectKey
	for _, b := range refs {
		r, bns := ref(b), ns
		if r.Kind != nil && *r.Kind != "Service" || r.Group != nil && *r.Group != "" {
			continue
		}
		if r.Namespace != nil {
			bns = string(*r.Namespace)
		}
		out = append(out, client.ObjectKey{Namespace: bns, Name: string(r.Name)})
	}
	return out
}

// uses says whether the route has a backendRef to Service ns/name.
func (rt route) uses(ns, name string) bool {
	return slices.Contains(rt.services, client.ObjectKey{Namespace: ns, Name: name})
}

// routeReconciler translates the routes of an HTTP kind (HTTPRoute,
// GRPCRoute) into Strata apps, one per route.
type routeReconciler struct {
	*Controller
	routeKind
}

func (r routeReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	owner := translate.Owner{Cluster: r.opts.Cluster, Kind: r.kind, Namespace: req.Namespace, Name: req.Name}
	obj := r.newObj()
	err := r.client.Get(ctx, req.NamespacedName, obj)
	rt := routeOf(obj)
	if err != nil {
		if client.IgnoreNotFound(err) != nil {
			return reconcile.Result{}, err
		}
		_, err := r.applier.Delete(ctx, owner)
		return reconcile.Result{}, err
	}
	parents := r.attachments(ctx, rt)
	if len(parents) == 0 {
		// No parent of ours (any more): the app goes.
		_, err := r.applier.Delete(ctx, owner)
		return reconcile.Result{}, err
	}
	in := translate.HTTPRouteInput{Cluster: r.opts.Cluster, Partitions: r.opts.Partitions,
		RefAllowed: func(from, to, name string) bool { return r.granted(ctx, r.kind, from, to, "Service", name) }}
	var tlsErr error
	note := ""
	hosts := map[string]bool{}
	accepted := 0
	for _, a := range parents {
		if a.err != nil {
			continue
		}
		accepted++
		for _, h := range a.hostnames {
			hosts[h] = true
		}
		for _, l := range a.listeners {
			port := uint32(l.Port)
			if l.Protocol == gwv1.HTTPSProtocolType {
				if !slices.Contains(in.HTTPSPorts, port) {
					in.HTTPSPorts = append(in.HTTPSPorts, port)
				}
				refs, err := r.listenerSecrets(ctx, a.gw, l)
				if n, stop := certificateProblem(err); stop != nil {
					tlsErr = stop
				} else if n != "" {
					note = n
				}
				for _, s := range refs {
					if !slices.Contains(in.TLS, s) {
						in.TLS = append(in.TLS, s)
					}
				}
			} else if !slices.Contains(in.HTTPPorts, port) {
				in.HTTPPorts = append(in.HTTPPorts, port)
			}
		}
	}
	for h := range hosts {
		in.Hostnames = append(in.Hostnames, h)
	}
	slices.Sort(in.HTTPPorts)
	slices.Sort(in.HTTPSPorts)

	var terr *translate.Error
	var plan *translate.Plan
	if accepted > 0 {
		plan, err = rt.translate(in, backends{ctx, r.client, r.opts.Cluster})
		if err != nil && !errors.As(err, &terr) {
			return reconcile.Result{}, err // the cache, not the route
		}
	}
	var certs []apply.Certificate
	if plan != nil && tlsErr == nil {
		certs, err = r.certificates(ctx, plan.TLS)
		if err != nil {
			tlsErr = err
		}
	}
	var res apply.Result
	var applyErr error
	if plan != nil && tlsErr == nil {
		res, applyErr = r.applier.Apply(ctx, plan, certs)
		if applyErr == nil && res.Release > 0 {
			r.recorder.Eventf(rt.obj, nil, corev1.EventTypeNormal, reasonReleased, "Release",
				"app %s released as release %d (%d edits), actor %s", owner.AppName(), res.Release, res.Edits, "k8s-controller")
		}
	}
	if terr != nil {
		r.recorder.Eventf(rt.obj, nil, corev1.EventTypeWarning, terr.Reason, "Translate", "%s", terr.Error())
	}
	if applyErr != nil {
		r.recorder.Eventf(rt.obj, nil, corev1.EventTypeWarning, reasonApplyFailed, "Release", "%s", applyErr.Error())
		log.FromContext(ctx).Error(applyErr, "apply", "route", req.NamespacedName)
	}
	if err := r.routeStatus(ctx, rt, parents, nil, outcome{owner: owner, terr: terr, tlsErr: tlsErr, applyErr: applyErr, res: res, note: note, refused: refusedOf(plan)}); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, applyErr // retried with backoff
}

// outcome is what became of a route's app: the translation error, the
// listener TLS error, the apply error or the apply result.
type outcome struct {
	owner    translate.Owner
	terr     *translate.Error
	tlsErr   error
	applyErr error
	res      apply.Result
	// kept says what serves while terr stands.
	kept string
	// note is added to a true Programmed: what the app does without.
	note string
	// refused is a backendRef left out of the applied app (no
	// ReferenceGrant permits it): ResolvedRefs is false with its reason.
	refused *translate.Error
}

func refusedOf(p *translate.Plan) *translate.Error {
	if p == nil {
		return nil
	}
	return p.Refused
}

// routeStatus writes one RouteParentStatus per parent of ours. With scope
// set, parents are the route's attachments to that Gateway only: the
// entries of other Gateways stay as they are.
func (c *Controller) routeStatus(ctx context.Context, rt route, parents []attachment, scope *gwv1.Gateway, o outcome) error {
	owner, terr, tlsErr, applyErr, res := o.owner, o.terr, o.tlsErr, o.applyErr, o.res
	before := rt.status.DeepCopy()
	var keep []gwv1.RouteParentStatus
	for _, ps := range rt.status.Parents {
		if string(ps.ControllerName) != c.opts.ControllerName || scope != nil && !refersTo(ps.ParentRef, rt.obj.GetNamespace(), scope) {
			keep = append(keep, ps)
		}
	}
	gen := rt.obj.GetGeneration()
	for _, a := range parents {
		ps := gwv1.RouteParentStatus{ParentRef: a.ref, ControllerName: gwv1.GatewayController(c.opts.ControllerName)}
		for _, old := range before.Parents {
			if string(old.ControllerName) == c.opts.ControllerName && sameRef(old.ParentRef, a.ref) {
				ps.Conditions = append([]metav1.Condition(nil), old.Conditions...) // a copy: before stays as it was
			}
		}
		conds := &ps.Conditions
		switch {
		case a.err != nil:
			setCondition(conds, gen, translate.CondAccepted, false, a.err.Reason, a.err.Msg)
			setCondition(conds, gen, translate.CondResolvedRefs, true, string(gwv1.RouteReasonResolvedRefs), "not checked: the route is not accepted")
			setCondition(conds, gen, condProgrammed, false, reasonNotApplied, "not accepted by this parent")
		case terr != nil:
			kept := o.kept
			if kept == "" {
				kept = "nothing of it is applied; the previous release, if any, keeps serving"
			}
			if terr.Condition == translate.CondResolvedRefs {
				setCondition(conds, gen, translate.CondAccepted, true, string(gwv1.RouteReasonAccepted), "accepted")
				setCondition(conds, gen, translate.CondResolvedRefs, false, terr.Reason, terr.Error())
			} else {
				setCondition(conds, gen, translate.CondAccepted, false, terr.Reason, terr.Error())
				setCondition(conds, gen, translate.CondResolvedRefs, true, string(gwv1.RouteReasonResolvedRefs), "resolved")
			}
			setCondition(conds, gen, condProgrammed, false, reasonNotApplied, terr.Error()+": "+kept)
		default:
			setCondition(conds, gen, translate.CondAccepted, true, string(gwv1.RouteReasonAccepted), "accepted")
			if o.refused != nil {
				setCondition(conds, gen, translate.CondResolvedRefs, false, o.refused.Reason,
					o.refused.Error()+": the app goes without it (the rule's other backends take its share; none: 500)")
			} else {
				setCondition(conds, gen, translate.CondResolvedRefs, true, string(gwv1.RouteReasonResolvedRefs), "every backend resolved")
			}
			switch {
			case tlsErr != nil:
				setCondition(conds, gen, condProgrammed, false, reasonNotApplied, tlsErr.Error())
			case applyErr != nil:
				setCondition(conds, gen, condProgrammed, false, reasonApplyFailed,
					fmt.Sprintf("the Strata API refused the app (retried with backoff): %v", applyErr))
			default:
				msg := fmt.Sprintf("Strata app %s is released and up to date", owner.AppName())
				if res.Release > 0 {
					msg = fmt.Sprintf("released as release %d of Strata app %s", res.Release, owner.AppName())
				} else if old := findCondition(ps.Conditions, condProgrammed); old != nil && old.Status == "True" {
					msg, _, _ = strings.Cut(old.Message, "; ") // the release it came with, without an old note
				}
				if o.note != "" {
					msg += "; " + o.note
				}
				setCondition(conds, gen, condProgrammed, true, reasonReleased, msg)
			}
		}
		keep = append(keep, ps)
	}
	rt.status.Parents = keep
	if len(before.Parents) == len(keep) {
		same := true
		for i := range keep {
			same = same && sameRef(before.Parents[i].ParentRef, keep[i].ParentRef) && equalConditions(before.Parents[i].Conditions, keep[i].Conditions)
		}
		if same {
			return nil
		}
	}
	return c.client.Status().Update(ctx, rt.obj)
}

// refersTo says whether ref (of a route in namespace ns) names gw.
func refersTo(ref gwv1.ParentReference, ns string, gw *gwv1.Gateway) bool {
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	return ns == gw.Namespace && string(ref.Name) == gw.Name
}

func sameRef(a, b gwv1.ParentReference) bool {
	str := func(p *gwv1.SectionName) string {
		if p == nil {
			return ""
		}
		return string(*p)
	}
	ns := func(p *gwv1.Namespace) string {
		if p == nil {
			return ""
		}
		return string(*p)
	}
	return a.Name == b.Name && ns(a.Namespace) == ns(b.Namespace) && str(a.SectionName) == str(b.SectionName) &&
		(a.Port == nil) == (b.Port == nil) && (a.Port == nil || *a.Port == *b.Port)
}

// granted says whether a ReferenceGrant in toNS lets a fromKind in fromNS
// refer to the toKind named name.
func (c *Controller) granted(ctx context.Context, fromKind, fromNS, toNS, toKind, name string) bool {
	var grants gwv1beta1.ReferenceGrantList
	if err := c.client.List(ctx, &grants, client.InNamespace(toNS)); err != nil {
		return false
	}
	for _, g := range grants.Items {
		from := false
		for _, f := range g.Spec.From {
			from = from || string(f.Kind) == fromKind && string(f.Namespace) == fromNS
		}
		if !from {
			continue
		}
		for _, t := range g.Spec.To {
			if string(t.Kind) == toKind && string(t.Group) == "" && (t.Name == nil || string(*t.Name) == name) {
				return true
			}
		}
	}
	return false
}
