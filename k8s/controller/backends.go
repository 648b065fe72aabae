package controller

import (
	"context"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/k8s/translate"
)

// backends resolves Service ports to the server sets of their endpoints
// (endpoints.go keeps the sets current), from the manager's cache.
type backends struct {
	ctx     context.Context
	c       client.Reader
	cluster string
}

var _ translate.Backends = backends{}

func (b backends) Endpoints(ns, name string, ref translate.PortRef) (string, error) {
	sp, err := b.servicePort(ns, name, ref)
	if err != nil {
		return "", err
	}
	return EndpointsID(b.cluster, ns, name, sp.Port), nil
}

func (b backends) HealthCheck(ns, name string) (*configv1.HealthCheck, error) {
	svc, err := b.service(ns, name)
	if err != nil {
		return nil, err
	}
	hc, err := translate.HealthCheckOf(svc.Annotations)
	if e, ok := err.(*translate.Error); ok {
		e.Msg = fmt.Sprintf("Service %s/%s %s: %s", ns, name, e.Field, e.Msg)
		e.Field = "" // the route's backendRef field is filled in by the caller
	}
	return hc, err
}

func (b backends) service(ns, name string) (*corev1.Service, error) {
	var svc corev1.Service
	if err := b.c.Get(b.ctx, client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &translate.Error{Condition: translate.CondResolvedRefs, Reason: translate.ReasonBackendNotFound,
				Msg: fmt.Sprintf("Service %s/%s not found", ns, name)}
		}
		return nil, err
	}
	return &svc, nil
}

// servicePort finds the port of Service ns/name that ref names.
func (b backends) servicePort(ns, name string, ref translate.PortRef) (*corev1.ServicePort, error) {
	svc, err := b.service(ns, name)
	if err != nil {
		return nil, err
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if ref.Name != "" && p.Name == ref.Name || ref.Name == "" && p.Port == ref.Number {
			sp = p
			break
		}
	}
	if sp == nil {
		return nil, &translate.Error{Condition: translate.CondResolvedRefs, Reason: translate.ReasonBackendNotFound,
			Msg: fmt.Sprintf("Service %s/%s has no port %s", ns, name, ref)}
	}
	return sp, nil
}

// readyServers lists "ip:port" of the ready endpoints of the slices for
// Service port sp (matched by port name, as EndpointSlices name ports).
func readyServers(slices []discoveryv1.EndpointSlice, sp *corev1.ServicePort) []string {
	var out []string
	for _, s := range slices {
		var port int32 = -1
		for _, p := range s.Ports {
			if p.Port != nil && (p.Name == nil && sp.Name == "" || p.Name != nil && *p.Name == sp.Name) {
				port = *p.Port
			}
		}
		if port < 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			if e.Conditions.Terminating != nil && *e.Conditions.Terminating {
				continue
			}
			for _, a := range e.Addresses {
				out = append(out, net.JoinHostPort(a, strconv.Itoa(int(port))))
			}
		}
	}
	return out
}
