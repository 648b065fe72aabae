package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/strata-edge/strata/k8s/apply"
	"github.com/strata-edge/strata/k8s/translate"
)

// streamReconciler makes one Strata stream app of each TLS, TCP and UDP
// listener of a Gateway (a port is one stream app's, so the listener, not
// the route, is the app): an SNI route per hostname of the TLSRoutes
// attached to a TLS listener, the backend of the TCPRoute or UDPRoute of
// the others; and writes the routes' status for that Gateway.
type streamReconciler struct{ *Controller }

func (r streamReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var gw gwv1.Gateway
	err := r.client.Get(ctx, req.NamespacedName, &gw)
	if client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, err
	}
	found := err == nil && r.ours(ctx, &gw)
	var routes []route
	for _, k := range r.streamKinds() {
		l, err := k.list(ctx, r.client)
		if err != nil {
			return reconcile.Result{}, err
		}
		routes = append(routes, l...)
	}
	// Each route's attachments to this Gateway and what became of them.
	parents := make([][]attachment, len(routes))
	outcomes := make([]outcome, len(routes))
	listeners := map[string]bool{}
	var retry error
	if found {
		for i, rt := range routes {
			for _, a := range r.attachments(ctx, rt) {
				if a.gw.Namespace == gw.Namespace && a.gw.Name == gw.Name {
					parents[i] = append(parents[i], a)
				}
			}
		}
		for _, l := range gw.Spec.Listeners {
			if k, ok := streamKinds[l.Protocol]; !ok || !r.served[k.kind] {
				continue
			}
			listeners[string(l.Name)] = true
			if err := r.listener(ctx, &gw, l, routes, parents, outcomes); err != nil {
				retry = err
			}
		}
	}
	// The apps of listeners (or a Gateway) that are gone.
	owned, err := r.applier.Owned(ctx, r.opts.Cluster)
	if err != nil {
		return reconcile.Result{}, err
	}
	for _, o := range owned {
		if o.Kind == "Gateway" && o.Namespace == req.Namespace && o.Name == req.Name && !listeners[o.Section] {
			if _, err := r.applier.Delete(ctx, o); err != nil {
				return reconcile.Result{}, err
			}
		}
	}
	scope := &gwv1.Gateway{}
	scope.Namespace, scope.Name = req.Namespace, req.Name
	for i, rt := range routes {
		if err := r.routeStatus(ctx, rt, parents[i], scope, outcomes[i]); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{}, retry // an apply error is retried with backoff
}

// listener applies the stream app of listener l and records in outcomes
// what became of each route attached to it.
func (r streamReconciler) listener(ctx context.Context, gw *gwv1.Gateway, l gwv1.Listener, routes []route, parents [][]attachment, outcomes []outcome) error {
	owner := translate.Owner{Cluster: r.opts.Cluster, Kind: "Gateway", Namespace: gw.Namespace, Name: gw.Name, Section: string(l.Name)}
	kind := streamKinds[l.Protocol].kind
	in := translate.StreamListenerInput{Gateway: gw, Listener: l, Cluster: r.opts.Cluster, Partitions: r.opts.Partitions}
	var attached []int
	for i, rt := range routes {
		for _, a := range parents[i] {
			if a.err != nil || !hasListener(a.listeners, l.Name) {
				continue
			}
			sr := translate.StreamRoute{Kind: rt.kind, Rules: rt.streamRules}
			sr.ObjectMeta = metav1.ObjectMeta{Namespace: rt.obj.GetNamespace(), Name: rt.obj.GetName(), CreationTimestamp: rt.obj.GetCreationTimestamp()}
			if rt.kind == tlsKind.kind {
				sr.Hostnames = intersect(rt.hostnames, l.Hostname)
			}
			in.Routes = append(in.Routes, sr)
			attached = append(attached, i)
			break
		}
	}
	in.RefAllowed = func(from, to, name string) bool { return r.granted(ctx, kind, from, to, "Service", name) }
	var tlsErr error
	note := ""
	if terminates(l) {
		var err error
		in.TLS, err = r.listenerSecrets(ctx, gw, l)
		note, tlsErr = certificateProblem(err)
	}
	plan, errs, err := translate.StreamListener(in, backends{ctx, r.client, r.opts.Cluster})
	if err != nil {
		return err // the cache, not a route
	}
	var certs []apply.Certificate
	if plan != nil && tlsErr == nil {
		certs, tlsErr = r.certificates(ctx, plan.TLS)
	}
	var res apply.Result
	var applyErr error
	switch {
	case tlsErr != nil:
		r.recorder.Eventf(gw, nil, corev1.EventTypeWarning, string(gwv1.ListenerReasonInvalidCertificateRef), "Translate", "%s", tlsErr.Error())
	case plan == nil:
		// No route has a name to serve: the listener has no app.
		_, applyErr = r.applier.Delete(ctx, owner)
	default:
		res, applyErr = r.applier.Apply(ctx, plan, certs)
		if applyErr == nil && res.Release > 0 {
			r.recorder.Eventf(gw, nil, corev1.EventTypeNormal, reasonReleased, "Release",
				"app %s (listener %s) released as release %d (%d edits), actor %s", owner.AppName(), l.Name, res.Release, res.Edits, "k8s-controller")
		}
	}
	if applyErr != nil {
		r.recorder.Eventf(gw, nil, corev1.EventTypeWarning, reasonApplyFailed, "Release", "%s", applyErr.Error())
		log.FromContext(ctx).Error(applyErr, "apply", "gateway", client.ObjectKeyFromObject(gw), "listener", l.Name)
	}
	for _, i := range attached {
		o := &outcomes[i]
		if o.terr != nil || o.tlsErr != nil || o.applyErr != nil {
			continue // an earlier listener's problem stands
		}
		o.owner, o.tlsErr, o.applyErr, o.res, o.note = owner, tlsErr, applyErr, res, note
		if e := errs[translate.RouteKey(routes[i].obj.GetNamespace(), routes[i].obj.GetName())]; e != nil {
			o.terr = e
			o.kept = fmt.Sprintf("the route is left out of listener %s (Strata app %s): the connections it would take are refused until it is fixed", l.Name, owner.AppName())
			r.recorder.Eventf(routes[i].obj, nil, corev1.EventTypeWarning, e.Reason, "Translate", "%s", e.Error())
		}
	}
	return applyErr
}

func hasListener(ls []gwv1.Listener, name gwv1.SectionName) bool {
	for _, l := range ls {
		if l.Name == name {
			return true
		}
	}
	return false
}
