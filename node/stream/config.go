package stream

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node/netguard"
	"github.com/strata-edge/strata/node/proxy/stats"
	"github.com/strata-edge/strata/node/proxy/upstream"
)

// app is the compiled config of one stream app, immutable: a connection
// keeps the app it was accepted with until it ends.
type app struct {
	id, name string
	domains  []string // lower case, exact or "*.x"

	def    *upstream.Upstream // nil: no default
	routes []sniRoute

	tlsMode                    configv1.StreamTlsMode
	connectTimeout, idle       time.Duration
	drain, udpIdle             time.Duration
	maxConns                   int64
	sendPP                     byte // 0, 1 or 2
	trusted                    []netip.Prefix
	guard                      *netguard.Guard // nil: everyone
	viaParent                  bool
	stats                      *stats.App
	hasUDP, hasTCP, needsHello bool
}

type sniRoute struct {
	name string // exact, or the suffix ".x" of "*.x"
	wild bool
	up   *upstream.Upstream
}

func msOr(ms uint32, def time.Duration) time.Duration {
	if ms == 0 {
		return def
	}
	return time.Duration(ms) * time.Millisecond
}

// compile builds the app of ac (a stream app), reusing the running
// upstreams whose content is unchanged.
func (b *build) compile(ac *configv1.App) (*app, error) {
	sc := ac.GetStream()
	a := &app{
		id: ac.GetId(), name: ac.GetName(),
		tlsMode:        sc.GetTlsMode(),
		connectTimeout: msOr(sc.GetConnectTimeoutMs(), DefaultConnectTimeout),
		idle:           msOr(sc.GetIdleTimeoutMs(), DefaultIdleTimeout),
		drain:          msOr(sc.GetDrainTimeoutMs(), DefaultDrainTimeout),
		udpIdle:        msOr(sc.GetUdpSessionIdleMs(), DefaultUDPSessionIdle),
		maxConns:       int64(sc.GetMaxConnections()),
		viaParent:      sc.GetViaParent(),
		stats:          b.s.stats.For(ac.GetId()),
	}
	if a.maxConns == 0 {
		a.maxConns = DefaultMaxConnections
	}
	for _, d := range ac.GetDomains() {
		a.domains = append(a.domains, strings.ToLower(d))
	}
	switch sc.GetSendProxyProtocol() {
	case configv1.ProxyProtocolVersion_PROXY_PROTOCOL_VERSION_UNSPECIFIED:
	case configv1.ProxyProtocolVersion_PROXY_PROTOCOL_VERSION_V1:
		a.sendPP = 1
	case configv1.ProxyProtocolVersion_PROXY_PROTOCOL_VERSION_V2:
		a.sendPP = 2
	default:
		return nil, fmt.Errorf("send_proxy_protocol: unknown value %d", sc.GetSendProxyProtocol())
	}
	for i, c := range sc.GetProxyProtocolTrustedCidrs() {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("proxy_protocol_trusted_cidrs[%d] %q: %v", i, c, err)
		}
		a.trusted = append(a.trusted, p.Masked())
	}
	for _, l := range sc.GetListeners() {
		if l.GetProtocol() == configv1.StreamProtocol_STREAM_PROTOCOL_UDP {
			a.hasUDP = true
		} else {
			a.hasTCP = true
		}
	}
	switch a.tlsMode {
	case configv1.StreamTlsMode_STREAM_TLS_MODE_UNSPECIFIED:
		if len(sc.GetSniRoutes()) > 0 {
			return nil, fmt.Errorf("sni_routes: need tls_mode TERMINATE or PASSTHROUGH")
		}
	case configv1.StreamTlsMode_STREAM_TLS_MODE_TERMINATE:
		if b.s.opts.GetCertificate == nil {
			return nil, fmt.Errorf("tls_mode TERMINATE: this node has no certificates")
		}
		a.needsHello = true
	case configv1.StreamTlsMode_STREAM_TLS_MODE_PASSTHROUGH:
		a.needsHello = true
	default:
		return nil, fmt.Errorf("tls_mode: unknown value %d", a.tlsMode)
	}
	if a.needsHello && a.hasUDP {
		return nil, fmt.Errorf("tls_mode: TLS modes apply to TCP listeners only")
	}

	byName := map[string]*upstream.Upstream{}
	for i, uc := range ac.GetUpstreams() {
		if !a.hasTCP && uc.GetHealthCheck().GetEnabled() {
			// Active checks connect over TCP: an app with UDP listeners
			// only has passive health alone.
			uc = proto.CloneOf(uc)
			uc.HealthCheck.Enabled = false
		}
		uc = upstream.Resolve(uc, b.sets)
		key := upstream.Key(a.id, uc)
		u := b.s.upstreams[key]
		if u == nil {
			u = b.ups[key]
		}
		if u == nil {
			var err error
			if u, err = upstream.NewTCP(a.id, uc); err != nil {
				return nil, fmt.Errorf("upstreams[%d]: %w", i, err)
			}
			b.made = append(b.made, u)
		}
		b.ups[key] = u
		if _, dup := byName[u.Name]; dup {
			return nil, fmt.Errorf("upstreams[%d]: name %q appears twice", i, u.Name)
		}
		byName[u.Name] = u
	}
	if n := sc.GetUpstream(); n != "" {
		if a.def = byName[n]; a.def == nil {
			return nil, fmt.Errorf("upstream %q: no upstream of the app has that name", n)
		}
	}
	for i, r := range sc.GetSniRoutes() {
		name := strings.ToLower(strings.TrimSuffix(r.GetServerName(), "."))
		rt := sniRoute{name: name}
		if rest, ok := strings.CutPrefix(name, "*."); ok {
			rt.name, rt.wild = "."+rest, true
		}
		if name == "" || strings.Contains(rt.name[1:], "*") {
			return nil, fmt.Errorf("sni_routes[%d].server_name %q: want a name or \"*.example.com\"", i, r.GetServerName())
		}
		if rt.up = byName[r.GetUpstream()]; rt.up == nil {
			return nil, fmt.Errorf("sni_routes[%d].upstream %q: no upstream of the app has that name", i, r.GetUpstream())
		}
		a.routes = append(a.routes, rt)
	}
	if a.def == nil && len(a.routes) == 0 {
		return nil, fmt.Errorf("upstream: required without sni_routes")
	}
	if a.def == nil && a.hasUDP {
		return nil, fmt.Errorf("upstream: required with a UDP listener")
	}
	if ac := sc.GetAccess(); ac != nil {
		g, err := netguard.New(ac)
		if err != nil {
			return nil, err // names the field (access.deny_cidrs[1])
		}
		// The running app's per-IP counts and buckets go on.
		for _, l := range b.s.listeners {
			if cur := l.current(); cur.id == a.id && cur.guard != nil {
				g.Carry(cur.guard)
				break
			}
		}
		a.guard = g
	}
	return a, nil
}

// route picks the upstream for server name sni (lower case, "" when the
// client sent none): the first exact route, else the first wildcard one
// ("*.x" matches one label before .x), else the default; nil refuses.
func (a *app) route(sni string) *upstream.Upstream {
	if sni != "" {
		for _, r := range a.routes {
			if !r.wild && r.name == sni {
				return r.up
			}
		}
		for _, r := range a.routes {
			if r.wild && strings.HasSuffix(sni, r.name) && !strings.Contains(sni[:len(sni)-len(r.name)], ".") && len(sni) > len(r.name) {
				return r.up
			}
		}
	}
	return a.def
}

// trustedPeer reports whether ip may send a PROXY protocol header.
func (a *app) trustedPeer(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range a.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// domainOK reports whether a TERMINATE listener serves name: any name when
// the app has no domains, else one of them (exact or "*.x" for one label).
func (a *app) domainOK(name string) bool {
	if len(a.domains) == 0 {
		return true
	}
	for _, d := range a.domains {
		if d == name {
			return true
		}
		if rest, ok := strings.CutPrefix(d, "*"); ok && strings.HasSuffix(name, rest) &&
			len(name) > len(rest) && !strings.Contains(name[:len(name)-len(rest)], ".") {
			return true
		}
	}
	return false
}
