package cli

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

// roleFlags are the settings of stream and forward-proxy apps (App.role),
// shared by app create and app update.
type roleFlags struct {
	// stream
	listen        []string
	upstream      string
	tlsMode       string
	sniRoutes     []string
	sendProxy     string
	proxyFrom     []string
	viaParent     bool
	maxConns      uint32
	drainTimeout  time.Duration
	udpIdle       time.Duration
	connectTO     time.Duration
	idleTO        time.Duration
	allow, deny   []string
	connRate      uint32
	connBurst     uint32
	maxConnsPerIP uint32

	// forward proxy
	socks5Ports, httpProxyPorts []uint
	credentials                 []string
	credentialFile              string
	egressCIDRs, egressDomains  []string
	egressPorts, egressDeny     []string
	egressPrivate               bool
}

// The flags of each role; sharedRoleFlags apply to both.
var (
	streamFlags = []string{"stream-listen", "stream-upstream", "tls-mode", "sni-route", "send-proxy-protocol",
		"proxy-protocol-from", "via-parent", "max-connections", "drain-timeout", "udp-idle"}
	forwardFlags = []string{"socks5-port", "http-proxy-port", "credential", "credential-file", "egress-allow-cidr",
		"egress-allow-domain", "egress-allow-port", "egress-allow-private", "egress-deny-cidr"}
	sharedRoleFlags = []string{"allow", "deny", "conn-rate", "conn-burst", "max-conns-per-ip", "connect-timeout", "idle-timeout"}
)

func (f *roleFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.listen, "stream-listen", nil, "stream app: listen on PROTO/PORT, tcp/9000 or udp/9053 (repeatable; makes the app a stream app)")
	fs.StringVar(&f.upstream, "stream-upstream", "", "stream app: upstream (name) connections go to (those no --sni-route matches)")
	fs.StringVar(&f.tlsMode, "tls-mode", "", "stream app: terminate (TLS with the certificates of --domain) or passthrough (SNI proxy); none = plain bytes")
	fs.StringArrayVar(&f.sniRoutes, "sni-route", nil, "stream app: SERVER_NAME=UPSTREAM, route by the TLS ClientHello's server name (exact or *.wildcard; repeatable)")
	fs.StringVar(&f.sendProxy, "send-proxy-protocol", "", "stream app: send a PROXY protocol header to the upstream: v1, v2 or none")
	fs.StringArrayVar(&f.proxyFrom, "proxy-protocol-from", nil, "stream app: read the PROXY protocol header of these load balancers (CIDR; repeatable)")
	fs.BoolVar(&f.viaParent, "via-parent", false, "stream app: forward to the cluster's parent cluster instead of the upstream (tiered)")
	fs.Uint32Var(&f.maxConns, "max-connections", 0, "stream app: open connections (UDP: sessions) per listener on each node (0 = node default)")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 0, "stream app: how long connections of a removed listener may finish (0 = 30s)")
	fs.DurationVar(&f.udpIdle, "udp-idle", 0, "stream app: a UDP client's session ends after this long without datagrams (0 = 60s)")
	fs.DurationVar(&f.connectTO, "connect-timeout", 0, "stream or forward-proxy app: upstream connect timeout (0 = node default)")
	fs.DurationVar(&f.idleTO, "idle-timeout", 0, "stream or forward-proxy app: idle connection timeout (0 = node default)")
	fs.StringArrayVar(&f.allow, "allow", nil, "stream or forward-proxy app: only these client networks connect (CIDR or IP; repeatable)")
	fs.StringArrayVar(&f.deny, "deny", nil, "stream or forward-proxy app: refuse these client networks (CIDR or IP; repeatable)")
	fs.Uint32Var(&f.connRate, "conn-rate", 0, "stream or forward-proxy app: new connections per second per client IP on each node (0 = no limit)")
	fs.Uint32Var(&f.connBurst, "conn-burst", 0, "burst of --conn-rate (0 = the rate)")
	fs.Uint32Var(&f.maxConnsPerIP, "max-conns-per-ip", 0, "open connections per client IP on each node (0 = no limit; an HTTP app counts them against App.limits)")

	fs.UintSliceVar(&f.socks5Ports, "socks5-port", nil, "forward-proxy app: SOCKS5 port (repeatable; makes the app a forward-proxy app)")
	fs.UintSliceVar(&f.httpProxyPorts, "http-proxy-port", nil, "forward-proxy app: HTTP forward proxy port (CONNECT and absolute URLs; repeatable)")
	fs.StringArrayVar(&f.credentials, "credential", nil, "forward-proxy app: USER:PASSWORD (repeatable; the list replaces the app's; on update USER alone keeps that user's password)")
	fs.StringVar(&f.credentialFile, "credential-file", "", "forward-proxy app: file of USER:PASSWORD lines (# comments), added to --credential")
	fs.StringArrayVar(&f.egressCIDRs, "egress-allow-cidr", nil, "forward-proxy app: only these destination networks (repeatable)")
	fs.StringArrayVar(&f.egressDomains, "egress-allow-domain", nil, "forward-proxy app: only these destination names, exact or *.wildcard (repeatable)")
	fs.StringArrayVar(&f.egressPorts, "egress-allow-port", nil, "forward-proxy app: only these destination ports, N or N-M (repeatable)")
	fs.BoolVar(&f.egressPrivate, "egress-allow-private", false, "forward-proxy app: allow private, loopback and link-local destinations (refused by default)")
	fs.StringArrayVar(&f.egressDeny, "egress-deny-cidr", nil, "forward-proxy app: refuse these destination networks whatever else allows them (repeatable)")
}

// anyChanged reports whether one of names was given.
func anyChanged(fs *pflag.FlagSet, names []string) bool {
	return slices.ContainsFunc(names, fs.Changed)
}

// roleFlagNames are every role flag, for "nothing to change" checks.
func roleFlagNames() []string {
	return slices.Concat(streamFlags, forwardFlags, sharedRoleFlags)
}

// role returns the role the flags give over cur (the app's current role
// content, nil for a new app or an HTTP app): only the given flags change
// it. wantRole is "http", "stream" or "forward" for an existing app, "" for
// a new one (then the flags choose).
func (f *roleFlags) role(fs *pflag.FlagSet, wantRole string, curStream *configv1.StreamApp, curForward *configv1.ForwardProxyApp) (*configv1.StreamApp, *configv1.ForwardProxyApp, error) {
	st, fw := anyChanged(fs, streamFlags), anyChanged(fs, forwardFlags)
	// --max-conns-per-ip also limits HTTP apps (App.limits, applimits.go).
	shared := anyChanged(fs, slices.DeleteFunc(slices.Clone(sharedRoleFlags), func(n string) bool { return n == "max-conns-per-ip" }))
	if wantRole == "" {
		switch {
		case st && fw:
			return nil, nil, usagef("stream flags (--stream-listen ...) and forward-proxy flags (--socks5-port ...) cannot be mixed: an app has one role")
		case st:
			wantRole = "stream"
		case fw:
			wantRole = "forward"
		case shared:
			return nil, nil, usagef("--allow, --deny, --conn-rate, --connect-timeout and the like are for stream apps (--stream-listen) and forward-proxy apps (--socks5-port, --http-proxy-port)")
		default:
			wantRole = "http"
		}
	}
	switch wantRole {
	case "stream":
		if fw {
			return nil, nil, usagef("the app is a stream app: forward-proxy flags (--socks5-port, --credential ...) do not apply")
		}
		s := &configv1.StreamApp{}
		if curStream != nil {
			s = proto.Clone(curStream).(*configv1.StreamApp)
		}
		if err := f.applyStream(fs, s); err != nil {
			return nil, nil, err
		}
		return s, nil, nil
	case "forward":
		if st {
			return nil, nil, usagef("the app is a forward-proxy app: stream flags (--stream-listen, --stream-upstream ...) do not apply")
		}
		p := &configv1.ForwardProxyApp{}
		if curForward != nil {
			p = proto.Clone(curForward).(*configv1.ForwardProxyApp)
		}
		if err := f.applyForward(fs, p); err != nil {
			return nil, nil, err
		}
		return nil, p, nil
	}
	if st || fw || shared {
		return nil, nil, usagef("the app is an HTTP app: stream and forward-proxy flags do not apply (an app's role cannot change)")
	}
	return nil, nil, nil
}

func (f *roleFlags) applyStream(fs *pflag.FlagSet, s *configv1.StreamApp) error {
	if fs.Changed("stream-listen") {
		s.Listeners = nil
		for _, l := range f.listen {
			ln, err := parseListener(l)
			if err != nil {
				return usagef("--stream-listen: %v", err)
			}
			s.Listeners = append(s.Listeners, ln)
		}
	}
	if fs.Changed("stream-upstream") {
		s.Upstream = f.upstream
	}
	if fs.Changed("tls-mode") {
		switch strings.ToLower(f.tlsMode) {
		case "", "none":
			s.TlsMode = configv1.StreamTlsMode_STREAM_TLS_MODE_UNSPECIFIED
		case "terminate":
			s.TlsMode = configv1.StreamTlsMode_STREAM_TLS_MODE_TERMINATE
		case "passthrough":
			s.TlsMode = configv1.StreamTlsMode_STREAM_TLS_MODE_PASSTHROUGH
		default:
			return usagef("--tls-mode: %q: want terminate, passthrough or none", f.tlsMode)
		}
	}
	if fs.Changed("sni-route") {
		s.SniRoutes = nil
		for _, r := range f.sniRoutes {
			name, up, ok := strings.Cut(r, "=")
			if !ok || name == "" || up == "" {
				return usagef("--sni-route: %q: want SERVER_NAME=UPSTREAM", r)
			}
			s.SniRoutes = append(s.SniRoutes, &configv1.SniRoute{ServerName: name, Upstream: up})
		}
	}
	if fs.Changed("send-proxy-protocol") {
		switch strings.ToLower(f.sendProxy) {
		case "", "none":
			s.SendProxyProtocol = configv1.ProxyProtocolVersion_PROXY_PROTOCOL_VERSION_UNSPECIFIED
		case "v1", "1":
			s.SendProxyProtocol = configv1.ProxyProtocolVersion_PROXY_PROTOCOL_VERSION_V1
		case "v2", "2":
			s.SendProxyProtocol = configv1.ProxyProtocolVersion_PROXY_PROTOCOL_VERSION_V2
		default:
			return usagef("--send-proxy-protocol: %q: want v1, v2 or none", f.sendProxy)
		}
	}
	if fs.Changed("proxy-protocol-from") {
		s.ProxyProtocolTrustedCidrs = f.proxyFrom
	}
	if fs.Changed("via-parent") {
		s.ViaParent = f.viaParent
	}
	if fs.Changed("max-connections") {
		s.MaxConnections = f.maxConns
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
		dst  *uint32
	}{
		{"connect-timeout", f.connectTO, &s.ConnectTimeoutMs},
		{"idle-timeout", f.idleTO, &s.IdleTimeoutMs},
		{"drain-timeout", f.drainTimeout, &s.DrainTimeoutMs},
		{"udp-idle", f.udpIdle, &s.UdpSessionIdleMs},
	} {
		if err := setMillis(fs, d.flag, d.v, d.dst); err != nil {
			return err
		}
	}
	s.Access = f.access(fs, s.Access)
	return nil
}

func (f *roleFlags) applyForward(fs *pflag.FlagSet, p *configv1.ForwardProxyApp) error {
	if fs.Changed("socks5-port") {
		ports, err := parsePorts("--socks5-port", f.socks5Ports)
		if err != nil {
			return err
		}
		p.Socks5Ports = ports
	}
	if fs.Changed("http-proxy-port") {
		ports, err := parsePorts("--http-proxy-port", f.httpProxyPorts)
		if err != nil {
			return err
		}
		p.HttpPorts = ports
	}
	if fs.Changed("credential") || fs.Changed("credential-file") {
		lines := slices.Clone(f.credentials)
		if f.credentialFile != "" {
			more, err := readCredentialFile(f.credentialFile)
			if err != nil {
				return err
			}
			lines = append(lines, more...)
		}
		// The list replaces the app's; a user without a password keeps the
		// one the app has (the service keeps its hash).
		p.Credentials = nil
		for _, l := range lines {
			user, pw, _ := strings.Cut(l, ":")
			if user == "" {
				return usagef("--credential: %q: want USER:PASSWORD", l)
			}
			p.Credentials = append(p.Credentials, &configv1.ProxyCredential{Username: user, Password: pw})
		}
	}
	if anyChanged(fs, []string{"egress-allow-cidr", "egress-allow-domain", "egress-allow-port", "egress-allow-private", "egress-deny-cidr"}) {
		e := &configv1.EgressPolicy{}
		if p.Egress != nil {
			e = proto.Clone(p.Egress).(*configv1.EgressPolicy)
		}
		if fs.Changed("egress-allow-cidr") {
			e.AllowCidrs = f.egressCIDRs
		}
		if fs.Changed("egress-allow-domain") {
			e.AllowDomains = f.egressDomains
		}
		if fs.Changed("egress-allow-port") {
			e.AllowPorts = f.egressPorts
		}
		if fs.Changed("egress-allow-private") {
			e.AllowPrivate = f.egressPrivate
		}
		if fs.Changed("egress-deny-cidr") {
			e.DenyCidrs = f.egressDeny
		}
		p.Egress = e
		if proto.Equal(e, &configv1.EgressPolicy{}) {
			p.Egress = nil
		}
	}
	if err := setMillis(fs, "connect-timeout", f.connectTO, &p.ConnectTimeoutMs); err != nil {
		return err
	}
	if err := setMillis(fs, "idle-timeout", f.idleTO, &p.IdleTimeoutMs); err != nil {
		return err
	}
	p.Access = f.access(fs, p.Access)
	return nil
}

// access applies the access-control flags over cur.
func (f *roleFlags) access(fs *pflag.FlagSet, cur *configv1.AccessControl) *configv1.AccessControl {
	if !anyChanged(fs, []string{"allow", "deny", "conn-rate", "conn-burst", "max-conns-per-ip"}) {
		return cur
	}
	a := &configv1.AccessControl{}
	if cur != nil {
		a = proto.Clone(cur).(*configv1.AccessControl)
	}
	if fs.Changed("allow") {
		a.AllowCidrs = f.allow
	}
	if fs.Changed("deny") {
		a.DenyCidrs = f.deny
	}
	if fs.Changed("conn-rate") {
		a.ConnectionsPerSecond = f.connRate
	}
	if fs.Changed("conn-burst") {
		a.Burst = f.connBurst
	}
	if fs.Changed("max-conns-per-ip") {
		a.MaxConnectionsPerIp = f.maxConnsPerIP
	}
	if proto.Equal(a, &configv1.AccessControl{}) {
		return nil
	}
	return a
}

func setMillis(fs *pflag.FlagSet, flag string, d time.Duration, dst *uint32) error {
	if !fs.Changed(flag) {
		return nil
	}
	ms, err := millis("--"+flag, d)
	if err != nil {
		return err
	}
	*dst = ms
	return nil
}

// parseListener parses "tcp/9000", "udp/53" or "9000" (TCP).
func parseListener(s string) (*configv1.StreamListener, error) {
	network, port, ok := strings.Cut(s, "/")
	if !ok {
		network, port = "tcp", s
	}
	l := &configv1.StreamListener{}
	switch strings.ToLower(network) {
	case "tcp":
		l.Protocol = configv1.StreamProtocol_STREAM_PROTOCOL_TCP
	case "udp":
		l.Protocol = configv1.StreamProtocol_STREAM_PROTOCOL_UDP
	default:
		return nil, fmt.Errorf("%q: want tcp/PORT or udp/PORT", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return nil, fmt.Errorf("%q: %q is not a port from 1 to 65535", s, port)
	}
	l.Port = uint32(n)
	return l, nil
}

// maxCredentialFile bounds --credential-file (1000 credentials of 511 bytes).
const maxCredentialFile = 1 << 20

// readCredentialFile reads USER:PASSWORD lines; blank lines and lines
// starting with '#' are skipped.
func readCredentialFile(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, usagef("--credential-file: %v", err)
	}
	if fi.Size() > maxCredentialFile {
		return nil, usagef("--credential-file: %s is %d bytes, more than %d", path, fi.Size(), maxCredentialFile)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, usagef("--credential-file: %v", err)
	}
	defer fh.Close()
	var out []string
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if !strings.Contains(line, ":") {
			return nil, usagef("--credential-file: %s line %d: want USER:PASSWORD", path, n)
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, usagef("--credential-file: %v", err)
	}
	return out, nil
}

// appRole names an app's role: http, stream or forward.
func appRole(a interface {
	GetStream() *configv1.StreamApp
	GetForwardProxy() *configv1.ForwardProxyApp
}) string {
	switch {
	case a.GetStream() != nil:
		return "stream"
	case a.GetForwardProxy() != nil:
		return "forward"
	}
	return "http"
}

// roleRows describe the stream or forward-proxy settings of app for
// app get.
func roleRows(app *configv1.App) [][]string {
	if s := app.GetStream(); s != nil {
		var listen, routes []string
		for _, l := range s.GetListeners() {
			listen = append(listen, listenerText(l))
		}
		for _, r := range s.GetSniRoutes() {
			routes = append(routes, r.GetServerName()+"="+r.GetUpstream())
		}
		tls := strings.ToLower(strings.TrimPrefix(s.GetTlsMode().String(), "STREAM_TLS_MODE_"))
		if s.GetTlsMode() == configv1.StreamTlsMode_STREAM_TLS_MODE_UNSPECIFIED {
			tls = "none"
		}
		pp := "none"
		if v := s.GetSendProxyProtocol(); v != configv1.ProxyProtocolVersion_PROXY_PROTOCOL_VERSION_UNSPECIFIED {
			pp = strings.ToLower(strings.TrimPrefix(v.String(), "PROXY_PROTOCOL_VERSION_"))
		}
		return append([][]string{
			{"listen:", strings.Join(listen, ", ")},
			{"upstream:", s.GetUpstream()},
			{"tls mode:", tls},
			{"sni routes:", strings.Join(routes, ", ")},
			{"proxy protocol:", fmt.Sprintf("send %s; trusted from %s", pp, orNone(s.GetProxyProtocolTrustedCidrs()))},
			{"via parent:", clientx.YesNo(s.GetViaParent())},
			{"limits:", fmt.Sprintf("connect %s, idle %s, max connections %s, drain %s, udp idle %s",
				msText(s.GetConnectTimeoutMs()), msText(s.GetIdleTimeoutMs()), countText(s.GetMaxConnections()),
				msText(s.GetDrainTimeoutMs()), msText(s.GetUdpSessionIdleMs()))},
		}, accessRows(s.GetAccess())...)
	}
	if p := app.GetForwardProxy(); p != nil {
		users := make([]string, 0, len(p.GetCredentials()))
		for _, c := range p.GetCredentials() {
			users = append(users, c.GetUsername())
		}
		rows := [][]string{
			{"socks5 ports:", joinUints(p.GetSocks5Ports())},
			{"http proxy ports:", joinUints(p.GetHttpPorts())},
			{"credentials:", fmt.Sprintf("%d (%s)", len(users), strings.Join(users, ", "))},
			{"egress:", egressText(p.GetEgress())},
			{"limits:", fmt.Sprintf("connect %s, idle %s", msText(p.GetConnectTimeoutMs()), msText(p.GetIdleTimeoutMs()))},
		}
		return append(rows, accessRows(p.GetAccess())...)
	}
	return nil
}

func listenerText(l *configv1.StreamListener) string {
	if l.GetProtocol() == configv1.StreamProtocol_STREAM_PROTOCOL_UDP {
		return "udp/" + strconv.Itoa(int(l.GetPort()))
	}
	return "tcp/" + strconv.Itoa(int(l.GetPort()))
}

func accessRows(a *configv1.AccessControl) [][]string {
	if a == nil {
		return [][]string{{"access:", "any client"}}
	}
	return [][]string{{"access:", fmt.Sprintf("allow %s; deny %s; %s new/s per IP (burst %s); %s open per IP",
		orNone(a.GetAllowCidrs()), orNone(a.GetDenyCidrs()), countText(a.GetConnectionsPerSecond()),
		countText(a.GetBurst()), countText(a.GetMaxConnectionsPerIp()))}}
}

func egressText(e *configv1.EgressPolicy) string {
	if e == nil {
		return "public destinations (private ranges refused)"
	}
	var parts []string
	if len(e.GetAllowCidrs()) > 0 {
		parts = append(parts, "networks "+strings.Join(e.GetAllowCidrs(), ","))
	}
	if len(e.GetAllowDomains()) > 0 {
		parts = append(parts, "domains "+strings.Join(e.GetAllowDomains(), ","))
	}
	if len(e.GetAllowPorts()) > 0 {
		parts = append(parts, "ports "+strings.Join(e.GetAllowPorts(), ","))
	}
	if e.GetAllowPrivate() {
		parts = append(parts, "private ranges allowed")
	}
	if len(e.GetDenyCidrs()) > 0 {
		parts = append(parts, "denied "+strings.Join(e.GetDenyCidrs(), ","))
	}
	if len(parts) == 0 {
		return "public destinations (private ranges refused)"
	}
	return strings.Join(parts, "; ")
}

func orNone(v []string) string {
	if len(v) == 0 {
		return "none"
	}
	return strings.Join(v, ",")
}

// msText is a duration in milliseconds, "default" for 0.
func msText(ms uint32) string {
	if ms == 0 {
		return "default"
	}
	return (time.Duration(ms) * time.Millisecond).String()
}

// countText is a count or limit, "-" for 0 (none, or the default).
func countText(n uint32) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatUint(uint64(n), 10)
}
