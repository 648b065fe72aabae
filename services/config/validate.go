package config

import (
	"errors"
	"fmt"
	"maps"
	"mime"
	"net"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/domainname"
	"github.com/strata-edge/strata/pkg/rules"
	"github.com/strata-edge/strata/pkg/validate"
)

// Limits on app content. They keep one app's snapshot entry small enough to
// sync quickly and reject obvious mistakes early.
const (
	maxDomainsPerApp    = 10000
	maxPortsPerApp      = 64      // http_ports and https_ports together
	maxRoutesPerApp     = 100_000 // domains x ports: the (host, port) pairs an app claims on a node
	maxLabels           = 64
	maxLabelKeyLength   = 63
	maxLabelValueLength = 256
	maxServers          = 1000
	maxWeight           = 1000
	maxRetries          = 10
	maxTimeoutMS        = 3_600_000 // 1h
	minIntervalMS       = 100
	maxThreshold        = 100
	maxFails            = 1000
	maxActions          = 32
	maxSplit            = 32
	maxBodyBytes        = 64 << 10
	maxHeaderOps        = 64
	maxURLLength        = 2048
	// maxAppBytes bounds one app's encoded content (settings, upstreams and
	// rules): every event of the app, and the revert event that carries all
	// of it, stays under the event store's 1 MiB per event, and one release
	// stays a small part of a node's sync.
	maxAppBytes = 768 << 10
	// maxDomainBytes bounds an app's domains together (10,000 domains of
	// 26 bytes on average).
	maxDomainBytes = 256 << 10
)

// checkAppSize refuses content over maxAppBytes, naming field: the part of
// the request that would make the app too large.
func checkAppSize(field string, content *configv1.App) error {
	if n := proto.Size(content); n > maxAppBytes {
		return apierr.Invalid(apierr.FieldViolation{Field: field, Reason: fmt.Sprintf(
			"would make the app %d bytes encoded, more than the limit of %d bytes per app (settings, upstreams and rules together)", n, maxAppBytes)})
	}
	return nil
}

// violations collects field violations under a path prefix.

func join(prefix, field string) string {
	if prefix == "" {
		return field
	}
	return prefix + "." + field
}

func index(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

// normalizeSettings validates app settings and returns them normalized:
// domains lower-cased without trailing dot, ports of HTTP apps defaulted to
// [80], the role's content normalized (roles.go). Partition
// ids must already be resolved (the service maps names to ids).
func normalizeSettings(in *ev.AppSettings) (*ev.AppSettings, []apierr.FieldViolation) {
	var v apierr.Fields
	s := proto.Clone(in).(*ev.AppSettings)
	v.Add("name", validate.Name(s.Name))

	domainBytes := 0
	for _, d := range s.Domains {
		domainBytes += len(d)
	}
	if len(s.Domains) > maxDomainsPerApp {
		v.Addf("domains", "has %d domains, more than %d", len(s.Domains), maxDomainsPerApp)
	} else if domainBytes > maxDomainBytes {
		v.Addf("domains", "has %d bytes of domain names, more than the limit of %d per app", domainBytes, maxDomainBytes)
	} else {
		seen := make(map[string]int, len(s.Domains))
		for i, d := range s.Domains {
			n, err := domainname.Normalize(d)
			if err != nil {
				var de *domainname.Error
				if errors.As(err, &de) {
					v.Addf(index("domains", i), "%q %s", d, de.Reason)
				} else {
					v.Addf(index("domains", i), "%v", err)
				}
				continue
			}
			if j, dup := seen[n]; dup {
				v.Addf(index("domains", i), "%q is a duplicate of domains[%d]", n, j)
				continue
			}
			seen[n] = i
			s.Domains[i] = n
		}
	}

	if len(s.HttpPorts) == 0 && len(s.HttpsPorts) == 0 && roleOf(s) == roleHTTP {
		s.HttpPorts = []uint32{80}
	}
	checkRoleSettings(&v, s)
	ports := make(map[uint32]string)
	for _, list := range []struct {
		field string
		ports []uint32
	}{{"http_ports", s.HttpPorts}, {"https_ports", s.HttpsPorts}} {
		for i, p := range list.ports {
			f := index(list.field, i)
			if p < 1 || p > 65535 {
				v.Addf(f, "port %d is out of range 1-65535", p)
				continue
			}
			if other, dup := ports[p]; dup {
				v.Addf(f, "port %d is already listed in %s", p, other)
				continue
			}
			ports[p] = f
		}
	}

	if n := len(s.HttpPorts) + len(s.HttpsPorts); n > maxPortsPerApp {
		v.Addf("http_ports", "http_ports and https_ports list %d ports, more than %d", n, maxPortsPerApp)
	} else if routes := len(s.Domains) * n; routes > maxRoutesPerApp {
		v.Addf("domains", "%d domains x %d ports is %d routes, more than %d per app", len(s.Domains), n, routes, maxRoutesPerApp)
	}

	if len(s.PartitionIds) == 0 {
		v.Addf("partitions", "at least one partition is required")
	}
	seenPart := map[string]int{}
	for i, p := range s.PartitionIds {
		if j, dup := seenPart[p]; dup {
			v.Addf(index("partitions", i), "partition %q is a duplicate of partitions[%d]", p, j)
		}
		seenPart[p] = i
	}

	checkLabels(&v, "labels", s.Labels, maxLabels)

	checkLimits(&v, s)
	if s.HttpsRedirect && len(s.HttpsPorts) == 0 && roleOf(s) == roleHTTP {
		v.Addf("https_redirect", "the app has no https port to redirect to (add one, e.g. 443)")
	}
	if h := s.Hsts; h != nil && roleOf(s) == roleHTTP {
		switch {
		case len(s.HttpsPorts) == 0:
			v.Addf("hsts", "the app has no https port (HSTS is sent on HTTPS responses only)")
		case h.MaxAgeSeconds == 0 || h.MaxAgeSeconds > maxHSTSAge:
			v.Addf("hsts.max_age_seconds", "%d is out of range 1-%d (two years)", h.MaxAgeSeconds, maxHSTSAge)
		case h.Preload && (!h.IncludeSubdomains || h.MaxAgeSeconds < minHSTSPreloadAge):
			v.Addf("hsts.preload", "needs include_subdomains and a max-age of at least %d (one year), as preload lists require", minHSTSPreloadAge)
		}
	}
	return s, v
}

// HSTS max-age bounds, in seconds.
const (
	maxHSTSAge        = 2 * 365 * 24 * 3600
	minHSTSPreloadAge = 365 * 24 * 3600
)

// checkLabels validates at most most labels, each key and value (field
// names them: labels["team"]).
func checkLabels(v *apierr.Fields, field string, labels map[string]string, most int) {
	if len(labels) > most {
		v.Addf(field, "has %d labels, more than %d", len(labels), most)
	}
	for _, k := range sortedKeys(labels) {
		f := fmt.Sprintf("%s[%q]", field, k)
		v.Add(f, checkLabelKey(k))
		v.Add(f, checkLabelValue(labels[k]))
	}
}

// checkLabelKey: 1-63 characters of letters, digits, '-', '_', '.', '/',
// starting and ending with a letter or digit (Kubernetes-like).
func checkLabelKey(k string) string {
	if k == "" {
		return "key is empty"
	}
	if len(k) > maxLabelKeyLength {
		return fmt.Sprintf("key is %d characters long, more than %d", len(k), maxLabelKeyLength)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if alnum {
			continue
		}
		if (c == '-' || c == '_' || c == '.' || c == '/') && i > 0 && i < len(k)-1 {
			continue
		}
		return fmt.Sprintf("key %q: use letters, digits, '-', '_', '.', '/', starting and ending with a letter or digit", k)
	}
	return ""
}

func checkLabelValue(val string) string {
	if len(val) > maxLabelValueLength {
		return fmt.Sprintf("value is %d bytes long, more than %d", len(val), maxLabelValueLength)
	}
	if !utf8.ValidString(val) {
		return "value is not valid UTF-8"
	}
	for _, r := range val {
		if r < 0x20 || r == 0x7f {
			return "value contains a control character"
		}
	}
	return ""
}

// normalizeUpstream validates one upstream (without cross-object checks) and
// returns it normalized (policy UNSPECIFIED -> ROUND_ROBIN).
func normalizeUpstream(prefix string, in *configv1.Upstream) (*configv1.Upstream, []apierr.FieldViolation) {
	var v apierr.Fields
	if in == nil {
		v.Addf(prefix, "is required")
		return nil, v
	}
	u := proto.Clone(in).(*configv1.Upstream)
	v.Add(join(prefix, "name"), validate.Name(u.Name))

	servers := join(prefix, "servers")
	switch {
	case u.Endpoints != "":
		// The servers come from a dynamic set (endpoints.go); it need not
		// exist yet (an upstream naming a missing set has no servers).
		if r := checkEndpointsID(u.Endpoints); r != "" {
			v.Add(join(prefix, "endpoints"), r)
		}
		if len(u.Servers) > 0 {
			v.Addf(servers, "must be empty when endpoints names a set (%d given)", len(u.Servers))
		}
	case len(u.Servers) == 0:
		v.Addf(servers, "at least one server is required")
	case len(u.Servers) > maxServers:
		v.Addf(servers, "has %d servers, more than %d", len(u.Servers), maxServers)
	default:
		seen := map[string]int{}
		primaries, primaryWeight := 0, 0
		for i, srv := range u.Servers {
			f := index(servers, i)
			if srv == nil {
				v.Addf(f, "is empty")
				continue
			}
			if r := checkHostPort(srv.Address); r != "" {
				v.Addf(f+".address", "%s", r)
			} else if j, dup := seen[srv.Address]; dup {
				v.Addf(f+".address", "%q is a duplicate of servers[%d]", srv.Address, j)
			} else {
				seen[srv.Address] = i
			}
			if srv.Weight > maxWeight {
				v.Addf(f+".weight", "weight %d is more than %d", srv.Weight, maxWeight)
			}
			if !srv.Backup {
				primaries++
				primaryWeight += int(srv.Weight)
			}
		}
		switch {
		case primaries == 0:
			v.Addf(servers, "at least one server must not be a backup")
		case primaryWeight == 0:
			v.Addf(servers, "no non-backup server has a weight above 0 (weight 0 takes no traffic: it drains a server); give at least one a weight above 0")
		}
	}

	if _, known := configv1.BalancePolicy_name[int32(u.Policy)]; !known {
		v.Addf(join(prefix, "policy"), "unknown balance policy %d", u.Policy)
	}
	if u.Policy == configv1.BalancePolicy_BALANCE_POLICY_UNSPECIFIED {
		u.Policy = configv1.BalancePolicy_BALANCE_POLICY_ROUND_ROBIN
	}
	hashKey := join(prefix, "hash_key")
	if u.Policy == configv1.BalancePolicy_BALANCE_POLICY_CONSISTENT_HASH {
		v.Add(hashKey, checkHashKey(u.HashKey))
	} else if u.HashKey != "" {
		v.Addf(hashKey, "is only used with policy BALANCE_POLICY_CONSISTENT_HASH")
	}

	if t := u.Timeouts; t != nil {
		for _, f := range []struct {
			name string
			ms   uint32
		}{{"connect_ms", t.ConnectMs}, {"read_ms", t.ReadMs}, {"write_ms", t.WriteMs}} {
			if f.ms > maxTimeoutMS {
				v.Addf(join(prefix, "timeouts."+f.name), "%d ms is more than %d (1h); 0 means the default", f.ms, maxTimeoutMS)
			}
		}
	}
	if u.Retries > maxRetries {
		v.Addf(join(prefix, "retries"), "%d is more than %d", u.Retries, maxRetries)
	}
	if t := u.Tls; t != nil && t.Sni != "" {
		if !t.Enabled {
			v.Addf(join(prefix, "tls.sni"), "is set but tls.enabled is false")
		} else if _, err := domainname.NormalizeHostname(t.Sni); err != nil {
			v.Addf(join(prefix, "tls.sni"), "%v", err)
		}
	}
	if hc := u.HealthCheck; hc != nil {
		checkHealth(&v, join(prefix, "health_check"), hc)
	}
	return u, v
}

func checkHealth(v *apierr.Fields, prefix string, hc *configv1.HealthCheck) {
	if hc.Path != "" && (!strings.HasPrefix(hc.Path, "/") || strings.ContainsAny(hc.Path, " \t\r\n")) {
		v.Addf(join(prefix, "path"), "%q must start with '/' and contain no spaces", hc.Path)
	}
	if hc.Host != "" {
		if _, err := domainname.NormalizeHostname(hc.Host); err != nil {
			v.Addf(join(prefix, "host"), "%v", err)
		}
	}
	if hc.IntervalMs != 0 && (hc.IntervalMs < minIntervalMS || hc.IntervalMs > maxTimeoutMS) {
		v.Addf(join(prefix, "interval_ms"), "%d is outside %d-%d ms (0 means the default)", hc.IntervalMs, minIntervalMS, maxTimeoutMS)
	}
	if hc.TimeoutMs > maxTimeoutMS {
		v.Addf(join(prefix, "timeout_ms"), "%d is more than %d ms", hc.TimeoutMs, maxTimeoutMS)
	} else if hc.TimeoutMs != 0 && hc.IntervalMs != 0 && hc.TimeoutMs >= hc.IntervalMs {
		v.Addf(join(prefix, "timeout_ms"), "%d ms must be shorter than the interval (%d ms)", hc.TimeoutMs, hc.IntervalMs)
	}
	if hc.HealthyThreshold > maxThreshold {
		v.Addf(join(prefix, "healthy_threshold"), "%d is more than %d", hc.HealthyThreshold, maxThreshold)
	}
	if hc.UnhealthyThreshold > maxThreshold {
		v.Addf(join(prefix, "unhealthy_threshold"), "%d is more than %d", hc.UnhealthyThreshold, maxThreshold)
	}
	for i, s := range hc.ExpectedStatuses {
		if s < 100 || s > 599 {
			v.Addf(index(join(prefix, "expected_statuses"), i), "status %d is outside 100-599", s)
		}
	}
	if hc.MaxFails > maxFails {
		v.Addf(join(prefix, "max_fails"), "%d is more than %d", hc.MaxFails, maxFails)
	}
	if hc.FailTimeoutMs > maxTimeoutMS {
		v.Addf(join(prefix, "fail_timeout_ms"), "%d is more than %d ms", hc.FailTimeoutMs, maxTimeoutMS)
	}
}

// checkHostPort validates "host:port" with an IP or a host name and a port
// in 1-65535.
func checkHostPort(addr string) string {
	if addr == "" {
		return "is empty (want host:port)"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Sprintf("port %q is out of range 1-65535", port)
	}
	if host == "" {
		return fmt.Sprintf("%q has no host", addr)
	}
	if net.ParseIP(host) != nil {
		return ""
	}
	if strings.Contains(host, ":") {
		return fmt.Sprintf("host %q is not a valid IP address", host)
	}
	if _, err := domainname.NormalizeHostname(host); err != nil {
		var de *domainname.Error
		if errors.As(err, &de) {
			return fmt.Sprintf("host %q %s", host, de.Reason)
		}
		return fmt.Sprintf("host %q: %v", host, err)
	}
	return ""
}

func checkHashKey(k string) string {
	if k == "" {
		return `is required for BALANCE_POLICY_CONSISTENT_HASH ("client_ip", "uri", "path", "header:NAME", "cookie:NAME" or "query:NAME")`
	}
	if _, err := validate.ParseHashKey(k); err != nil {
		return err.Error()
	}
	return ""
}

func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

// normalizeRule validates one rule against the app's upstream names and
// returns it normalized (redirect status 0 -> 302, respond status 0 -> 200).
func normalizeRule(prefix string, in *configv1.Rule, upstreams map[string]bool) (*configv1.Rule, []apierr.FieldViolation) {
	var v apierr.Fields
	if in == nil {
		v.Addf(prefix, "is required")
		return nil, v
	}
	r := proto.Clone(in).(*configv1.Rule)
	v.Add(join(prefix, "name"), validate.Name(r.Name))
	if err := rules.Validate(r.When); err != nil {
		v.Addf(join(prefix, "when"), "%v", err)
	}
	actions := join(prefix, "actions")
	switch {
	case len(r.Actions) == 0:
		v.Addf(actions, "at least one action is required")
	case len(r.Actions) > maxActions:
		v.Addf(actions, "has %d actions, more than %d", len(r.Actions), maxActions)
	}
	terminal := ""
	cacheAt := -1
	for i, a := range r.Actions {
		f := index(actions, i)
		kind := actionKind(a)
		if kind == "" {
			v.Addf(f, "no action set (want proxy, redirect, respond, request_headers, response_headers, rewrite, cache, rate_limit or challenge)")
			continue
		}
		if kind == "cache" {
			if cacheAt >= 0 {
				v.Addf(f, "a rule has at most one cache action; actions[%d] is one", cacheAt)
			}
			cacheAt = i
		}
		if kind == "proxy" || kind == "redirect" || kind == "respond" {
			if terminal != "" {
				v.Addf(f, "a rule has at most one of proxy, redirect and respond; %s is already set", terminal)
			}
			terminal = fmt.Sprintf("%s (actions[%d])", kind, i)
		}
		f = join(f, kind)
		switch x := a.Action.(type) {
		case *configv1.Action_Proxy:
			checkProxy(&v, f, x.Proxy, upstreams)
		case *configv1.Action_Redirect:
			if x.Redirect.Status == 0 {
				x.Redirect.Status = 302
			}
			switch x.Redirect.Status {
			case 301, 302, 303, 307, 308:
			default:
				v.Addf(join(f, "status"), "%d is not a redirect status (301, 302, 303, 307 or 308)", x.Redirect.Status)
			}
			switch u := x.Redirect.Url; {
			case u == "":
				v.Addf(join(f, "url"), "is empty")
			case len(u) > maxURLLength:
				v.Addf(join(f, "url"), "is %d bytes long, more than %d", len(u), maxURLLength)
			case strings.ContainsAny(u, " \t\r\n\x00"):
				v.Addf(join(f, "url"), "contains whitespace or control characters")
			}
		case *configv1.Action_Respond:
			if x.Respond.Status == 0 {
				x.Respond.Status = 200
			}
			if s := x.Respond.Status; s < 100 || s > 599 {
				v.Addf(join(f, "status"), "%d is outside 100-599", s)
			}
			if len(x.Respond.Body) > maxBodyBytes {
				v.Addf(join(f, "body"), "is %d bytes long, more than %d", len(x.Respond.Body), maxBodyBytes)
			}
			if ct := x.Respond.ContentType; ct != "" {
				if _, _, err := mime.ParseMediaType(ct); err != nil {
					v.Addf(join(f, "content_type"), "%q is not a media type: %v", ct, err)
				}
			}
		case *configv1.Action_RequestHeaders:
			checkHeaderOps(&v, f, x.RequestHeaders)
		case *configv1.Action_ResponseHeaders:
			checkHeaderOps(&v, f, x.ResponseHeaders)
		case *configv1.Action_Rewrite:
			checkRewrite(&v, f, x.Rewrite)
		case *configv1.Action_Cache:
			checkCache(&v, f, x.Cache)
		case *configv1.Action_RateLimit:
			checkRateLimit(&v, f, x.RateLimit)
		case *configv1.Action_Challenge:
			checkChallenge(&v, f, x.Challenge)
		}
	}
	return r, v
}

// actionKind is the name of the action's oneof field that is set, or "".
func actionKind(a *configv1.Action) string {
	m := a.ProtoReflect()
	fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("action"))
	if fd == nil || !m.Get(fd).Message().IsValid() {
		return ""
	}
	return string(fd.Name())
}

func checkProxy(v *apierr.Fields, prefix string, p *configv1.ProxyAction, upstreams map[string]bool) {
	f := join(prefix, "upstreams")
	switch {
	case len(p.Upstreams) == 0:
		v.Addf(f, "at least one upstream is required")
		return
	case len(p.Upstreams) > maxSplit:
		v.Addf(f, "has %d upstreams, more than %d", len(p.Upstreams), maxSplit)
		return
	}
	seen := map[string]int{}
	total := 0
	for i, w := range p.Upstreams {
		fi := index(f, i)
		if w == nil {
			v.Addf(fi, "is empty")
			continue
		}
		switch {
		case w.Upstream == "":
			v.Addf(fi+".upstream", "is empty")
		case !upstreams[w.Upstream]:
			v.Addf(fi+".upstream", "upstream %q does not exist in this app", w.Upstream)
		default:
			if j, dup := seen[w.Upstream]; dup {
				v.Addf(fi+".upstream", "upstream %q is a duplicate of upstreams[%d]", w.Upstream, j)
			}
			seen[w.Upstream] = i
		}
		if w.Weight > maxWeight {
			v.Addf(fi+".weight", "weight %d is more than %d", w.Weight, maxWeight)
		}
		total += int(w.Weight)
	}
	if len(p.Upstreams) > 0 && total == 0 {
		v.Addf(f, "no upstream has a weight above 0 (weight 0 takes no traffic: it drains an upstream); give at least one a weight above 0")
	}
}

func checkHeaderOps(v *apierr.Fields, prefix string, h *configv1.HeaderOps) {
	if len(h.Set)+len(h.Add)+len(h.Remove) == 0 {
		v.Addf(prefix, "no header operation (set, add or remove)")
	}
	if len(h.Set)+len(h.Add)+len(h.Remove) > maxHeaderOps {
		v.Addf(prefix, "has more than %d header operations", maxHeaderOps)
	}
	for _, name := range sortedKeys(h.Set) {
		f := fmt.Sprintf("%s.set[%q]", prefix, name)
		v.Add(f, validate.Token("header name", name))
		if !validHeaderValue(h.Set[name]) {
			v.Addf(f, "value contains CR, LF or NUL")
		}
	}
	for i, hd := range h.Add {
		f := index(join(prefix, "add"), i)
		v.Add(f+".name", validate.Token("header name", hd.GetName()))
		if !validHeaderValue(hd.GetValue()) {
			v.Addf(f+".value", "contains CR, LF or NUL")
		}
	}
	for i, name := range h.Remove {
		v.Add(index(join(prefix, "remove"), i), validate.Token("header name", name))
	}
}

func checkRewrite(v *apierr.Fields, prefix string, rw *configv1.RewriteAction) {
	groups := 0
	if rw.PathRegex != "" {
		re, err := validate.Regexp(rw.PathRegex)
		if err != nil {
			v.Addf(join(prefix, "path_regex"), "%v", err)
		} else {
			groups = re.NumSubexp()
		}
	} else if rw.PathReplacement != "" && !strings.HasPrefix(rw.PathReplacement, "/") {
		v.Addf(join(prefix, "path_replacement"), "%q must start with '/' when path_regex is empty", rw.PathReplacement)
	}
	if strings.ContainsAny(rw.PathReplacement, " \t\r\n\x00") {
		v.Addf(join(prefix, "path_replacement"), "contains whitespace or control characters")
	}
	for i := 0; i+1 < len(rw.PathReplacement); i++ {
		if rw.PathReplacement[i] == '$' {
			c := rw.PathReplacement[i+1]
			if '0' <= c && c <= '9' && int(c-'0') > groups {
				v.Addf(join(prefix, "path_replacement"), "refers to group $%c but path_regex has %d groups", c, groups)
				break
			}
		}
	}
	if rw.PathRegex == "" && rw.PathReplacement == "" && len(rw.QuerySet) == 0 && len(rw.QueryRemove) == 0 {
		v.Addf(prefix, "rewrites nothing (set path_replacement, query_set or query_remove)")
	}
	for _, k := range sortedKeys(rw.QuerySet) {
		if k == "" || strings.ContainsAny(k, "&= \t\r\n") {
			v.Addf(fmt.Sprintf("%s.query_set[%q]", prefix, k), "invalid query parameter name")
		}
	}
	for i, k := range rw.QueryRemove {
		if k == "" || strings.ContainsAny(k, "&= \t\r\n") {
			v.Addf(index(join(prefix, "query_remove"), i), "invalid query parameter name %q", k)
		}
	}
}

// Limits of a cache action.
const (
	maxCacheSeconds = 366 * 24 * 3600 // TTLs and stale windows: about a year
	maxCacheKeyList = 32              // query args, headers, cookies in the key
)

func checkCache(v *apierr.Fields, prefix string, c *configv1.CacheAction) {
	if c.Bypass {
		if c.TtlS != 0 || len(c.TtlByStatusS) != 0 || c.OverrideOrigin || len(c.KeyQueryArgs) != 0 || c.KeyIgnoreQuery ||
			len(c.KeyHeaders) != 0 || len(c.KeyCookies) != 0 || c.StaleWhileRevalidateS != 0 || c.StaleIfErrorS != 0 || c.TagHeader != "" {
			v.Addf(join(prefix, "bypass"), "a bypass caches nothing; set no other cache field with it")
		}
		return
	}
	seconds := func(field string, s uint32) {
		if s > maxCacheSeconds {
			v.Addf(join(prefix, field), "%d s is more than %d s (366 days)", s, maxCacheSeconds)
		}
	}
	seconds("ttl_s", c.TtlS)
	seconds("stale_while_revalidate_s", c.StaleWhileRevalidateS)
	seconds("stale_if_error_s", c.StaleIfErrorS)
	for _, status := range slices.Sorted(maps.Keys(c.TtlByStatusS)) {
		f := fmt.Sprintf("%s.ttl_by_status_s[%d]", prefix, status)
		if status < 100 || status > 599 {
			v.Addf(f, "status %d is outside 100-599", status)
		}
		if ttl := c.TtlByStatusS[status]; ttl > maxCacheSeconds {
			v.Addf(f, "%d s is more than %d s (366 days)", ttl, maxCacheSeconds)
		}
	}
	if c.OverrideOrigin && c.TtlS == 0 && len(c.TtlByStatusS) == 0 {
		v.Addf(join(prefix, "override_origin"), "ignoring the origin's headers needs ttl_s or ttl_by_status_s, else nothing is cached")
	}
	if c.KeyIgnoreQuery && len(c.KeyQueryArgs) != 0 {
		v.Addf(join(prefix, "key_query_args"), "cannot be set with key_ignore_query (the query is dropped from the key)")
	}
	list := func(field string, names []string, check func(string) string, fold bool) {
		f := join(prefix, field)
		if len(names) > maxCacheKeyList {
			v.Addf(f, "has %d entries, more than %d", len(names), maxCacheKeyList)
			return
		}
		seen := map[string]int{}
		for i, n := range names {
			key := n
			if fold {
				key = strings.ToLower(n)
			}
			r := check(n)
			switch j, dup := seen[key]; {
			case r != "":
				v.Addf(index(f, i), "%s", r)
			case dup:
				v.Addf(index(f, i), "%q is a duplicate of %s[%d]", n, field, j)
			}
			seen[key] = i
		}
	}
	list("key_query_args", c.KeyQueryArgs, func(k string) string {
		if k == "" || strings.ContainsAny(k, "&=# \t\r\n\x00") {
			return fmt.Sprintf("%q is not a valid query argument name", k)
		}
		return ""
	}, false)
	list("key_headers", c.KeyHeaders, func(n string) string { return validate.Token("header name", n) }, true)
	list("key_cookies", c.KeyCookies, func(n string) string { return validate.Token("cookie name", n) }, false)
	if c.TagHeader != "" {
		v.Add(join(prefix, "tag_header"), validate.Token("header name", c.TagHeader))
	}
}

// checkReferences reports the rules of app that proxy to an upstream that
// does not exist in it. Used after reverts, which restore objects without the
// edit-time checks.
func checkReferences(app *configv1.App) string {
	if msg := checkStreamReferences(app); msg != "" {
		return msg
	}
	names := upstreamNames(app)
	for _, r := range app.Rules {
		for _, a := range r.Actions {
			if p := a.GetProxy(); p != nil {
				for _, w := range p.Upstreams {
					if !names[w.Upstream] {
						return fmt.Sprintf("rule %q proxies to upstream %q, which does not exist", r.Name, w.Upstream)
					}
				}
			}
		}
	}
	seen := map[string]bool{}
	for _, u := range app.Upstreams {
		if seen[u.Name] {
			return fmt.Sprintf("two upstreams are named %q", u.Name)
		}
		seen[u.Name] = true
	}
	seen = map[string]bool{}
	for _, r := range app.Rules {
		if seen[r.Name] {
			return fmt.Sprintf("two rules are named %q", r.Name)
		}
		seen[r.Name] = true
	}
	return ""
}

func upstreamNames(app *configv1.App) map[string]bool {
	names := make(map[string]bool, len(app.Upstreams))
	for _, u := range app.Upstreams {
		names[u.Name] = true
	}
	return names
}

// ruleReferences returns "rule NAME (actions[i].proxy.upstreams[j])" for
// every place a rule of app proxies to upstream name, and the stream
// settings that name it ("stream.upstream", "stream.sni_routes[i] (NAME)").
func ruleReferences(app *configv1.App, name string) []string {
	refs := streamReferences(app, name)
	for _, r := range app.Rules {
		for i, a := range r.Actions {
			if p := a.GetProxy(); p != nil {
				for j, w := range p.Upstreams {
					if w.Upstream == name {
						refs = append(refs, fmt.Sprintf("rule %q (actions[%d].proxy.upstreams[%d])", r.Name, i, j))
					}
				}
			}
		}
	}
	return refs
}
