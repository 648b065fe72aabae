package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/strata-edge/strata/k8s/translate"
)

// classReconciler accepts the GatewayClasses naming this controller.
type classReconciler struct{ *Controller }

func (r classReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var gc gwv1.GatewayClass
	if err := r.client.Get(ctx, req.NamespacedName, &gc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if string(gc.Spec.ControllerName) != r.opts.ControllerName {
		return reconcile.Result{}, nil
	}
	before := gc.DeepCopy()
	setCondition(&gc.Status.Conditions, gc.Generation, string(gwv1.GatewayClassConditionStatusAccepted), true,
		string(gwv1.GatewayClassReasonAccepted), "handled by the Strata k8s-controller")
	if equalConditions(before.Status.Conditions, gc.Status.Conditions) {
		return reconcile.Result{}, nil
	}
	return reconcile.Result{}, r.client.Status().Update(ctx, &gc)
}

// ours says whether gw's class is handled by this controller.
func (c *Controller) ours(ctx context.Context, gw *gwv1.Gateway) bool {
	var gc gwv1.GatewayClass
	if err := c.client.Get(ctx, client.ObjectKey{Name: string(gw.Spec.GatewayClassName)}, &gc); err != nil {
		return false
	}
	return string(gc.Spec.ControllerName) == c.opts.ControllerName
}

// gatewayReconciler writes the status of this controller's Gateways:
// which listeners are supported, their certificates, attached routes.
type gatewayReconciler struct{ *Controller }

func (r gatewayReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var gw gwv1.Gateway
	if err := r.client.Get(ctx, req.NamespacedName, &gw); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !r.ours(ctx, &gw) {
		return reconcile.Result{}, nil
	}
	routes, err := r.allRouteObjects(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	before := gw.DeepCopy()
	var statuses []gwv1.ListenerStatus
	allOK := true
	for _, l := range gw.Spec.Listeners {
		ls := gwv1.ListenerStatus{Name: l.Name, SupportedKinds: []gwv1.RouteGroupKind{}}
		for _, old := range gw.Status.Listeners {
			if old.Name == l.Name {
				ls.Conditions = old.Conditions
			}
		}
		accepted, reason, msg := true, string(gwv1.ListenerReasonAccepted), "accepted"
		switch {
		case l.Protocol == gwv1.HTTPProtocolType || l.Protocol == gwv1.HTTPSProtocolType:
			ls.SupportedKinds = []gwv1.RouteGroupKind{{Group: ptrGroup(gwv1.GroupName), Kind: "HTTPRoute"}, {Group: ptrGroup(gwv1.GroupName), Kind: "GRPCRoute"}}
		case r.served[streamKinds[l.Protocol].kind]:
			ls.SupportedKinds = []gwv1.RouteGroupKind{{Group: ptrGroup(gwv1.GroupName), Kind: gwv1.Kind(streamKinds[l.Protocol].kind)}}
		default:
			accepted, reason, msg = false, string(gwv1.ListenerReasonUnsupportedProtocol),
				fmt.Sprintf("protocol %s is not supported: use HTTP, HTTPS, TLS, TCP or UDP", l.Protocol)
			if k, ok := streamKinds[l.Protocol]; ok {
				msg = fmt.Sprintf("protocol %s needs the %s CRD (gateway.networking.k8s.io/v1, Gateway API v1.5 or later): install it and restart the controller", l.Protocol, k.kind)
			}
		}
		refsOK, refsReason, refsMsg := true, string(gwv1.ListenerReasonResolvedRefs), "resolved"
		if needsCertificates(l) {
			if _, err := r.listenerSecrets(ctx, &gw, l); err != nil {
				refsOK, refsReason, refsMsg = false, string(gwv1.ListenerReasonInvalidCertificateRef), err.Error()
				if errors.As(err, new(refNotPermitted)) {
					refsReason = string(gwv1.ListenerReasonRefNotPermitted)
				}
			}
		}
		attached := int32(0)
		for _, rt := range routes {
			for _, a := range r.attachments(ctx, rt) {
				if a.gw.Name == gw.Name && a.gw.Namespace == gw.Namespace && a.err == nil {
					for _, al := range a.listeners {
						if al.Name == l.Name {
							attached++
						}
					}
				}
			}
		}
		ls.AttachedRoutes = attached
		setCondition(&ls.Conditions, gw.Generation, string(gwv1.ListenerConditionAccepted), accepted, reason, msg)
		setCondition(&ls.Conditions, gw.Generation, string(gwv1.ListenerConditionResolvedRefs), refsOK, refsReason, refsMsg)
		prog, progReason := accepted && refsOK, string(gwv1.ListenerReasonProgrammed)
		if !prog {
			progReason = string(gwv1.ListenerReasonInvalid)
		}
		setCondition(&ls.Conditions, gw.Generation, string(gwv1.ListenerConditionProgrammed), prog, progReason, msg)
		allOK = allOK && prog
		statuses = append(statuses, ls)
	}
	gw.Status.Listeners = statuses
	gw.Status.Addresses = nil
	for _, a := range r.opts.Addresses {
		gw.Status.Addresses = append(gw.Status.Addresses, gwv1.GatewayStatusAddress{Type: ptrAddrType(a), Value: a})
	}
	setCondition(&gw.Status.Conditions, gw.Generation, string(gwv1.GatewayConditionAccepted), true, string(gwv1.GatewayReasonAccepted),
		fmt.Sprintf("served by the Strata nodes of partition(s) %s", strings.Join(r.opts.Partitions, ", ")))
	progMsg := "every listener is programmed"
	if !allOK {
		progMsg = "some listeners are not programmed: see status.listeners"
	}
	setCondition(&gw.Status.Conditions, gw.Generation, string(gwv1.GatewayConditionProgrammed), true, string(gwv1.GatewayReasonProgrammed), progMsg)
	if equalConditions(before.Status.Conditions, gw.Status.Conditions) && equalListeners(before.Status.Listeners, gw.Status.Listeners) &&
		len(before.Status.Addresses) == len(gw.Status.Addresses) {
		return reconcile.Result{}, nil
	}
	return reconcile.Result{}, r.client.Status().Update(ctx, &gw)
}

// needsCertificates: an HTTPS listener, or a TLS listener that terminates.
func needsCertificates(l gwv1.Listener) bool {
	return l.Protocol == gwv1.HTTPSProtocolType || l.Protocol == gwv1.TLSProtocolType && terminates(l)
}

// terminates says whether a TLS listener terminates TLS (Passthrough is the
// default of protocol TLS).
func terminates(l gwv1.Listener) bool {
	return l.TLS != nil && l.TLS.Mode != nil && *l.TLS.Mode == gwv1.TLSModeTerminate
}

// refNotPermitted is a certificateRef to another namespace that no
// ReferenceGrant permits (any more): the listener serves without it.
type refNotPermitted struct{ msg string }

func (e refNotPermitted) Error() string { return e.msg }

// listenerSecrets are the TLS Secrets of an HTTPS listener or a TLS
// listener in mode Terminate; an error names the reference that does not
// resolve. A reference no ReferenceGrant permits is left out of the list,
// which comes with a refNotPermitted error: the apps go on without that
// certificate, so that deleting a grant revokes it.
func (c *Controller) listenerSecrets(ctx context.Context, gw *gwv1.Gateway, l gwv1.Listener) ([]translate.SecretRef, error) {
	var denied error
	if l.TLS == nil || len(l.TLS.CertificateRefs) == 0 {
		return nil, fmt.Errorf("listener %s: %s needs tls.certificateRefs (a kubernetes.io/tls Secret)", l.Name, l.Protocol)
	}
	if l.Protocol == gwv1.HTTPSProtocolType && l.TLS.Mode != nil && *l.TLS.Mode != gwv1.TLSModeTerminate {
		return nil, fmt.Errorf("listener %s: tls.mode %s is not supported on HTTPS: use Terminate, or protocol TLS with a TLSRoute for Passthrough", l.Name, *l.TLS.Mode)
	}
	var out []translate.SecretRef
	for i, ref := range l.TLS.CertificateRefs {
		if ref.Group != nil && *ref.Group != "" || ref.Kind != nil && *ref.Kind != "Secret" {
			return nil, fmt.Errorf("listener %s: tls.certificateRefs[%d]: only core Secrets are supported", l.Name, i)
		}
		ns := gw.Namespace
		if ref.Namespace != nil && string(*ref.Namespace) != ns {
			if !c.granted(ctx, "Gateway", gw.Namespace, string(*ref.Namespace), "Secret", string(ref.Name)) {
				denied = refNotPermitted{fmt.Sprintf("listener %s: tls.certificateRefs[%d]: Secret %s/%s is in another namespace and no ReferenceGrant in %s permits it: its certificate is not served",
					l.Name, i, *ref.Namespace, ref.Name, *ref.Namespace)}
				continue
			}
			ns = string(*ref.Namespace)
		}
		var s corev1.Secret
		if err := c.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: string(ref.Name)}, &s); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("listener %s: tls.certificateRefs[%d]: Secret %s/%s not found", l.Name, i, ns, ref.Name)
			}
			return nil, err
		}
		if len(s.Data[corev1.TLSCertKey]) == 0 || len(s.Data[corev1.TLSPrivateKeyKey]) == 0 {
			return nil, fmt.Errorf("listener %s: tls.certificateRefs[%d]: Secret %s/%s has no tls.crt and tls.key", l.Name, i, ns, ref.Name)
		}
		out = append(out, translate.SecretRef{Namespace: ns, Name: string(ref.Name)})
	}
	return out, denied
}

// certificateProblem sorts a listenerSecrets error: a refused reference is
// a note (the app is applied without it), anything else stops the apply.
func certificateProblem(err error) (note string, stop error) {
	if errors.As(err, new(refNotPermitted)) {
		return err.Error(), nil
	}
	return "", err
}

// allRouteObjects lists the routes of every kind the controller watches.
func (c *Controller) allRouteObjects(ctx context.Context) ([]route, error) {
	var out []route
	for _, k := range c.routeKinds() {
		l, err := k.list(ctx, c.client)
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
	}
	return out, nil
}

// routeKinds are the route kinds watched: HTTPRoute, GRPCRoute, and the
// stream kinds whose CRDs the cluster serves.
func (c *Controller) routeKinds() []routeKind {
	out := []routeKind{httpKind, grpcKind}
	return append(out, c.streamKinds()...)
}

func (c *Controller) streamKinds() []routeKind {
	var out []routeKind
	for _, k := range []routeKind{tlsKind, tcpKind, udpKind} {
		if c.served[k.kind] {
			out = append(out, k)
		}
	}
	return out
}

// listenerProtocols are the listener protocols a route kind attaches to.
func listenerProtocols(kind string) []gwv1.ProtocolType {
	for p, k := range streamKinds {
		if k.kind == kind {
			return []gwv1.ProtocolType{p}
		}
	}
	return []gwv1.ProtocolType{gwv1.HTTPProtocolType, gwv1.HTTPSProtocolType}
}

// attachment is one parentRef of a route that names a Gateway of ours.
type attachment struct {
	ref       gwv1.ParentReference
	gw        *gwv1.Gateway
	listeners []gwv1.Listener
	hostnames []string
	err       *translate.Error // why the route is not accepted by this parent
}

// attachments resolves the parentRefs of route to this controller's
// Gateways and the listeners that accept it.
func (c *Controller) attachments(ctx context.Context, rt route) []attachment {
	kind, routeNS, routeHosts := rt.kind, rt.obj.GetNamespace(), rt.hostnames
	protocols := listenerProtocols(kind)
	var out []attachment
	for _, ref := range rt.parents {
		if ref.Group != nil && *ref.Group != gwv1.GroupName || ref.Kind != nil && *ref.Kind != "Gateway" {
			continue
		}
		ns := routeNS
		if ref.Namespace != nil {
			ns = string(*ref.Namespace)
		}
		var gw gwv1.Gateway
		if err := c.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: string(ref.Name)}, &gw); err != nil || !c.ours(ctx, &gw) {
			continue
		}
		a := attachment{ref: ref, gw: &gw}
		matched := false
		hosts := map[string]bool{}
		for _, l := range gw.Spec.Listeners {
			if ref.SectionName != nil && *ref.SectionName != l.Name || ref.Port != nil && *ref.Port != l.Port {
				continue
			}
			if !slices.Contains(protocols, l.Protocol) {
				continue
			}
			matched = true
			if !c.allowed(ctx, &gw, l, kind, routeNS) {
				continue
			}
			hs := intersect(routeHosts, l.Hostname)
			if len(hs) == 0 && (len(routeHosts) > 0 || l.Hostname != nil) {
				continue
			}
			for _, h := range hs {
				hosts[h] = true
			}
			a.listeners = append(a.listeners, l)
		}
		for h := range hosts {
			a.hostnames = append(a.hostnames, h)
		}
		switch {
		case !matched:
			a.err = &translate.Error{Condition: translate.CondAccepted, Reason: string(gwv1.RouteReasonNoMatchingParent),
				Msg: fmt.Sprintf("Gateway %s/%s has no %s listener matching the parentRef's sectionName/port (a %s attaches to protocol %s)",
					ns, ref.Name, protocolList(protocols), kind, protocolList(protocols))}
		case len(a.listeners) == 0 && len(hosts) == 0:
			a.err = &translate.Error{Condition: translate.CondAccepted, Reason: string(gwv1.RouteReasonNotAllowedByListeners),
				Msg: fmt.Sprintf("no listener of Gateway %s/%s accepts this route: check allowedRoutes and the hostnames of the route and listeners", ns, ref.Name)}
		}
		out = append(out, a)
	}
	return out
}

// allowed applies a listener's allowedRoutes to a route in namespace ns.
func (c *Controller) allowed(ctx context.Context, gw *gwv1.Gateway, l gwv1.Listener, kind, ns string) bool {
	if l.AllowedRoutes != nil && len(l.AllowedRoutes.Kinds) > 0 {
		ok := false
		for _, k := range l.AllowedRoutes.Kinds {
			ok = ok || string(k.Kind) == kind
		}
		if !ok {
			return false
		}
	}
	from := gwv1.NamespacesFromSame
	if l.AllowedRoutes != nil && l.AllowedRoutes.Namespaces != nil && l.AllowedRoutes.Namespaces.From != nil {
		from = *l.AllowedRoutes.Namespaces.From
	}
	switch from {
	case gwv1.NamespacesFromAll:
		return true
	case gwv1.NamespacesFromSelector:
		sel, err := metav1.LabelSelectorAsSelector(l.AllowedRoutes.Namespaces.Selector)
		if err != nil {
			return false
		}
		var n corev1.Namespace
		if err := c.client.Get(ctx, client.ObjectKey{Name: ns}, &n); err != nil {
			return false
		}
		return sel.Matches(labels.Set(n.Labels))
	default:
		return ns == gw.Namespace
	}
}

// intersect is the hostnames a route serves on a listener (Gateway API
// hostname matching, wildcards of one or more labels).
func intersect(route []gwv1.Hostname, listener *gwv1.Hostname) []string {
	if listener == nil || *listener == "" {
		out := make([]string, len(route))
		for i, h := range route {
			out[i] = string(h)
		}
		return out
	}
	l := string(*listener)
	if len(route) == 0 {
		return []string{l}
	}
	var out []string
	for _, rh := range route {
		r := string(rh)
		switch {
		case r == l:
			out = append(out, r)
		case strings.HasPrefix(l, "*.") && strings.HasSuffix(r, l[1:]):
			out = append(out, r)
		case strings.HasPrefix(r, "*.") && strings.HasSuffix(l, r[1:]):
			out = append(out, l)
		}
	}
	return out
}

func protocolList(ps []gwv1.ProtocolType) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, " or ")
}

func equalConditions(a, b []metav1.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || a[i].Status != b[i].Status || a[i].Reason != b[i].Reason ||
			a[i].Message != b[i].Message || a[i].ObservedGeneration != b[i].ObservedGeneration {
			return false
		}
	}
	return true
}

func equalListeners(a, b []gwv1.ListenerStatus) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].AttachedRoutes != b[i].AttachedRoutes || len(a[i].SupportedKinds) != len(b[i].SupportedKinds) ||
			!equalConditions(a[i].Conditions, b[i].Conditions) {
			return false
		}
	}
	return true
}

func ptrGroup(g string) *gwv1.Group { x := gwv1.Group(g); return &x }

func ptrAddrType(a string) *gwv1.AddressType {
	t := gwv1.IPAddressType
	if strings.IndexFunc(a, func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }) >= 0 && !strings.Contains(a, ":") {
		t = gwv1.HostnameAddressType
	}
	return &t
}
