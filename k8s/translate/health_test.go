package translate

import (
	"errors"
	"strings"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"google.golang.org/protobuf/proto"
)

func TestHealthCheckOf(t *testing.T) {
	tests := []struct {
		name  string
		ann   map[string]string
		want  *configv1.HealthCheck
		field string // of the error; "" when none
	}{
		{"none", map[string]string{"other.io/x": "1", AnnotationPrefix + "unrelated": "y"}, nil, ""},
		{"active probe", map[string]string{AnnotationHealthPath: "/healthz", AnnotationHealthInterval: "2s", AnnotationHealthTimeout: "500ms",
			AnnotationHealthHost: "web.internal", AnnotationHealthUnhealthy: "2", AnnotationHealthHealthy: "3"},
			&configv1.HealthCheck{Enabled: true, Path: "/healthz", Host: "web.internal", IntervalMs: 2000, TimeoutMs: 500, UnhealthyThreshold: 2, HealthyThreshold: 3}, ""},
		{"passive only", map[string]string{AnnotationMaxFails: "3", AnnotationFailTimeout: "10s"},
			&configv1.HealthCheck{MaxFails: 3, FailTimeoutMs: 10000}, ""},
		{"bad duration", map[string]string{AnnotationHealthPath: "/h", AnnotationHealthInterval: "soon"}, nil, "metadata.annotations[" + AnnotationHealthInterval + "]"},
		{"bad count", map[string]string{AnnotationMaxFails: "-1"}, nil, "metadata.annotations[" + AnnotationMaxFails + "]"},
		{"relative path", map[string]string{AnnotationHealthPath: "healthz"}, nil, "metadata.annotations[" + AnnotationHealthPath + "]"},
		{"interval without a path", map[string]string{AnnotationHealthInterval: "5s"}, nil, "metadata.annotations[" + AnnotationHealthPath + "]"},
		{"too long", map[string]string{AnnotationHealthPath: "/" + strings.Repeat("a", 2000)}, nil, "metadata.annotations[" + AnnotationHealthPath + "]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := HealthCheckOf(tt.ann)
			if tt.field != "" {
				var e *Error
				if !errors.As(err, &e) || e.Field != tt.field || e.Condition != CondResolvedRefs {
					t.Fatalf("err %v, want a ResolvedRefs error at %s", err, tt.field)
				}
				return
			}
			if err != nil || !proto.Equal(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// A Service's annotations become the health check of the upstreams of its
// ports; a bad one refuses the route naming the backendRef and the annotation.
func TestHTTPRouteUpstreamHealthFromService(t *testing.T) {
	annotations["shop/v1"] = map[string]string{AnnotationHealthPath: "/ready", AnnotationMaxFails: "2"}
	defer delete(annotations, "shop/v1")
	r := route(gwv1.HTTPRouteRule{BackendRefs: []gwv1.HTTPBackendRef{backend("v1", 8080, nil), backend("v2", 8080, nil)}})
	p, err := HTTPRoute(HTTPRouteInput{Route: r, Hostnames: []string{"a.example"}}, eps)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range p.Upstreams {
		hc := u.GetHealthCheck()
		switch u.Name {
		case "shop.v1.8080":
			if !hc.GetEnabled() || hc.GetPath() != "/ready" || hc.GetMaxFails() != 2 {
				t.Errorf("%s health check %v, want the annotations'", u.Name, hc)
			}
		default:
			if hc != nil {
				t.Errorf("%s health check %v, want none (no annotations)", u.Name, hc)
			}
		}
	}
	annotations["shop/v1"] = map[string]string{AnnotationHealthPath: "/ready", AnnotationHealthInterval: "often"}
	_, err = HTTPRoute(HTTPRouteInput{Route: r, Hostnames: []string{"a.example"}}, eps)
	var e *Error
	if !errors.As(err, &e) || e.Condition != CondResolvedRefs || !strings.Contains(e.Field, "spec.rules[0].backendRefs[0]") && !strings.Contains(e.Field, AnnotationHealthInterval) {
		t.Fatalf("bad annotation: %v, want a ResolvedRefs error naming the backend or the annotation", err)
	}
}
