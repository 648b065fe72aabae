package stack

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"time"

	certsvc "github.com/strata-edge/strata/services/cert"
	dnssvc "github.com/strata-edge/strata/services/dns"
)

// servedZones gives the cert service the zones the edge nodes serve (the
// DNS service's released zones), so DNS-01 is used only inside them. The
// DNS read model runs wherever the cert service does, even when this
// process does not serve the DNS API.
type servedZones struct{ dns *dnssvc.Service }

func (z servedZones) ServedZones(context.Context) ([]string, error) {
	var out []string
	for _, zone := range z.dns.ReleasedZones() {
		out = append(out, zone.GetName())
	}
	return out, nil
}

var _ certsvc.Zones = servedZones{}

// devDNSAddr is strata dev's node DNS address, set once the node runs (after
// the cert service started). The CA asks that node, and the node answers a
// value only once its watch of the challenge bucket is live and it has the
// zone: a fixed wait right after start would let the CA ask too early.
type devDNSAddr struct{ addr atomic.Pointer[string] }

func (d *devDNSAddr) set(addr string) { d.addr.Store(&addr) }

func (d *devDNSAddr) servers() []string {
	if a := d.addr.Load(); a != nil && *a != "" {
		return []string{*a}
	}
	return nil
}

// dns01Options set the DNS-01 part of o from the environment:
// STRATA_ACME_DNS01_CHECK, a comma-separated list of edge DNS servers
// (host:port) that must answer a value before the CA checks it, and
// STRATA_ACME_DNS01_WAIT (a Go duration, default 2s), the wait used when no
// server is named.
func dns01Options(o *certsvc.ACMEOptions, dns *dnssvc.Service) {
	if dns != nil {
		o.Zones = servedZones{dns}
	}
	for _, ns := range strings.Split(os.Getenv("STRATA_ACME_DNS01_CHECK"), ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			o.DNS01Nameservers = append(o.DNS01Nameservers, ns)
		}
	}
	if d, err := time.ParseDuration(os.Getenv("STRATA_ACME_DNS01_WAIT")); err == nil {
		o.DNS01Wait = d
	}
}
