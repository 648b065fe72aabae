package translate

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// Health check annotations of a Service: the upstreams built for its ports
// get an active HTTP probe (TCP connect for stream apps) and passive
// ejection. Kubernetes readiness already keeps unready pods out of the
// endpoint set; these catch a pod that is ready but failing, within the
// probe interval instead of the kubelet's readiness period.
const (
	AnnotationPrefix          = "strata-edge.io/"
	AnnotationHealthPath      = AnnotationPrefix + "health-check-path"     // "/healthz": turns the active probe on
	AnnotationHealthHost      = AnnotationPrefix + "health-check-host"     // Host header of the probe
	AnnotationHealthInterval  = AnnotationPrefix + "health-check-interval" // "5s"
	AnnotationHealthTimeout   = AnnotationPrefix + "health-check-timeout"  // "1s"
	AnnotationHealthUnhealthy = AnnotationPrefix + "health-check-unhealthy-threshold"
	AnnotationHealthHealthy   = AnnotationPrefix + "health-check-healthy-threshold"
	AnnotationMaxFails        = AnnotationPrefix + "max-fails"    // passive: consecutive failures that eject a server
	AnnotationFailTimeout     = AnnotationPrefix + "fail-timeout" // passive: how long it stays out ("10s")
	maxHealthAnnotationBytes  = 1024
)

// HealthCheckOf reads the health check annotations of a Service; nil when
// it has none. A value that does not parse is an *Error naming the
// annotation (ranges are the API's: it refuses the app naming the field).
func HealthCheckOf(annotations map[string]string) (*configv1.HealthCheck, error) {
	var hc configv1.HealthCheck
	set := false
	for k, v := range annotations {
		if !strings.HasPrefix(k, AnnotationPrefix) {
			continue
		}
		field := fmt.Sprintf("metadata.annotations[%s]", k)
		if len(v) > maxHealthAnnotationBytes {
			return nil, annotationError(field, "is %d bytes, more than %d", len(v), maxHealthAnnotationBytes)
		}
		var err error
		switch k {
		case AnnotationHealthPath:
			hc.Enabled, hc.Path = true, v
			if !strings.HasPrefix(v, "/") {
				return nil, annotationError(field, "%q must start with '/'", v)
			}
		case AnnotationHealthHost:
			hc.Host = v
		case AnnotationHealthInterval:
			hc.IntervalMs, err = millis(v)
		case AnnotationHealthTimeout:
			hc.TimeoutMs, err = millis(v)
		case AnnotationFailTimeout:
			hc.FailTimeoutMs, err = millis(v)
		case AnnotationHealthUnhealthy:
			hc.UnhealthyThreshold, err = count(v)
		case AnnotationHealthHealthy:
			hc.HealthyThreshold, err = count(v)
		case AnnotationMaxFails:
			hc.MaxFails, err = count(v)
		default:
			continue // another strata-edge.io annotation
		}
		if err != nil {
			return nil, annotationError(field, "%v", err)
		}
		set = true
	}
	if !set {
		return nil, nil
	}
	if !hc.Enabled && (hc.Host != "" || hc.IntervalMs != 0 || hc.TimeoutMs != 0 || hc.HealthyThreshold != 0 || hc.UnhealthyThreshold != 0) {
		return nil, annotationError("metadata.annotations["+AnnotationHealthPath+"]", "is required by the other health-check annotations (it turns the probe on)")
	}
	return &hc, nil
}

func annotationError(field, format string, a ...any) *Error {
	return &Error{Condition: CondResolvedRefs, Reason: ReasonUnsupportedValue, Field: field, Msg: fmt.Sprintf(format, a...)}
}

func millis(v string) (uint32, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. 5s, 500ms)", v)
	}
	if d <= 0 || d > time.Hour {
		return 0, fmt.Errorf("%q is outside 1ms-1h", v)
	}
	return uint32(d / time.Millisecond), nil
}

func count(v string) (uint32, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", v)
	}
	return uint32(n), nil
}
