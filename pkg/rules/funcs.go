package rules

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"net/textproto"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/strata-edge/strata/pkg/domainname"
	"github.com/strata-edge/strata/pkg/validate"
)

// arg is one decoded argument and where it starts in the expression.
type arg struct {
	val string
	off int
}

// condition is one compiled function call.
type condition interface {
	match(r Request) bool
}

type funcSpec struct {
	minArgs, maxArgs int // maxArgs < 0: no upper bound
	// build validates args and returns the condition and the canonical
	// arguments String() prints.
	build func(fn string, args []arg) (condition, []string, *Error)
}

var funcs = map[string]funcSpec{
	"Host":         {1, -1, buildHost},
	"HostRegexp":   {1, 1, buildHostRegexp},
	"Path":         {1, -1, buildPath},
	"PathPrefix":   {1, -1, buildPath},
	"PathRegexp":   {1, 1, buildPathRegexp},
	"Method":       {1, -1, buildMethod},
	"Header":       {1, 2, buildKV},
	"HeaderRegexp": {2, 2, buildKV},
	"Cookie":       {1, 2, buildKV},
	"Query":        {1, 2, buildKV},
	"QueryRegexp":  {2, 2, buildKV},
	"ClientIP":     {1, -1, buildClientIP},
	"Scheme":       {1, 2, buildScheme},
	"Port":         {1, -1, buildPort},
}

// funcNames is sorted, for error messages.
var funcNames = slices.Sorted(maps.Keys(funcs))

// knownMethods are the methods Method accepts.
var knownMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

// Host

type hostCond struct {
	exact    []string
	suffixes []string // ".example.com" for "*.example.com"
	ips      []netip.Addr
}

func (c *hostCond) match(r Request) bool {
	h := r.Host()
	if len(c.ips) > 0 && looksLikeIP(h) {
		if a, err := netip.ParseAddr(h); err == nil {
			return slices.Contains(c.ips, a.WithZone(""))
		}
	}
	for _, e := range c.exact {
		if strings.EqualFold(h, e) {
			return true
		}
	}
	for _, s := range c.suffixes {
		if len(h) > len(s) && strings.EqualFold(h[len(h)-len(s):], s) {
			return true
		}
	}
	return false
}

func buildHost(fn string, args []arg) (condition, []string, *Error) {
	c := &hostCond{}
	var canon []string
	for _, a := range args {
		ip := strings.TrimSuffix(strings.TrimPrefix(a.val, "["), "]")
		if addr, err := netip.ParseAddr(ip); err == nil && addr.Zone() == "" {
			c.ips = append(c.ips, addr)
			canon = append(canon, formatIP(addr))
			continue
		}
		h, err := normalizeHost(a.val)
		if err != "" {
			return nil, nil, &Error{a.off, fmt.Sprintf("%s: invalid host %q: %s", fn, a.val, err)}
		}
		canon = append(canon, h)
		if domainname.IsWildcard(h) {
			c.suffixes = append(c.suffixes, h[1:])
		} else {
			c.exact = append(c.exact, h)
		}
	}
	return c, canon, nil
}

// looksLikeIP reports whether a request host may be an IP literal: IPv6 has
// a colon, IPv4 ends in a digit (a valid domain's last label never is all
// digits). It keeps ParseAddr, whose errors allocate, off host names.
func looksLikeIP(h string) bool {
	return h != "" && (strings.IndexByte(h, ':') >= 0 || '0' <= h[len(h)-1] && h[len(h)-1] <= '9')
}

// normalizeHost returns the canonical form of a Host argument that is not an
// IP address (a host name or a wildcard), or why it is invalid.
func normalizeHost(h string) (string, string) {
	if strings.Contains(h, "%") {
		return "", "IPv6 zones are not allowed"
	}
	if _, err := netip.ParseAddrPort(h); err == nil {
		return "", "has a port; Host matches the name only (the request's port is ignored)"
	}
	n, err := domainname.NormalizeHostname(h)
	if err != nil {
		var de *domainname.Error
		if errors.As(err, &de) {
			return "", de.Reason
		}
		return "", err.Error()
	}
	return n, ""
}

// Regexps

type hostRegexpCond struct{ re *regexp.Regexp }

func (c *hostRegexpCond) match(r Request) bool { return c.re.MatchString(r.Host()) }

func buildHostRegexp(fn string, args []arg) (condition, []string, *Error) {
	re, err := compileRegexp(fn, args[0])
	if err != nil {
		return nil, nil, err
	}
	return &hostRegexpCond{re}, []string{args[0].val}, nil
}

type pathRegexpCond struct{ re *regexp.Regexp }

func (c *pathRegexpCond) match(r Request) bool { return c.re.MatchString(r.Path()) }

func buildPathRegexp(fn string, args []arg) (condition, []string, *Error) {
	re, err := compileRegexp(fn, args[0])
	if err != nil {
		return nil, nil, err
	}
	return &pathRegexpCond{re}, []string{args[0].val}, nil
}

// compileRegexp compiles a as a bounded RE2 regexp (validate.Regexp).
func compileRegexp(fn string, a arg) (*regexp.Regexp, *Error) {
	re, err := validate.Regexp(a.val)
	if err != nil {
		return nil, &Error{a.off, fn + ": " + err.Error()}
	}
	return re, nil
}

// Path, PathPrefix

type pathCond struct {
	paths  []string
	prefix bool
}

func (c *pathCond) match(r Request) bool {
	p := r.Path()
	for _, want := range c.paths {
		if p == want || c.prefix && strings.HasPrefix(p, want) {
			return true
		}
	}
	return false
}

func buildPath(fn string, args []arg) (condition, []string, *Error) {
	c := &pathCond{prefix: fn == "PathPrefix"}
	for _, a := range args {
		if !strings.HasPrefix(a.val, "/") {
			return nil, nil, &Error{a.off, fmt.Sprintf("%s: path %q must start with \"/\"", fn, a.val)}
		}
		c.paths = append(c.paths, a.val)
	}
	return c, c.paths, nil
}

// Method

type methodCond struct{ methods []string }

func (c *methodCond) match(r Request) bool {
	m := r.Method()
	for _, want := range c.methods {
		if strings.EqualFold(m, want) {
			return true
		}
	}
	return false
}

func buildMethod(fn string, args []arg) (condition, []string, *Error) {
	c := &methodCond{}
	for _, a := range args {
		m := upperASCII(a.val)
		if !slices.Contains(knownMethods, m) {
			return nil, nil, &Error{a.off, fmt.Sprintf("%s: unknown method %q (known: %s)", fn, a.val, strings.Join(knownMethods, ", "))}
		}
		c.methods = append(c.methods, m)
	}
	return c, c.methods, nil
}

// Scheme

type schemeCond struct{ http, https bool }

func (c *schemeCond) match(r Request) bool {
	if r.Scheme() == "https" {
		return c.https
	}
	return c.http
}

func buildScheme(fn string, args []arg) (condition, []string, *Error) {
	c := &schemeCond{}
	var canon []string
	for _, a := range args {
		sc := strings.ToLower(a.val)
		switch {
		case sc == "http" && !c.http:
			c.http = true
		case sc == "https" && !c.https:
			c.https = true
		case sc == "http" || sc == "https":
			return nil, nil, &Error{a.off, fmt.Sprintf("%s: %q is given twice", fn, a.val)}
		default:
			return nil, nil, &Error{a.off, fmt.Sprintf("%s: unknown scheme %q (want http or https)", fn, a.val)}
		}
		canon = append(canon, sc)
	}
	return c, canon, nil
}

// Port

type portCond struct{ ports []uint32 }

func (c *portCond) match(r Request) bool { return slices.Contains(c.ports, r.Port()) }

func buildPort(fn string, args []arg) (condition, []string, *Error) {
	c := &portCond{}
	var canon []string
	for _, a := range args {
		n, err := strconv.ParseUint(a.val, 10, 16)
		if err != nil || n == 0 || a.val[0] == '0' {
			return nil, nil, &Error{a.off, fmt.Sprintf("%s: invalid port %q (want a number 1-65535)", fn, a.val)}
		}
		c.ports = append(c.ports, uint32(n))
		canon = append(canon, a.val)
	}
	return c, canon, nil
}

// Header, HeaderRegexp, Cookie, Query, QueryRegexp

type source int

const (
	fromHeader source = iota
	fromCookie
	fromQuery
)

type kvCond struct {
	from     source
	name     string
	value    string
	hasValue bool
	re       *regexp.Regexp
}

func (c *kvCond) match(r Request) bool {
	var v string
	var ok bool
	switch c.from {
	case fromHeader:
		v, ok = r.Header(c.name)
	case fromCookie:
		v, ok = r.Cookie(c.name)
	default:
		v, ok = r.Query(c.name)
	}
	switch {
	case !ok:
		return false
	case c.re != nil:
		return c.re.MatchString(v)
	case c.hasValue:
		return v == c.value
	}
	return true
}

func buildKV(fn string, args []arg) (condition, []string, *Error) {
	c := &kvCond{name: args[0].val}
	switch fn {
	case "Header", "HeaderRegexp":
		if err := checkToken(fn, "header name", args[0]); err != nil {
			return nil, nil, err
		}
		c.from, c.name = fromHeader, textproto.CanonicalMIMEHeaderKey(c.name)
	case "Cookie":
		if err := checkToken(fn, "cookie name", args[0]); err != nil {
			return nil, nil, err
		}
		c.from = fromCookie
	default:
		if c.name == "" {
			return nil, nil, &Error{args[0].off, fmt.Sprintf("%s: query parameter name is empty", fn)}
		}
		c.from = fromQuery
	}
	canon := []string{c.name}
	if len(args) == 2 {
		canon = append(canon, args[1].val)
		if strings.HasSuffix(fn, "Regexp") {
			re, err := compileRegexp(fn, args[1])
			if err != nil {
				return nil, nil, err
			}
			c.re = re
		} else {
			c.value, c.hasValue = args[1].val, true
		}
	}
	return c, canon, nil
}

// checkToken checks that a is an HTTP token, as header and cookie names must
// be.
func checkToken(fn, what string, a arg) *Error {
	if r := validate.Token(what, a.val); r != "" {
		return &Error{a.off, fn + ": " + r}
	}
	return nil
}

// ClientIP

type clientIPCond struct{ prefixes []netip.Prefix }

func (c *clientIPCond) match(r Request) bool {
	ip := r.ClientIP().Unmap().WithZone("")
	for _, p := range c.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func buildClientIP(fn string, args []arg) (condition, []string, *Error) {
	c := &clientIPCond{}
	var canon []string
	for _, a := range args {
		p, single, err := parseIPOrCIDR(a.val)
		if err != "" {
			return nil, nil, &Error{a.off, fmt.Sprintf("%s: %s", fn, err)}
		}
		c.prefixes = append(c.prefixes, p)
		if single {
			canon = append(canon, formatIP(p.Addr()))
		} else {
			canon = append(canon, fmt.Sprintf("%s/%d", formatIP(p.Addr()), p.Bits()))
		}
	}
	return c, canon, nil
}

// parseIPOrCIDR parses "192.0.2.1", "2001:db8::/32", ... into a masked
// prefix with IPv4-mapped addresses unmapped; single reports a bare address.
func parseIPOrCIDR(s string) (p netip.Prefix, single bool, reason string) {
	if !strings.Contains(s, "/") {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return p, false, fmt.Sprintf("invalid IP address %q (want an IPv4 or IPv6 address or a CIDR like 10.0.0.0/8)", s)
		}
		if addr.Zone() != "" {
			return p, false, fmt.Sprintf("invalid IP address %q: IPv6 zones are not allowed", s)
		}
		addr = addr.Unmap()
		return netip.PrefixFrom(addr, addr.BitLen()), true, ""
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, false, fmt.Sprintf("invalid CIDR %q (want an address and a prefix length like 10.0.0.0/8 or 2001:db8::/32)", s)
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), false, ""
}

// formatIP writes addr in its shortest form: IPv4 as dotted quad, IPv6 with
// the longest run of zero groups (even a single one) written "::". Unlike
// RFC 5952 it compresses single groups, so that the canonical form of a rule
// is never longer than the rule as written.
func formatIP(addr netip.Addr) string {
	if addr.Is4() {
		return addr.String()
	}
	b := addr.As16()
	var groups [8]uint16
	for i := range groups {
		groups[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	bestStart, bestLen := -1, 0
	for i := 0; i < 8; {
		if groups[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && groups[j] == 0 {
			j++
		}
		if j-i > bestLen {
			bestStart, bestLen = i, j-i
		}
		i = j
	}
	var sb strings.Builder
	for i := 0; i < 8; i++ {
		if i == bestStart {
			sb.WriteString("::")
			i += bestLen - 1
			continue
		}
		if i > 0 && i != bestStart+bestLen {
			sb.WriteByte(':')
		}
		fmt.Fprintf(&sb, "%x", groups[i])
	}
	return sb.String()
}

// upperASCII upper-cases ASCII letters only, so "POſT" is not taken for POST.
func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
