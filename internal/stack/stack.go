// Package stack assembles Strata's processes: `strata dev` (embedded NATS,
// event store, control services and API in one process) and `strata control`
// (control services against an external NATS). Parts start in dependency
// order and stop in reverse order.
package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/strata-edge/strata/internal/edge"
)

// shutdownTimeout bounds each step of stopping.
const shutdownTimeout = 10 * time.Second

// Control services `strata control --services` accepts.
const (
	ServiceConfig  = "config"
	ServiceNodes   = "nodes"
	ServiceIAM     = "iam"
	ServiceDNS     = "dns"
	ServicePurge   = "purge"
	ServiceCert    = "cert"
	ServiceMetrics = "metrics"
	ServiceDDoS    = "ddos"
	ServiceWAF     = "waf"
)

// KnownServices are the control services `strata control --services` accepts.
var KnownServices = []string{ServiceConfig, ServiceNodes, ServiceIAM, ServiceDNS, ServicePurge, ServiceCert, ServiceMetrics, ServiceDDoS, ServiceWAF}

// ParseServices splits a comma-separated service list and checks every name.
func ParseServices(s string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(KnownServices, name) {
			return nil, fmt.Errorf("--services: %q is not a control service this binary runs (available: %s)", name, strings.Join(KnownServices, ", "))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--services: name at least one of %s", strings.Join(KnownServices, ", "))
	}
	return out, nil
}

// stopper is one started part; stops run in reverse start order.
type stopper struct {
	name string
	stop func(ctx context.Context) error
}

type stops []stopper

func (s *stops) add(name string, stop func(ctx context.Context) error) {
	*s = append(*s, stopper{name, stop})
}

// run stops everything in reverse order, logging and collecting failures.
func (s stops) run(log *slog.Logger) error {
	var errs []error
	for _, st := range slices.Backward(s) {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		if err := st.stop(ctx); err != nil {
			log.Error("stop failed", "part", st.name, "err", err)
			errs = append(errs, fmt.Errorf("stop %s: %w", st.name, err))
		} else {
			log.Debug("stopped", "part", st.name)
		}
		cancel()
	}
	return errors.Join(errs...)
}

// normalizeAddr turns "host:-1" into "host:0" for net.Listen.
func normalizeAddr(flag, addr string) (string, error) {
	host, port, err := edge.SplitHostPort(flag, addr)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(max(port, 0))), nil
}
