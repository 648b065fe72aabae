package config

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/domainname"
	"github.com/strata-edge/strata/pkg/passhash"
	"github.com/strata-edge/strata/pkg/validate"
)

// App roles (App.role): an HTTP(S) app (unset), a stream app (TCP/UDP
// proxy, node/stream) or a forward-proxy app (SOCKS5 and HTTP forward
// proxy, node/forward). A role never changes once the app exists.
const (
	roleHTTP    = "http"
	roleStream  = "stream"
	roleForward = "forward"
)

// Limits of stream and forward-proxy apps.
const (
	maxListeners     = 64   // stream listeners, forward ports
	maxSniRoutes     = 1000 // per stream app
	maxCIDRs         = 1000 // per CIDR list
	maxEgressEntries = 1000 // per egress list (domains, ports)
	maxCredentials   = 1000 // per forward-proxy app
	// maxNewPasswords bounds the argon2id work of one request (~30 ms of
	// CPU and 19 MiB each): more new passwords go in several updates.
	maxNewPasswords   = 50
	maxCredentialLen  = 255 // RFC 1929: username and password are 1-255 bytes
	maxStreamConns    = 1_000_000
	maxRatePerIP      = 1_000_000
	maxConnsPerClient = 1_000_000
)

// roleGetter is what App and AppSettings have in common.
type roleGetter interface {
	GetStream() *configv1.StreamApp
	GetForwardProxy() *configv1.ForwardProxyApp
}

// roleOf names the role of an app or its settings.
func roleOf(r roleGetter) string {
	switch {
	case r.GetStream() != nil:
		return roleStream
	case r.GetForwardProxy() != nil:
		return roleForward
	}
	return roleHTTP
}

// roleField is the request field of a role.
func roleField(role string) string {
	switch role {
	case roleStream:
		return "stream"
	case roleForward:
		return "forward_proxy"
	}
	return "http_ports"
}

// roleNoun is "a stream app" and so on, for messages.
func roleNoun(role string) string {
	switch role {
	case roleStream:
		return "a stream app"
	case roleForward:
		return "a forward-proxy app"
	}
	return "an HTTP app"
}

// checkRoleChange refuses settings next of app id whose role differs from
// the app's current one (cur).
func checkRoleChange(id string, cur, next roleGetter) error {
	was, now := roleOf(cur), roleOf(next)
	if was == now {
		return nil
	}
	field := roleField(now)
	if now == roleHTTP {
		field = roleField(was)
	}
	return apierr.Invalid(apierr.FieldViolation{Field: field, Reason: fmt.Sprintf(
		"app %s is %s; an app's role cannot change (give its %s settings, or create another app)", id, roleNoun(was), was)})
}

// checkRoleSettings validates the settings that depend on the role and
// normalizes the role's content in place (s is the caller's copy).
func checkRoleSettings(v *apierr.Fields, s *ev.AppSettings) {
	role := roleOf(s)
	if role == roleHTTP {
		return
	}
	noun := roleNoun(role)
	if len(s.HttpPorts) > 0 {
		v.Addf("http_ports", "%s has no http ports (its ports are in %s)", noun, roleField(role))
	}
	if len(s.HttpsPorts) > 0 {
		v.Addf("https_ports", "%s has no https ports (its ports are in %s)", noun, roleField(role))
	}
	if s.HttpsRedirect {
		v.Addf("https_redirect", "is for HTTP apps only")
	}
	if s.Hsts != nil {
		v.Addf("hsts", "is for HTTP apps only")
	}
	switch x := s.Role.(type) {
	case *ev.AppSettings_Stream:
		checkStream(v, "stream", x.Stream)
		if len(s.Domains) > 0 && x.Stream.TlsMode == configv1.StreamTlsMode_STREAM_TLS_MODE_UNSPECIFIED {
			v.Addf("domains", "a stream app has domains only with tls_mode TERMINATE (its certificate names) or PASSTHROUGH (the names it claims)")
		}
	case *ev.AppSettings_ForwardProxy:
		checkForward(v, "forward_proxy", x.ForwardProxy)
		if len(s.Domains) > 0 {
			v.Addf("domains", "a forward-proxy app has no domains (egress.allow_domains limits where clients may connect)")
		}
	}
}

func checkStream(v *apierr.Fields, prefix string, st *configv1.StreamApp) {
	listeners := join(prefix, "listeners")
	switch {
	case len(st.Listeners) == 0:
		v.Addf(listeners, "at least one listener is required")
	case len(st.Listeners) > maxListeners:
		v.Addf(listeners, "has %d listeners, more than %d", len(st.Listeners), maxListeners)
	}
	if _, known := configv1.StreamTlsMode_name[int32(st.TlsMode)]; !known {
		v.Addf(join(prefix, "tls_mode"), "unknown TLS mode %d", st.TlsMode)
	}
	tls := st.TlsMode != configv1.StreamTlsMode_STREAM_TLS_MODE_UNSPECIFIED
	seen := map[string]int{}
	for i, l := range st.Listeners {
		f := index(listeners, i)
		if l == nil {
			v.Addf(f, "is empty")
			continue
		}
		if l.Port < 1 || l.Port > 65535 {
			v.Addf(f+".port", "port %d is out of range 1-65535", l.Port)
		}
		switch l.Protocol {
		case configv1.StreamProtocol_STREAM_PROTOCOL_UNSPECIFIED:
			l.Protocol = configv1.StreamProtocol_STREAM_PROTOCOL_TCP
		case configv1.StreamProtocol_STREAM_PROTOCOL_TCP, configv1.StreamProtocol_STREAM_PROTOCOL_UDP:
		default:
			v.Addf(f+".protocol", "unknown protocol %d (want TCP or UDP)", l.Protocol)
			continue
		}
		if tls && l.Protocol == configv1.StreamProtocol_STREAM_PROTOCOL_UDP {
			v.Addf(f+".protocol", "tls_mode %s needs TCP listeners (TLS runs over TCP)", st.TlsMode)
		}
		k := listenerKey(l)
		if j, dup := seen[k]; dup {
			v.Addf(f, "%s is already listed in listeners[%d]", k, j)
			continue
		}
		seen[k] = i
	}

	if st.Upstream != "" {
		v.Add(join(prefix, "upstream"), validate.Name(st.Upstream))
	}
	routes := join(prefix, "sni_routes")
	switch {
	case st.TlsMode == configv1.StreamTlsMode_STREAM_TLS_MODE_PASSTHROUGH && st.Upstream == "" && len(st.SniRoutes) == 0:
		v.Addf(join(prefix, "upstream"), "tls_mode PASSTHROUGH needs sni_routes or an upstream (for names no route matches)")
	case st.Upstream == "" && len(st.SniRoutes) == 0:
		v.Addf(join(prefix, "upstream"), "is required (the name of an upstream of the app)")
	case len(st.SniRoutes) > 0 && !tls:
		v.Addf(routes, "need tls_mode PASSTHROUGH or TERMINATE (the server name is read from the TLS ClientHello)")
	case st.Upstream == "" && st.TlsMode == configv1.StreamTlsMode_STREAM_TLS_MODE_TERMINATE:
		v.Addf(join(prefix, "upstream"), "tls_mode TERMINATE needs an upstream (for names no route matches)")
	}
	if len(st.SniRoutes) > maxSniRoutes {
		v.Addf(routes, "has %d routes, more than %d", len(st.SniRoutes), maxSniRoutes)
	} else {
		names := map[string]int{}
		for i, r := range st.SniRoutes {
			f := index(routes, i)
			if r == nil {
				v.Addf(f, "is empty")
				continue
			}
			if n, err := domainname.Normalize(r.ServerName); err != nil {
				v.Addf(f+".server_name", "%s", domainReason(r.ServerName, err))
			} else if j, dup := names[n]; dup {
				v.Addf(f+".server_name", "%q is a duplicate of sni_routes[%d]", n, j)
			} else {
				names[n] = i
				r.ServerName = n
			}
			if r.Upstream == "" {
				v.Addf(f+".upstream", "is required (the name of an upstream of the app)")
			} else {
				v.Add(f+".upstream", validate.Name(r.Upstream))
			}
		}
	}

	ms := func(field string, n uint32) {
		if n > maxTimeoutMS {
			v.Addf(join(prefix, field), "%d ms is more than %d (1h); 0 means the default", n, maxTimeoutMS)
		}
	}
	ms("connect_timeout_ms", st.ConnectTimeoutMs)
	ms("idle_timeout_ms", st.IdleTimeoutMs)
	ms("drain_timeout_ms", st.DrainTimeoutMs)
	ms("udp_session_idle_ms", st.UdpSessionIdleMs)
	if st.MaxConnections > maxStreamConns {
		v.Addf(join(prefix, "max_connections"), "%d is more than %d", st.MaxConnections, maxStreamConns)
	}
	if _, known := configv1.ProxyProtocolVersion_name[int32(st.SendProxyProtocol)]; !known {
		v.Addf(join(prefix, "send_proxy_protocol"), "unknown PROXY protocol version %d (want V1 or V2)", st.SendProxyProtocol)
	}
	checkCIDRs(v, join(prefix, "proxy_protocol_trusted_cidrs"), st.ProxyProtocolTrustedCidrs)
	if st.Access != nil {
		checkAccess(v, join(prefix, "access"), st.Access)
	}
}

// listenerKey is "tcp/9000" or "udp/53".
func listenerKey(l *configv1.StreamListener) string {
	if l.Protocol == configv1.StreamProtocol_STREAM_PROTOCOL_UDP {
		return "udp/" + strconv.Itoa(int(l.Port))
	}
	return "tcp/" + strconv.Itoa(int(l.Port))
}

func domainReason(name string, err error) string {
	var de *domainname.Error
	if errors.As(err, &de) {
		return fmt.Sprintf("%q %s", name, de.Reason)
	}
	return err.Error()
}

// checkCIDRs validates and normalizes a list of networks: "10.0.0.0/8",
// or a bare address for one host ("203.0.113.7" -> "203.0.113.7/32").
// Host bits set are refused: "10.0.0.1/8" is likely a mistake.
func checkCIDRs(v *apierr.Fields, field string, list []string) {
	if len(list) > maxCIDRs {
		v.Addf(field, "has %d networks, more than %d", len(list), maxCIDRs)
		return
	}
	seen := map[netip.Prefix]int{}
	for i, s := range list {
		f := index(field, i)
		p, reason := parseCIDR(s)
		if reason != "" {
			v.Addf(f, "%s", reason)
			continue
		}
		if j, dup := seen[p]; dup {
			v.Addf(f, "%q is a duplicate of %s[%d]", s, field[strings.LastIndexByte(field, '.')+1:], j)
			continue
		}
		seen[p] = i
		list[i] = p.String()
	}
}

func parseCIDR(s string) (netip.Prefix, string) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Sprintf("%q is not a network (want e.g. 10.0.0.0/8 or 2001:db8::/32) or an IP address", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), ""
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Sprintf("%q is not a network (want e.g. 10.0.0.0/8 or 2001:db8::/32)", s)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Sprintf("%q has host bits set; did you mean %s?", s, m)
	}
	return p, ""
}

func checkAccess(v *apierr.Fields, prefix string, a *configv1.AccessControl) {
	checkCIDRs(v, join(prefix, "allow_cidrs"), a.AllowCidrs)
	checkCIDRs(v, join(prefix, "deny_cidrs"), a.DenyCidrs)
	if a.ConnectionsPerSecond > maxRatePerIP {
		v.Addf(join(prefix, "connections_per_second"), "%d is more than %d", a.ConnectionsPerSecond, maxRatePerIP)
	}
	if a.Burst > maxRatePerIP {
		v.Addf(join(prefix, "burst"), "%d is more than %d", a.Burst, maxRatePerIP)
	} else if a.Burst > 0 && a.ConnectionsPerSecond == 0 {
		v.Addf(join(prefix, "burst"), "is set without connections_per_second (the rate it is a burst of)")
	}
	if a.MaxConnectionsPerIp > maxConnsPerClient {
		v.Addf(join(prefix, "max_connections_per_ip"), "%d is more than %d", a.MaxConnectionsPerIp, maxConnsPerClient)
	}
}

func checkForward(v *apierr.Fields, prefix string, fp *configv1.ForwardProxyApp) {
	if len(fp.Socks5Ports)+len(fp.HttpPorts) == 0 {
		v.Addf(join(prefix, "socks5_ports"), "at least one socks5 or http port is required")
	} else if n := len(fp.Socks5Ports) + len(fp.HttpPorts); n > maxListeners {
		v.Addf(join(prefix, "socks5_ports"), "socks5_ports and http_ports list %d ports, more than %d", n, maxListeners)
	}
	ports := map[uint32]string{}
	for _, list := range []struct {
		field string
		ports []uint32
	}{{"socks5_ports", fp.Socks5Ports}, {"http_ports", fp.HttpPorts}} {
		for i, p := range list.ports {
			f := index(join(prefix, list.field), i)
			if p < 1 || p > 65535 {
				v.Addf(f, "port %d is out of range 1-65535", p)
				continue
			}
			if other, dup := ports[p]; dup {
				v.Addf(f, "port %d is already listed in %s", p, other)
				continue
			}
			ports[p] = index(list.field, i)
		}
	}

	creds := join(prefix, "credentials")
	switch {
	case len(fp.Credentials) == 0:
		v.Addf(creds, "at least one credential is required (every client authenticates: there is no open proxy)")
	case len(fp.Credentials) > maxCredentials:
		v.Addf(creds, "has %d credentials, more than %d", len(fp.Credentials), maxCredentials)
	case newPasswords(fp) > maxNewPasswords:
		v.Addf(creds, "sets %d new passwords in one request, more than %d (each is hashed with argon2id): add the credentials in several updates",
			newPasswords(fp), maxNewPasswords)
	default:
		users := map[string]int{}
		for i, c := range fp.Credentials {
			f := index(creds, i)
			if c == nil {
				v.Addf(f, "is empty")
				continue
			}
			if r := checkUsername(c.Username); r != "" {
				v.Addf(f+".username", "%s", r)
			} else if j, dup := users[c.Username]; dup {
				v.Addf(f+".username", "%q is a duplicate of credentials[%d]", c.Username, j)
			} else {
				users[c.Username] = i
			}
			// resolveCredentials has turned passwords into hashes.
			if c.Password != "" {
				v.Addf(f+".password", "a clear password is never recorded (the service hashes it)")
			}
			if c.PasswordHash == "" {
				v.Addf(f+".password", "is required for a new credential")
			} else if _, _, _, err := passhash.Parse(c.PasswordHash); err != nil {
				v.Addf(f+".password_hash", "is not an argon2id hash: %v", err)
			}
			if c.Egress != nil {
				checkEgress(v, f+".egress", c.Egress)
			}
		}
	}
	if fp.Egress != nil {
		checkEgress(v, join(prefix, "egress"), fp.Egress)
	}
	if fp.Access != nil {
		checkAccess(v, join(prefix, "access"), fp.Access)
	}
	for _, f := range []struct {
		name string
		ms   uint32
	}{{"connect_timeout_ms", fp.ConnectTimeoutMs}, {"idle_timeout_ms", fp.IdleTimeoutMs}} {
		if f.ms > maxTimeoutMS {
			v.Addf(join(prefix, f.name), "%d ms is more than %d (1h); 0 means the default", f.ms, maxTimeoutMS)
		}
	}
}

// checkUsername: 1-255 bytes (RFC 1929), no ':' (HTTP Basic
// authentication of the HTTP forward proxy splits user:password at the
// first colon), no control characters.
func checkUsername(u string) string {
	switch {
	case u == "":
		return "is empty"
	case len(u) > maxCredentialLen:
		return fmt.Sprintf("is %d bytes long, more than %d (RFC 1929)", len(u), maxCredentialLen)
	case strings.ContainsRune(u, ':'):
		return fmt.Sprintf("%q contains ':' (HTTP proxy authentication splits user:password at the first colon)", u)
	}
	for i := 0; i < len(u); i++ {
		if u[i] < 0x20 || u[i] == 0x7f {
			return "contains a control character"
		}
	}
	return ""
}

func checkEgress(v *apierr.Fields, prefix string, e *configv1.EgressPolicy) {
	checkCIDRs(v, join(prefix, "allow_cidrs"), e.AllowCidrs)
	checkCIDRs(v, join(prefix, "deny_cidrs"), e.DenyCidrs)
	domains := join(prefix, "allow_domains")
	if len(e.AllowDomains) > maxEgressEntries {
		v.Addf(domains, "has %d domains, more than %d", len(e.AllowDomains), maxEgressEntries)
	} else {
		seen := map[string]int{}
		for i, d := range e.AllowDomains {
			n, err := domainname.Normalize(d)
			switch j, dup := seen[n]; {
			case err != nil:
				v.Addf(index(domains, i), "%s", domainReason(d, err))
			case dup:
				v.Addf(index(domains, i), "%q is a duplicate of allow_domains[%d]", n, j)
			default:
				seen[n] = i
				e.AllowDomains[i] = n
			}
		}
	}
	ports := join(prefix, "allow_ports")
	if len(e.AllowPorts) > maxEgressEntries {
		v.Addf(ports, "has %d entries, more than %d", len(e.AllowPorts), maxEgressEntries)
		return
	}
	for i, p := range e.AllowPorts {
		if _, _, err := ParsePortRange(p); err != nil {
			v.Addf(index(ports, i), "%v", err)
		}
	}
}

// ParsePortRange parses an egress port entry: "443" or "8000-8100"
// (1-65535, low <= high).
func ParsePortRange(s string) (lo, hi uint16, err error) {
	a, b, isRange := strings.Cut(s, "-")
	port := func(x string) (uint16, error) {
		n, err := strconv.ParseUint(x, 10, 16)
		if err != nil || n == 0 || x[0] == '+' {
			return 0, fmt.Errorf("%q is not a port 1-65535 or a range N-M", s)
		}
		return uint16(n), nil
	}
	if lo, err = port(a); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = port(b); err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("%q: the range ends before it starts", s)
	}
	return lo, hi, nil
}

// --- credentials ------------------------------------------------------------

// hashPasswords hashes the clear passwords of fp's credentials (indexed
// like them; "" where none is given or it is not 1-255 bytes), outside the
// service's locks: argon2id takes tens of milliseconds each.
func hashPasswords(fp *configv1.ForwardProxyApp) []string {
	if fp == nil || len(fp.Credentials) > maxCredentials || newPasswords(fp) > maxNewPasswords {
		return nil
	}
	out := make([]string, len(fp.Credentials))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(fp.Credentials)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				out[i] = passhash.Hash(fp.Credentials[i].Password, passhash.Default)
			}
		}()
	}
	for i, c := range fp.Credentials {
		if c != nil && c.Password != "" && len(c.Password) <= maxCredentialLen {
			work <- i
		}
	}
	close(work)
	wg.Wait()
	return out
}

// newPasswords counts the credentials of fp that carry a clear password.
func newPasswords(fp *configv1.ForwardProxyApp) int {
	n := 0
	for _, c := range fp.GetCredentials() {
		if c.GetPassword() != "" {
			n++
		}
	}
	return n
}

// resolveCredentials replaces the clear passwords of fp (the caller's copy)
// with their hashes. A credential given without password keeps the hash of
// the existing credential with its username (cur, nil for a new app);
// a password_hash given must be that existing hash (a read sent back).
func resolveCredentials(v *apierr.Fields, fp *configv1.ForwardProxyApp, hashes []string, cur *configv1.ForwardProxyApp) {
	if len(fp.GetCredentials()) > maxCredentials || newPasswords(fp) > maxNewPasswords {
		return // checkForward refuses the list
	}
	existing := map[string]string{}
	for _, c := range cur.GetCredentials() {
		existing[c.Username] = c.PasswordHash
	}
	for i, c := range fp.GetCredentials() {
		if c == nil {
			continue
		}
		f := index("forward_proxy.credentials", i)
		old, known := existing[c.Username]
		switch {
		case c.Password != "":
			switch {
			case len(c.Password) > maxCredentialLen:
				v.Addf(f+".password", "is %d bytes long, more than %d (RFC 1929)", len(c.Password), maxCredentialLen)
			case c.PasswordHash != "":
				v.Addf(f+".password_hash", "is set by the service; give password only")
			case i < len(hashes) && hashes[i] != "":
				c.PasswordHash = hashes[i]
			default:
				v.Addf(f+".password", "could not be hashed")
			}
			c.Password = ""
		case c.PasswordHash != "":
			if !known || c.PasswordHash != old {
				v.Addf(f+".password_hash", "is set by the service; give password (a hash is accepted only unchanged, as read)")
			}
		case known:
			c.PasswordHash = old
		default:
			v.Addf(f+".password", "is required for a new credential (user %q)", c.Username)
		}
	}
}

// --- port claims ------------------------------------------------------------

// portUse is one port an app's content binds on the nodes of its
// partitions. Stream listeners and forward-proxy ports bind the port on
// the node's stream host, for one app only (exclusive); HTTP apps share the
// node's HTTP(S) listeners, so their ports collide only with exclusive ones.
type portUse struct {
	key       string // "tcp/80", "udp/53"
	field     string // the settings field that lists it
	exclusive bool
}

func portUses(app *configv1.App) []portUse {
	var out []portUse
	tcp := func(p uint32) string { return "tcp/" + strconv.Itoa(int(p)) }
	switch x := app.GetRole().(type) {
	case *configv1.App_Stream:
		for i, l := range x.Stream.GetListeners() {
			out = append(out, portUse{listenerKey(l), index("stream.listeners", i), true})
		}
	case *configv1.App_ForwardProxy:
		for i, p := range x.ForwardProxy.GetSocks5Ports() {
			out = append(out, portUse{tcp(p), index("forward_proxy.socks5_ports", i), true})
		}
		for i, p := range x.ForwardProxy.GetHttpPorts() {
			out = append(out, portUse{tcp(p), index("forward_proxy.http_ports", i), true})
		}
	default:
		for i, p := range app.GetHttpPorts() {
			out = append(out, portUse{tcp(p), index("http_ports", i), false})
		}
		for i, p := range app.GetHttpsPorts() {
			out = append(out, portUse{tcp(p), index("https_ports", i), false})
		}
	}
	return out
}

// portOwners are the apps that bind one port of a partition: the
// exclusive ones (stream, forward proxy; more than one is a conflict that
// two replicas accepted) and the HTTP apps that share it.
type portOwners struct {
	key       string // its key in state.ports
	exclusive []string
	shared    map[string]bool
}

func (o *portOwners) add(app string, exclusive bool) {
	if exclusive {
		o.exclusive = append(o.exclusive, app)
	} else {
		o.shared[app] = true
	}
}

// remove drops app and reports whether no owner is left.
func (o *portOwners) remove(app string) bool {
	o.exclusive = remove(o.exclusive, app)
	delete(o.shared, app)
	return len(o.exclusive) == 0 && len(o.shared) == 0
}

// conflict returns an app other than self whose use of the port collides
// with a use by self (exclusive or not), and whether that app binds it
// exclusively.
func (o *portOwners) conflict(self string, exclusive bool) (string, bool) {
	if o == nil {
		return "", false
	}
	for _, id := range o.exclusive {
		if id != self {
			return id, true
		}
	}
	if exclusive {
		for id := range o.shared {
			if id != self {
				return id, false
			}
		}
	}
	return "", false
}

func portKey(partition, key string) string { return partition + " " + key }

// portViolations reports the ports of set that collide with another app's
// in one of its partitions.
func (st *state) portViolations(set *ev.AppSettings, self string) []apierr.FieldViolation {
	var v apierr.Fields
	app := &configv1.App{}
	setSettings(app, set)
	for _, u := range portUses(app) {
		for _, pt := range set.PartitionIds {
			other, excl := st.ports[portKey(pt, u.key)].conflict(self, u.exclusive)
			if other == "" {
				continue
			}
			what := "one of its http/https ports, which the node's HTTP listeners bind"
			if excl {
				what = "a stream listener or forward-proxy port"
			}
			v.Addf(u.field, "port %s is already used by app %s in partition %s (%s)",
				u.key, st.appLabel(other), st.partitionLabel(pt), what)
			break
		}
	}
	return v
}

// streamReferences returns where the stream settings of app name upstream
// name: "stream.upstream", "stream.sni_routes[i]".
func streamReferences(app *configv1.App, name string) []string {
	st := app.GetStream()
	if st == nil {
		return nil
	}
	var refs []string
	if st.Upstream == name {
		refs = append(refs, "stream.upstream")
	}
	for i, r := range st.SniRoutes {
		if r.Upstream == name {
			refs = append(refs, fmt.Sprintf("stream.sni_routes[%d] (%s)", i, r.ServerName))
		}
	}
	return refs
}

// checkStreamReferences reports a stream setting that names an upstream
// the app does not have.
func checkStreamReferences(app *configv1.App) string {
	st := app.GetStream()
	if st == nil {
		return ""
	}
	names := upstreamNames(app)
	if st.Upstream != "" && !names[st.Upstream] {
		return fmt.Sprintf("stream.upstream names upstream %q, which does not exist (create it with strata upstream create)", st.Upstream)
	}
	for i, r := range st.SniRoutes {
		if !names[r.Upstream] {
			return fmt.Sprintf("stream.sni_routes[%d] (%s) names upstream %q, which does not exist", i, r.ServerName, r.Upstream)
		}
	}
	return ""
}

// checkStreamUpstream refuses upstream settings a stream app's TCP proxy
// cannot use: its health check is a TCP connect probe, and it balances
// connections by client IP only.
func checkStreamUpstream(v *apierr.Fields, prefix string, u *configv1.Upstream) {
	if hc := u.HealthCheck; hc != nil {
		if hc.Path != "" {
			v.Addf(join(prefix, "health_check.path"), "a stream app's health check is a TCP connect probe: no path")
		}
		if hc.Host != "" {
			v.Addf(join(prefix, "health_check.host"), "a stream app's health check is a TCP connect probe: no host")
		}
		if len(hc.ExpectedStatuses) > 0 {
			v.Addf(join(prefix, "health_check.expected_statuses"), "a stream app's health check is a TCP connect probe: no HTTP statuses")
		}
	}
	if u.Policy == configv1.BalancePolicy_BALANCE_POLICY_CONSISTENT_HASH && u.HashKey != "client_ip" {
		v.Addf(join(prefix, "hash_key"), "a stream app hashes on client_ip only (it sees no HTTP request)")
	}
}
