package proxy

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/strata-edge/strata/node/proxy/route"
)

// stdView is the route.Request view over a net/http request (the TLS
// listener and the net/http engine). It reads the request as received.
type stdView struct {
	r       *http.Request
	tls     bool
	port    uint32 // the listener's routing port, set before routing
	host    string
	path    string
	ip      netip.Addr
	query   url.Values
	queried bool
}

var _ route.Request = (*stdView)(nil)

func newStdView(r *http.Request, tls bool) *stdView {
	v := &stdView{r: r, tls: tls}
	h, _ := normalizeHost([]byte(r.Host), nil)
	v.host = strings.Clone(h)
	v.path = cleanPath(r.URL.Path)
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		v.ip = ap.Addr().Unmap()
	}
	return v
}

func (v *stdView) Method() string {
	if v.r.Method == "" {
		return http.MethodGet
	}
	return v.r.Method
}

func (v *stdView) Host() string         { return v.host }
func (v *stdView) Path() string         { return v.path }
func (v *stdView) ClientIP() netip.Addr { return v.ip }
func (v *stdView) Port() uint32         { return v.port }

func (v *stdView) RequestURI() string {
	if v.r.RequestURI != "" {
		return v.r.RequestURI
	}
	return v.r.URL.RequestURI()
}

func (v *stdView) Scheme() string {
	if v.tls {
		return "https"
	}
	return "http"
}

func (v *stdView) Header(name string) (string, bool) {
	if strings.EqualFold(name, "Host") {
		return v.r.Host, v.r.Host != ""
	}
	vals := v.r.Header.Values(name)
	if len(vals) == 0 {
		return "", false
	}
	return vals[0], true
}

func (v *stdView) Cookie(name string) (string, bool) {
	c, err := v.r.Cookie(name)
	if err != nil {
		return "", false
	}
	return c.Value, true
}

func (v *stdView) Query(name string) (string, bool) {
	if !v.queried {
		v.queried = true
		v.query = v.r.URL.Query()
	}
	vals, ok := v.query[name]
	if !ok || len(vals) == 0 {
		return "", false
	}
	return vals[0], true
}

// cleanPath gives net/http paths the normalization fasthttp applies to
// Path(): duplicate slashes collapsed, "." and ".." segments resolved, a
// trailing slash kept. Rules see the same path on both listeners.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] == '/' && !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return p
	}
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for _, s := range segs {
		switch s {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	res := "/" + strings.Join(out, "/")
	last := segs[len(segs)-1]
	if (last == "" || last == "." || last == "..") && res != "/" {
		res += "/"
	}
	return res
}

// stdReqEditor edits the outgoing request (actions.RequestEditor).
type stdReqEditor struct{ out *http.Request }

func (e stdReqEditor) SetHeader(name, value string) {
	if strings.EqualFold(name, "Host") {
		e.out.Host = value
		return
	}
	e.out.Header.Set(name, value)
}

func (e stdReqEditor) AddHeader(name, value string) {
	if strings.EqualFold(name, "Host") {
		e.out.Host = value
		return
	}
	e.out.Header.Add(name, value)
}

func (e stdReqEditor) DelHeader(name string) { e.out.Header.Del(name) }

func (e stdReqEditor) Path() string { return cleanPath(e.out.URL.Path) }

func (e stdReqEditor) SetPath(p string) {
	e.out.URL.Path = p
	e.out.URL.RawPath = ""
}

func (e stdReqEditor) SetQueryArg(name, value string) {
	q := e.out.URL.Query()
	q.Set(name, value)
	e.out.URL.RawQuery = q.Encode()
}

func (e stdReqEditor) DelQueryArg(name string) {
	q := e.out.URL.Query()
	if _, ok := q[name]; !ok {
		return
	}
	q.Del(name)
	e.out.URL.RawQuery = q.Encode()
}

// stdHeaderEditor edits response headers (actions.HeaderEditor).
type stdHeaderEditor http.Header

func (e stdHeaderEditor) SetHeader(name, value string) { http.Header(e).Set(name, value) }
func (e stdHeaderEditor) AddHeader(name, value string) { http.Header(e).Add(name, value) }
func (e stdHeaderEditor) DelHeader(name string)        { http.Header(e).Del(name) }
