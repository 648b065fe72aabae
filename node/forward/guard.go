package forward

import (
	"fmt"
	"net/netip"
	"sync"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// admitter decides whether a client may connect (AccessControl); release
// is called when its connection ends.
type admitter interface {
	Admit(ip netip.Addr) (release func(), reason string, ok bool)
}

// newGuard compiles an app's access control.
var newGuard = func(ac *configv1.AccessControl) (admitter, error) { return newCIDRGuard(ac) }

// cidrGuard is the access control's allow/deny networks and open
// connections per client IP.
type cidrGuard struct {
	allow, deny []netip.Prefix
	maxPerIP    uint32

	mu   sync.Mutex
	open map[netip.Addr]uint32
}

func newCIDRGuard(ac *configv1.AccessControl) (*cidrGuard, error) {
	g := &cidrGuard{maxPerIP: ac.GetMaxConnectionsPerIp(), open: map[netip.Addr]uint32{}}
	for field, in := range map[string][]string{"allow_cidrs": ac.GetAllowCidrs(), "deny_cidrs": ac.GetDenyCidrs()} {
		if len(in) > maxPolicyEntries {
			return nil, fmt.Errorf("%s: %d entries, at most %d", field, len(in), maxPolicyEntries)
		}
		for i, s := range in {
			p, err := parseCIDR(s)
			if err != nil {
				return nil, fmt.Errorf("%s[%d] %q: %w", field, i, s, err)
			}
			if field == "allow_cidrs" {
				g.allow = append(g.allow, p)
			} else {
				g.deny = append(g.deny, p)
			}
		}
	}
	return g, nil
}

func (g *cidrGuard) Admit(ip netip.Addr) (func(), string, bool) {
	ip = ip.Unmap()
	if covered(g.deny, ip) {
		return nil, "client in deny_cidrs", false
	}
	if len(g.allow) > 0 && !covered(g.allow, ip) {
		return nil, "client not in allow_cidrs", false
	}
	if g.maxPerIP == 0 {
		return func() {}, "", true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open[ip] >= g.maxPerIP {
		return nil, "too many open connections from this client", false
	}
	g.open[ip]++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			if g.open[ip]--; g.open[ip] == 0 {
				delete(g.open, ip)
			}
			g.mu.Unlock()
		})
	}, "", true
}
