package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// policy is a compiled EgressPolicy.
type policy struct {
	allowCIDRs   []netip.Prefix
	denyCIDRs    []netip.Prefix
	exactDomains map[string]bool
	wildDomains  []string // ".example.com" for "*.example.com"
	ports        [][2]uint16
	allowPrivate bool
}

// Limits of a policy.
const (
	maxPolicyEntries = 1024
	maxResolved      = 32 // addresses of one name that are checked and tried
)

func compilePolicy(p *configv1.EgressPolicy) (*policy, error) {
	c := &policy{exactDomains: map[string]bool{}}
	if p == nil {
		return c, nil
	}
	c.allowPrivate = p.GetAllowPrivate()
	prefixes := func(field string, in []string) ([]netip.Prefix, error) {
		if len(in) > maxPolicyEntries {
			return nil, fmt.Errorf("%s: %d entries, at most %d", field, len(in), maxPolicyEntries)
		}
		var out []netip.Prefix
		for i, s := range in {
			pf, err := parseCIDR(s)
			if err != nil {
				return nil, fmt.Errorf("%s[%d] %q: %w", field, i, s, err)
			}
			out = append(out, pf)
		}
		return out, nil
	}
	var err error
	if c.allowCIDRs, err = prefixes("allow_cidrs", p.GetAllowCidrs()); err != nil {
		return nil, err
	}
	if c.denyCIDRs, err = prefixes("deny_cidrs", p.GetDenyCidrs()); err != nil {
		return nil, err
	}
	if n := len(p.GetAllowDomains()); n > maxPolicyEntries {
		return nil, fmt.Errorf("allow_domains: %d entries, at most %d", n, maxPolicyEntries)
	}
	for i, d := range p.GetAllowDomains() {
		d = strings.TrimSuffix(strings.ToLower(d), ".")
		if rest, ok := strings.CutPrefix(d, "*."); ok {
			if rest == "" || strings.Contains(rest, "*") {
				return nil, fmt.Errorf("allow_domains[%d] %q: want a name or *.name", i, d)
			}
			c.wildDomains = append(c.wildDomains, "."+rest)
			continue
		}
		if d == "" || strings.Contains(d, "*") {
			return nil, fmt.Errorf("allow_domains[%d] %q: want a name or *.name", i, d)
		}
		c.exactDomains[d] = true
	}
	if n := len(p.GetAllowPorts()); n > maxPolicyEntries {
		return nil, fmt.Errorf("allow_ports: %d entries, at most %d", n, maxPolicyEntries)
	}
	for i, s := range p.GetAllowPorts() {
		lo, hi, ok := strings.Cut(s, "-")
		if !ok {
			hi = lo
		}
		a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
		if err1 != nil || err2 != nil || a == 0 || a > b {
			return nil, fmt.Errorf("allow_ports[%d] %q: want a port or a range \"8000-8100\" within 1-65535", i, s)
		}
		c.ports = append(c.ports, [2]uint16{uint16(a), uint16(b)})
	}
	return c, nil
}

func parseCIDR(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, errors.New("want a network (\"10.0.0.0/8\") or an address")
		}
		return netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()), nil
	}
	pf, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errors.New("want a network (\"10.0.0.0/8\") or an address")
	}
	if pf.Addr().Is4In6() {
		if pf.Bits() < 96 {
			return netip.Prefix{}, errors.New("an IPv4-mapped network needs at least /96")
		}
		pf = netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()-96)
	}
	return pf.Masked(), nil
}

// special are the networks refused unless allow_private or an allow_cidrs
// entry covers the address: private, loopback, link-local (with cloud
// metadata 169.254.169.254), CGNAT, multicast, unspecified, reserved.
var special = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// metadata is the cloud instance-metadata address (AWS, GCP, Azure, ...):
// refused even with allow_private unless an allow_cidrs entry names it.
var metadata = netip.MustParseAddr("169.254.169.254")

// refusal is a destination the policy refuses.
type refusal struct{ reason string }

func (r *refusal) Error() string { return "egress refused: " + r.reason }

func refused(format string, args ...any) error { return &refusal{fmt.Sprintf(format, args...)} }

func covered(list []netip.Prefix, ip netip.Addr) bool {
	for _, p := range list {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// checkPort and checkName are the policy's checks that need no DNS.
func (p *policy) checkPort(port uint16) error {
	if len(p.ports) == 0 {
		return nil
	}
	for _, r := range p.ports {
		if port >= r[0] && port <= r[1] {
			return nil
		}
	}
	return refused("port %d is not in allow_ports", port)
}

func (p *policy) checkName(name string, isIP bool) error {
	if len(p.exactDomains) == 0 && len(p.wildDomains) == 0 {
		return nil
	}
	if isIP {
		return refused("destination %s is an address; allow_domains admits names only", name)
	}
	if p.exactDomains[name] {
		return nil
	}
	for _, w := range p.wildDomains {
		if strings.HasSuffix(name, w) && !strings.Contains(name[:len(name)-len(w)], ".") {
			return nil
		}
	}
	return refused("%s is not in allow_domains", name)
}

// checkAddr checks one address the destination resolved to.
func (p *policy) checkAddr(ip netip.Addr) error {
	ip = ip.Unmap()
	if covered(p.denyCIDRs, ip) {
		return refused("%s is in deny_cidrs", ip)
	}
	allowed := covered(p.allowCIDRs, ip)
	if len(p.allowCIDRs) > 0 && !allowed {
		return refused("%s is not in allow_cidrs", ip)
	}
	if allowed {
		return nil
	}
	if ip == metadata {
		return refused("%s is the cloud metadata address (only an allow_cidrs entry admits it)", ip)
	}
	if !p.allowPrivate && (covered(special, ip) || !ip.IsGlobalUnicast()) {
		return refused("%s is a private, loopback, link-local or reserved address (allow_private is off)", ip)
	}
	return nil
}

// normalizeHost lower-cases a destination name and drops a trailing dot;
// it reports whether it is an IP literal.
func normalizeHost(host string) (string, netip.Addr, error) {
	host = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(host, "]"), "["), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return "", netip.Addr{}, refused("scoped address %s", host)
		}
		return ip.Unmap().String(), ip.Unmap(), nil
	}
	if host == "" || len(host) > 253 {
		return "", netip.Addr{}, errors.New("bad destination name")
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return "", netip.Addr{}, errors.New("bad destination name")
		}
	}
	return strings.ToLower(host), netip.Addr{}, nil
}

// resolve checks host:port against p and returns the addresses to dial:
// every address the name resolves to must pass, and the caller dials
// these (never the name again: no DNS rebinding between check and dial).
func (f *Forwarder) resolve(ctx context.Context, p *policy, host string, port uint16) ([]netip.AddrPort, error) {
	name, ip, err := normalizeHost(host)
	if err != nil {
		return nil, err
	}
	if err := p.checkPort(port); err != nil {
		return nil, err
	}
	if err := p.checkName(name, ip.IsValid()); err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip.IsValid() {
		ips = []netip.Addr{ip}
	} else {
		if ips, err = f.opts.Resolver.LookupNetIP(ctx, "ip", name); err != nil {
			return nil, &unreachable{fmt.Errorf("resolve %s: %w", name, err)}
		}
		if len(ips) == 0 {
			return nil, &unreachable{fmt.Errorf("resolve %s: no address", name)}
		}
		if len(ips) > maxResolved {
			ips = ips[:maxResolved]
		}
	}
	out := make([]netip.AddrPort, 0, len(ips))
	for _, a := range ips {
		a = a.Unmap()
		if err := p.checkAddr(a); err != nil {
			if !ip.IsValid() {
				return nil, refused("%s resolves to %s", name, err.(*refusal).reason)
			}
			return nil, err
		}
		out = append(out, netip.AddrPortFrom(a, port))
	}
	return out, nil
}

// unreachable is a destination that could not be resolved or reached.
type unreachable struct{ err error }

func (u *unreachable) Error() string { return u.err.Error() }
func (u *unreachable) Unwrap() error { return u.err }

// dial connects to the first of addrs that answers, within timeout.
func (f *Forwarder) dial(ctx context.Context, addrs []netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var first error
	for _, a := range addrs {
		c, err := f.opts.Dialer.DialContext(ctx, "tcp", a.String())
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// result names of a forwarded connection (logs, metrics).
const (
	resultOK          = "ok"
	resultAuthFailed  = "auth_failed"
	resultRateLimited = "rate_limited"
	resultDenied      = "client_denied" // access control
	resultRefused     = "egress_refused"
	resultUnreachable = "unreachable"
	resultConnRefused = "connection_refused"
	resultBadRequest  = "bad_request"
	resultUnsupported = "unsupported"
	resultError       = "error"
)

// Results are every result label of the connection counters.
var Results = []string{resultOK, resultAuthFailed, resultRateLimited, resultDenied, resultRefused,
	resultUnreachable, resultConnRefused, resultBadRequest, resultUnsupported, resultError}

// classify maps a resolve or dial error to a result.
func classify(err error) string {
	var r *refusal
	var u *unreachable
	switch {
	case errors.As(err, &r):
		return resultRefused
	case errors.Is(err, syscall.ECONNREFUSED):
		return resultConnRefused
	case errors.As(err, &u):
		return resultUnreachable
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return resultUnreachable
	}
	if strings.Contains(err.Error(), "bad destination") {
		return resultBadRequest
	}
	return resultUnreachable
}
