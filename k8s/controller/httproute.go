package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
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

// route is an HTTPRoute or a GRPCRoute as the reconciler handles it.
type route struct {
	kind      string
	obj       client.Object
	parents   []gwv1.ParentReference
	hostnames []gwv1.Hostname
	status    *gwv1.RouteStatus
	translate func(translate.HTTPRouteInput, translate.Backends) (*translate.Plan, error)
}

func httpRoute(r *gwv1.HTTPRoute) route {
	return route{kind: "HTTPRoute", obj: r, parents: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames, status: &r.Status.RouteStatus,
		translate: func(in translate.HTTPRouteInput, b translate.Backends) (*translate.Plan, error) {
			in.Route = r
			return translate.HTTPRoute(in, b)
		}}
}

func grpcRoute(r *gwv1.GRPCRoute) route {
	return route{kind: "GRPCRoute", obj: r, parents: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames, status: &r.Status.RouteStatus,
		translate: func(in translate.HTTPRouteInput, b translate.Backends) (*translate.Plan, error) {
			return translate.GRPCRoute(translate.GRPCRouteInput{Route: r, HTTPRouteInput: in}, b)
		}}
}

// newRoute fetches the route of kind named by req.
func (c *Controller) newRoute(ctx context.Context, kind string, req reconcile.Request) (route, error) {
	if kind == "GRPCRoute" {
		var r gwv1.GRPCRoute
		err := c.client.Get(ctx, req.NamespacedName, &r)
		return grpcRoute(&r), err
	}
	var r gwv1.HTTPRoute
	err := c.client.Get(ctx, req.NamespacedName, &r)
	return httpRoute(&r), err
}

// routeReconciler translates HTTPRoutes (or GRPCRoutes) into Strata apps.
type routeReconciler struct {
	*Controller
	kind string
}

func (r routeReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	owner := translate.Owner{Cluster: r.opts.Cluster, Kind: r.kind, Namespace: req.Namespace, Name: req.Name}
	rt, err := r.newRoute(ctx, r.kind, req)
	if err != nil {
		if client.IgnoreNotFound(err) != nil {
			return reconcile.Result{}, err
		}
		_, err := r.applier.Delete(ctx, owner)
		return reconcile.Result{}, err
	}
	parents := r.attachments(ctx, r.kind, req.Namespace, rt.parents, rt.hostnames)
	if len(parents) == 0 {
		// No parent of ours (any more): the app goes.
		_, err := r.applier.Delete(ctx, owner)
		return reconcile.Result{}, err
	}
	in := translate.HTTPRouteInput{Cluster: r.opts.Cluster, Partitions: r.opts.Partitions,
		RefAllowed: func(from, to, name string) bool { return r.granted(ctx, r.kind, from, to, "Service", name) }}
	var tlsErr error
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
				if err != nil {
					tlsErr = err
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
	if err := r.routeStatus(ctx, rt, owner, parents, terr, tlsErr, applyErr, res); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, applyErr // retried with backoff
}

// routeStatus writes one RouteParentStatus per parent of ours.
func (r routeReconciler) routeStatus(ctx context.Context, rt route, owner translate.Owner, parents []attachment, terr *translate.Error, tlsErr, applyErr error, res apply.Result) error {
	before := rt.status.DeepCopy()
	var keep []gwv1.RouteParentStatus
	for _, ps := range rt.status.Parents {
		if string(ps.ControllerName) != r.opts.ControllerName {
			keep = append(keep, ps)
		}
	}
	gen := rt.obj.GetGeneration()
	for _, a := range parents {
		ps := gwv1.RouteParentStatus{ParentRef: a.ref, ControllerName: gwv1.GatewayController(r.opts.ControllerName)}
		for _, old := range before.Parents {
			if string(old.ControllerName) == r.opts.ControllerName && sameRef(old.ParentRef, a.ref) {
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
			kept := "nothing of it is applied; the previous release, if any, keeps serving"
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
			setCondition(conds, gen, translate.CondResolvedRefs, true, string(gwv1.RouteReasonResolvedRefs), "every backend resolved")
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
					msg = old.Message
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
	return r.client.Status().Update(ctx, rt.obj)
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
