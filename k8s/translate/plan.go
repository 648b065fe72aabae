// Package translate turns Kubernetes routing objects (Gateway API HTTPRoute,
// networking.k8s.io Ingress) into a Plan: the whole Strata app one object
// becomes, with its upstreams and ordered page rules. It is pure: the
// controller resolves Services to endpoints through the Backends interface,
// and an object that cannot be translated yields an *Error and no Plan, so a
// route is applied whole or not at all.
package translate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// Labels every app the controller manages carries; the controller finds its
// apps (and their owners after a restart) by them.
const (
	LabelManagedBy = "managed_by"
	ManagedBy      = "k8s-controller"
	LabelCluster   = "k8s_cluster"
	LabelKind      = "k8s_kind"
	LabelNamespace = "k8s_namespace"
	LabelName      = "k8s_name"
)

// Owner names the Kubernetes object an app is made from.
type Owner struct {
	Cluster   string // the controller's --cluster: several clusters share one control plane
	Kind      string // "HTTPRoute" or "Ingress"
	Namespace string
	Name      string
}

func (o Owner) String() string { return fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name) }

// AppName is the Strata app name of o: readable, at most 64 characters
// (a hash of the whole name replaces what does not fit), the same on every
// run so that a restarted controller finds its apps.
func (o Owner) AppName() string {
	kind := map[string]string{"HTTPRoute": "httproute", "Ingress": "ingress", "GRPCRoute": "grpcroute"}[o.Kind]
	if kind == "" {
		kind = strings.ToLower(o.Kind)
	}
	full := strings.Join([]string{"k8s", o.Cluster, kind, o.Namespace, o.Name}, ".")
	return shorten(full, 64)
}

// Labels are the labels of o's app.
func (o Owner) Labels() map[string]string {
	return map[string]string{
		LabelManagedBy: ManagedBy, LabelCluster: o.Cluster, LabelKind: o.Kind,
		LabelNamespace: o.Namespace, LabelName: o.Name,
	}
}

// shorten keeps s when it fits in n bytes, else cuts it and appends 8 hex
// digits of its hash, so distinct long names stay distinct.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return strings.TrimRight(s[:n-9], "-._") + "-" + hex.EncodeToString(sum[:4])
}

// Plan is the whole Strata app one Kubernetes object becomes.
type Plan struct {
	Owner      Owner
	Domains    []string
	HTTPPorts  []uint32
	HTTPSPorts []uint32
	Partitions []string
	Labels     map[string]string
	Upstreams  []*configv1.Upstream // sorted by name
	Rules      []*configv1.Rule     // in evaluation order
	// TLS lists the Secrets (namespace/name) whose certificates the app
	// serves; the controller uploads them through the certificate API.
	TLS []SecretRef
	// Source is the object's generation, for the release note.
	Generation int64
}

// SecretRef names a kubernetes.io/tls Secret.
type SecretRef struct{ Namespace, Name string }

func (s SecretRef) String() string { return s.Namespace + "/" + s.Name }

// Error is why an object cannot be translated. Condition is the status
// condition it fails (Accepted or ResolvedRefs), Reason the Gateway API reason
// (UnsupportedValue, BackendNotFound, ...), Field the path in the object.
type Error struct {
	Condition string
	Reason    string
	Field     string
	Msg       string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Condition types and reasons of the Gateway API used on errors.
const (
	CondAccepted     = "Accepted"
	CondResolvedRefs = "ResolvedRefs"

	ReasonUnsupportedValue = "UnsupportedValue"
	ReasonBackendNotFound  = "BackendNotFound"
	ReasonInvalidKind      = "InvalidKind"
	ReasonRefNotPermitted  = "RefNotPermitted"
	ReasonNoHostname       = "NoMatchingListenerHostname"
)

func unsupported(field, format string, a ...any) *Error {
	return &Error{Condition: CondAccepted, Reason: ReasonUnsupportedValue, Field: field, Msg: fmt.Sprintf(format, a...)}
}

// Backends resolves a Service port to the server set of its endpoints.
type Backends interface {
	// Endpoints returns the id of the UpstreamEndpoints set that holds the
	// endpoints of Service namespace/name at its port (a number, or a name
	// for Ingress), or an *Error (ResolvedRefs) when the Service or port
	// does not exist. The set is kept current apart from the app (no
	// release when endpoints change).
	Endpoints(namespace, name string, port PortRef) (string, error)
}

// PortRef is a Service port by number or by name.
type PortRef struct {
	Number int32
	Name   string
}

func (p PortRef) String() string {
	if p.Name != "" {
		return p.Name
	}
	return fmt.Sprint(p.Number)
}

// upstreamSet collects the upstreams of a plan, one per Service port.
type upstreamSet map[string]*configv1.Upstream

// add returns the upstream name of Service ns/name at port, adding the
// upstream: its servers are the Service port's set of endpoints.
func (u upstreamSet) add(b Backends, field, ns, name string, port PortRef) (string, error) {
	set, err := b.Endpoints(ns, name, port)
	if err != nil {
		if e, ok := err.(*Error); ok && e.Field == "" {
			e.Field = field
		}
		return "", err
	}
	up := shorten(strings.Join([]string{ns, name, port.String()}, "."), 64)
	if _, ok := u[up]; !ok {
		u[up] = &configv1.Upstream{Name: up, Endpoints: set, Policy: configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN}
	}
	return up, nil
}

func (u upstreamSet) sorted() []*configv1.Upstream {
	names := make([]string, 0, len(u))
	for n := range u {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*configv1.Upstream, len(names))
	for i, n := range names {
		out[i] = u[n]
	}
	return out
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func regexpQuote(s string) string { return regexp.QuoteMeta(s) }
