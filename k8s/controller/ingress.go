package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/strata-edge/strata/k8s/apply"
	"github.com/strata-edge/strata/k8s/translate"
)

// ingressReconciler translates the Ingresses of this controller's class.
// Ingress has no conditions: what goes wrong is a Warning event on it.
type ingressReconciler struct{ *Controller }

func (r ingressReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	owner := translate.Owner{Cluster: r.opts.Cluster, Kind: "Ingress", Namespace: req.Namespace, Name: req.Name}
	var ing networkingv1.Ingress
	if err := r.client.Get(ctx, req.NamespacedName, &ing); err != nil {
		if client.IgnoreNotFound(err) != nil {
			return reconcile.Result{}, err
		}
		_, err := r.applier.Delete(ctx, owner)
		return reconcile.Result{}, err
	}
	if !r.ourIngress(&ing) {
		_, err := r.applier.Delete(ctx, owner)
		return reconcile.Result{}, err
	}
	plan, err := translate.Ingress(translate.IngressInput{Ingress: &ing, HTTPPorts: r.opts.HTTPPorts, HTTPSPorts: r.opts.HTTPSPorts,
		Cluster: r.opts.Cluster, Partitions: r.opts.Partitions}, backends{ctx, r.client, r.opts.Cluster})
	var terr *translate.Error
	if errors.As(err, &terr) {
		r.recorder.Eventf(&ing, nil, corev1.EventTypeWarning, terr.Reason, "Translate", "%s: nothing of it is applied; the previous release, if any, keeps serving", terr.Error())
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	certs, err := r.certificates(ctx, plan.TLS)
	if err != nil {
		r.recorder.Eventf(&ing, nil, corev1.EventTypeWarning, "InvalidCertificateRef", "Translate", "%s", err.Error())
		return reconcile.Result{}, nil
	}
	res, err := r.applier.Apply(ctx, plan, certs)
	if err != nil {
		r.recorder.Eventf(&ing, nil, corev1.EventTypeWarning, reasonApplyFailed, "Release", "%s", err.Error())
		return reconcile.Result{}, err
	}
	if res.Release > 0 {
		r.recorder.Eventf(&ing, nil, corev1.EventTypeNormal, reasonReleased, "Release",
			"app %s released as release %d (%d edits)", owner.AppName(), res.Release, res.Edits)
	}
	var lb []networkingv1.IngressLoadBalancerIngress
	for _, a := range r.opts.Addresses {
		if t := ptrAddrType(a); string(*t) == "Hostname" {
			lb = append(lb, networkingv1.IngressLoadBalancerIngress{Hostname: a})
		} else {
			lb = append(lb, networkingv1.IngressLoadBalancerIngress{IP: a})
		}
	}
	if fmt.Sprint(lb) != fmt.Sprint(ing.Status.LoadBalancer.Ingress) {
		ing.Status.LoadBalancer.Ingress = lb
		return reconcile.Result{}, r.client.Status().Update(ctx, &ing)
	}
	return reconcile.Result{}, nil
}

// ourIngress: the Ingress names this controller's class, or names none
// while this controller's class is the cluster's default.
func (r ingressReconciler) ourIngress(ing *networkingv1.Ingress) bool {
	if ing.Spec.IngressClassName != nil {
		return *ing.Spec.IngressClassName == r.opts.IngressClass
	}
	if c, ok := ing.Annotations["kubernetes.io/ingress.class"]; ok {
		return c == r.opts.IngressClass
	}
	return r.opts.DefaultIngressClass
}

// certificates reads TLS Secrets. A certificate's Strata name carries a
// hash of its content, so a rotated Secret uploads a new certificate.
func (c *Controller) certificates(ctx context.Context, refs []translate.SecretRef) ([]apply.Certificate, error) {
	var out []apply.Certificate
	for _, ref := range refs {
		var s corev1.Secret
		if err := c.client.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, &s); err != nil {
			return nil, fmt.Errorf("TLS Secret %s: %w", ref, err)
		}
		crt, key := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
		if len(crt) == 0 || len(key) == 0 {
			return nil, fmt.Errorf("TLS Secret %s has no tls.crt and tls.key", ref)
		}
		if len(crt)+len(key) > 1<<20 {
			return nil, fmt.Errorf("TLS Secret %s: tls.crt and tls.key are over 1 MiB", ref)
		}
		sum := sha256.Sum256(append(append([]byte(nil), crt...), key...))
		name := translate.Owner{Cluster: c.opts.Cluster, Kind: "tls", Namespace: ref.Namespace, Name: ref.Name}.AppName()
		name = shortName(name, 55) + "." + hex.EncodeToString(sum[:4])
		out = append(out, apply.Certificate{Name: name, ChainPEM: string(crt), Key: string(key)})
	}
	return out, nil
}

func shortName(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func findCondition(conds []metav1.Condition, typ string) *metav1.Condition {
	return meta.FindStatusCondition(conds, typ)
}
