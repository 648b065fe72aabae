package rules

import (
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
)

// FromHTTP adapts a net/http request. The host comes from r.Host (else
// r.URL.Host) without port, brackets or trailing dot, lower-cased; the
// client IP from r.RemoteAddr (a proxy that trusts X-Forwarded-For should
// implement Request itself). Cookies and the query are parsed on first use.
// The result is not safe for concurrent use.
func FromHTTP(r *http.Request) Request {
	host := r.Host
	if host == "" && r.URL != nil {
		host = r.URL.Host
	}
	return &httpRequest{r: r, host: hostWithoutPort(host), ip: remoteIP(r.RemoteAddr)}
}

type httpRequest struct {
	r       *http.Request
	host    string
	ip      netip.Addr
	query   url.Values
	cookies []*http.Cookie
	parsed  bool // cookies parsed
}

func (h *httpRequest) Method() string {
	if h.r.Method == "" {
		return http.MethodGet // net/http's meaning of ""
	}
	return h.r.Method
}

func (h *httpRequest) Host() string { return h.host }

func (h *httpRequest) Path() string {
	if h.r.URL == nil {
		return ""
	}
	return h.r.URL.Path
}

func (h *httpRequest) Header(name string) (string, bool) {
	if strings.EqualFold(name, "Host") { // net/http moves it out of Header
		return h.r.Host, h.r.Host != ""
	}
	// Matchers hold canonical names, so this does not allocate for them.
	vs := h.r.Header[textproto.CanonicalMIMEHeaderKey(name)]
	if len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

func (h *httpRequest) Cookie(name string) (string, bool) {
	if !h.parsed {
		h.cookies, h.parsed = h.r.Cookies(), true
	}
	for _, c := range h.cookies {
		if c.Name == name {
			return c.Value, true
		}
	}
	return "", false
}

func (h *httpRequest) Query(name string) (string, bool) {
	if h.query == nil {
		if h.r.URL == nil {
			return "", false
		}
		h.query = h.r.URL.Query()
	}
	vs := h.query[name]
	if len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

func (h *httpRequest) ClientIP() netip.Addr { return h.ip }

func (h *httpRequest) Scheme() string {
	if h.r.TLS != nil {
		return "https"
	}
	return "http"
}

// Port is the local port the request arrived on (http.LocalAddrContextKey),
// else the port of the Host header, else the scheme's default.
func (h *httpRequest) Port() uint32 {
	if a, ok := h.r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return uint32(ap.Port())
		}
	}
	if _, p, err := net.SplitHostPort(h.r.Host); err == nil {
		if n, err := strconv.ParseUint(p, 10, 16); err == nil {
			return uint32(n)
		}
	}
	if h.r.TLS != nil {
		return 443
	}
	return 80
}

// hostWithoutPort turns "Example.COM.:8080" into "example.com" and
// "[2001:db8::1]:443" into "2001:db8::1".
func hostWithoutPort(h string) string {
	if strings.HasPrefix(h, "[") {
		if end := strings.IndexByte(h, ']'); end > 0 {
			h = h[1:end]
		}
	} else if strings.Count(h, ":") == 1 {
		h = h[:strings.IndexByte(h, ':')]
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

func remoteIP(addr string) netip.Addr {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(addr); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}
