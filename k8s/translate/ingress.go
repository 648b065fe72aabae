package translate

import (
	"fmt"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// IngressInput is an Ingress and where its app goes.
type IngressInput struct {
	Ingress    *networkingv1.Ingress
	HTTPPorts  []uint32
	HTTPSPorts []uint32
	Cluster    string
	Partitions []string
}

// Ingress translates one Ingress into the plan of its app: its hosts are the
// app's domains, each path a rule (Exact before Prefix, longer prefixes
// first, as the Ingress spec orders them), the default backend last.
func Ingress(in IngressInput, b Backends) (*Plan, error) {
	ing := in.Ingress
	owner := Owner{Cluster: in.Cluster, Kind: "Ingress", Namespace: ing.Namespace, Name: ing.Name}
	p := &Plan{Owner: owner, HTTPPorts: in.HTTPPorts, Partitions: in.Partitions, Labels: owner.Labels(), Generation: ing.Generation}
	ups := upstreamSet{}
	type path struct {
		host, field string
		exact       bool
		value       string
		up          string // "" when the backend has no ready endpoint
		order       int
	}
	var paths []path
	var hosts []string
	for i, rule := range ing.Spec.Rules {
		field := fmt.Sprintf("spec.rules[%d]", i)
		if rule.Host == "" {
			return nil, &Error{Condition: CondAccepted, Reason: ReasonNoHostname, Field: field + ".host",
				Msg: "Strata routes by host name: set a host on every rule"}
		}
		hosts = append(hosts, rule.Host)
		if rule.HTTP == nil {
			continue
		}
		for j, hp := range rule.HTTP.Paths {
			pf := fmt.Sprintf("%s.http.paths[%d]", field, j)
			up, err := ingressBackend(pf+".backend", ing.Namespace, hp.Backend, b, ups)
			if err != nil {
				return nil, err
			}
			exact := hp.PathType != nil && *hp.PathType == networkingv1.PathTypeExact
			value := hp.Path
			if value == "" {
				value = "/"
			}
			if !strings.HasPrefix(value, "/") {
				return nil, unsupported(pf+".path", "%q must start with /", value)
			}
			paths = append(paths, path{rule.Host, pf, exact, value, up, len(paths)})
		}
	}
	if len(hosts) == 0 {
		return nil, &Error{Condition: CondAccepted, Reason: ReasonNoHostname, Field: "spec.rules",
			Msg: "Strata routes by host name: add a rule with a host"}
	}
	if len(paths) > maxRules {
		return nil, unsupported("spec.rules", "%d paths in all, more than %d", len(paths), maxRules)
	}
	sort.SliceStable(paths, func(a, c int) bool {
		if paths[a].exact != paths[c].exact {
			return paths[a].exact
		}
		return len(paths[a].value) > len(paths[c].value)
	})
	for _, pt := range paths {
		var when string
		if pt.exact {
			when = "Host(" + q(pt.host) + ") && Path(" + q(pt.value) + ")"
		} else if v := strings.TrimRight(pt.value, "/"); v != "" {
			when = "Host(" + q(pt.host) + ") && (Path(" + q(v) + ") || PathPrefix(" + q(v+"/") + "))"
		} else {
			when = "Host(" + q(pt.host) + ")"
		}
		p.Rules = append(p.Rules, &configv1.Rule{Name: fmt.Sprintf("path%d", pt.order), When: when, Actions: []*configv1.Action{proxyTo(pt.up)}})
	}
	if d := ing.Spec.DefaultBackend; d != nil {
		up, err := ingressBackend("spec.defaultBackend", ing.Namespace, *d, b, ups)
		if err != nil {
			return nil, err
		}
		p.Rules = append(p.Rules, &configv1.Rule{Name: "default", Actions: []*configv1.Action{proxyTo(up)}})
	}
	for i, t := range ing.Spec.TLS {
		if t.SecretName == "" {
			return nil, unsupported(fmt.Sprintf("spec.tls[%d].secretName", i), "is required (Strata does not pick a default certificate)")
		}
		p.TLS = append(p.TLS, SecretRef{Namespace: ing.Namespace, Name: t.SecretName})
	}
	if len(p.TLS) > 0 {
		p.HTTPSPorts = in.HTTPSPorts
	}
	p.Domains = sortedUnique(hosts)
	p.Upstreams = ups.sorted()
	return p, nil
}

func ingressBackend(field, ns string, be networkingv1.IngressBackend, b Backends, ups upstreamSet) (string, error) {
	if be.Resource != nil || be.Service == nil {
		return "", &Error{Condition: CondResolvedRefs, Reason: ReasonInvalidKind, Field: field, Msg: "only Service backends are supported"}
	}
	port := PortRef{Number: be.Service.Port.Number, Name: be.Service.Port.Name}
	return ups.add(b, field+".service", ns, be.Service.Name, port)
}

func proxyTo(up string) *configv1.Action {
	return &configv1.Action{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{
		Upstreams: []*configv1.WeightedUpstream{{Upstream: up, Weight: 1}}}}}
}
