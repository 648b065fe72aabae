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

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

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
	LabelSection   = "k8s_section"
)

// Owner names the Kubernetes object an app is made from.
type Owner struct {
	Cluster   string // the controller's --cluster: several clusters share one control plane
	Kind      string // "HTTPRoute", "GRPCRoute", "Ingress", or "Gateway" (a TLS listener's stream app)
	Namespace string
	Name      string
	// Section is the listener of a Gateway owner (one stream app per TLS
	// listener: a port is one app's); empty for routes.
	Section string
}

func (o Owner) String() string {
	if o.Section != "" {
		return fmt.Sprintf("%s %s/%s listener %s", o.Kind, o.Namespace, o.Name, o.Section)
	}
	return fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name)
}

// AppName is the Strata app name of o: readable, at most 64 characters
// (a hash of the whole name replaces what does not fit), the same on every
// run so that a restarted controller finds its apps.
func (o Owner) AppName() string {
	kind := map[string]string{"HTTPRoute": "httproute", "Ingress": "ingress", "GRPCRoute": "grpcroute"}[o.Kind]
	if kind == "" {
		kind = strings.ToLower(o.Kind)
	}
	parts := []string{"k8s", o.Cluster, kind, o.Namespace, o.Name}
	if o.Section != "" {
		parts = append(parts, o.Section)
	}
	full := strings.Join(parts, ".")
	return shorten(full, 64)
}

// Labels are the labels of o's app.
func (o Owner) Labels() map[string]string {
	l := map[string]string{
		LabelManagedBy: ManagedBy, LabelCluster: o.Cluster, LabelKind: o.Kind,
		LabelNamespace: o.Namespace, LabelName: o.Name,
	}
	if o.Section != "" {
		l[LabelSection] = o.Section
	}
	return l
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
	// Stream is set for a stream app (a Gateway TLS listener): its
	// listener, TLS mode and SNI routes; HTTP ports and rules are then empty.
	Stream *configv1.StreamApp
	// TLS lists the Secrets (namespace/name) whose certificates the app
	// serves; the controller uploads them through the certificate API.
	TLS []SecretRef
	// Refused is the first backendRef no ReferenceGrant permits: the plan
	// leaves it out (requests to it get 500) and the route reports it.
	Refused *Error
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
	// HealthCheck returns the health check the annotations of Service
	// namespace/name ask for (HealthCheckOf), nil for none.
	HealthCheck(namespace, name string) (*configv1.HealthCheck, error)
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
// upstream: its servers are the Service port's set of endpoints, its health
// check what the Service's annotations ask for.
func (u upstreamSet) add(b Backends, field, ns, name string, port PortRef) (string, error) {
	at := func(err error) error {
		if e, ok := err.(*Error); ok && e.Field == "" {
			e.Field = field
		}
		return err
	}
	set, err := b.Endpoints(ns, name, port)
	if err != nil {
		return "", at(err)
	}
	hc, err := b.HealthCheck(ns, name)
	if err != nil {
		return "", at(err)
	}
	up := shorten(strings.Join([]string{ns, name, port.String()}, "."), 64)
	if _, ok := u[up]; !ok {
		u[up] = &configv1.Upstream{Name: up, Endpoints: set, Policy: configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN, HealthCheck: hc}
	}
	return up, nil
}

// backend resolves the Service backendRef ref at field of a route in
// namespace ns (a ReferenceGrant must permit another namespace) and adds
// its upstream, as add does.
func (u upstreamSet) backend(b Backends, field, ns string, ref gwv1.BackendObjectReference, allowed func(string, string, string) bool) (string, error) {
	if ref.Group != nil && *ref.Group != "" || ref.Kind != nil && *ref.Kind != "Service" {
		return "", &Error{Condition: CondResolvedRefs, Reason: ReasonInvalidKind, Field: field,
			Msg: "only core Services are supported as backends"}
	}
	if ref.Port == nil {
		return "", &Error{Condition: CondResolvedRefs, Reason: ReasonUnsupportedValue, Field: field + ".port", Msg: "a Service backend needs a port"}
	}
	bns := ns
	if ref.Namespace != nil && string(*ref.Namespace) != ns {
		bns = string(*ref.Namespace)
		if allowed == nil || !allowed(ns, bns, string(ref.Name)) {
			return "", &Error{Condition: CondResolvedRefs, Reason: ReasonRefNotPermitted, Field: field,
				Msg: fmt.Sprintf("Service %s/%s is in another namespace and no ReferenceGrant in %s permits it", bns, ref.Name, bns)}
		}
	}
	return u.add(b, field, bns, string(ref.Name), PortRef{Number: int32(*ref.Port)})
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
