package metricsql

import (
	"net/textproto"
	"strconv"
	"strings"
	"unsafe"
)

// kind is a column's type: text or number.
type kind uint8

const (
	kindText kind = iota
	kindNumber
)

func (k kind) String() string {
	if k == kindNumber {
		return "a number"
	}
	return "text"
}

// column is one column of reqs, with its accessors. text columns have str;
// every column has appendText (its value as text, for keys and LIKE); number
// columns have num.
type column struct {
	name     string
	kind     kind
	optional bool // may be empty (text) or 0 (asn): IS NULL applies
	noGroup  string
	str      func(*Request) string
	num      func(*Request) float64
	app      func([]byte, *Request) []byte
}

// evalCtx is an aggregator's scratch space, so that a Query shared by many
// aggregators evaluates without allocating.
type evalCtx struct {
	buf []byte
}

// text returns the column's value as text. For columns that are not
// strings in Request it is formatted into c.buf and returned without a
// copy: the string is only valid until the next call and never kept.
func (col *column) text(r *Request, c *evalCtx) string {
	if col.str != nil {
		return col.str(r)
	}
	c.buf = col.app(c.buf[:0], r)
	if len(c.buf) == 0 {
		return ""
	}
	return unsafe.String(&c.buf[0], len(c.buf))
}

func textColumn(name string, optional bool, f func(*Request) string) *column {
	return &column{name: name, kind: kindText, optional: optional, str: f,
		app: func(b []byte, r *Request) []byte { return append(b, f(r)...) }}
}

func intColumn(name string, optional bool, f func(*Request) int64) *column {
	return &column{name: name, kind: kindNumber, optional: optional,
		num: func(r *Request) float64 { return float64(f(r)) },
		app: func(b []byte, r *Request) []byte { return strconv.AppendInt(b, f(r), 10) }}
}

// columns is the reqs schema, in the order error messages list it.
var columns = []*column{
	{name: "time", kind: kindNumber, noGroup: "each window is one span of time; group by time is not supported",
		num: func(r *Request) float64 { return float64(r.Time.UnixNano()) / 1e9 },
		app: func(b []byte, r *Request) []byte { return strconv.AppendInt(b, r.Time.Unix(), 10) }},
	textColumn("app", false, func(r *Request) string { return r.App }),
	textColumn("host", false, func(r *Request) string { return r.Host }),
	textColumn("path", false, func(r *Request) string { return r.Path }),
	textColumn("method", false, func(r *Request) string { return r.Method }),
	intColumn("status", false, func(r *Request) int64 { return int64(r.Status) }),
	intColumn("bytes_in", false, func(r *Request) int64 { return r.BytesIn }),
	intColumn("bytes_out", false, func(r *Request) int64 { return r.BytesOut }),
	{name: "latency_ms", kind: kindNumber,
		num: func(r *Request) float64 { return r.LatencyMs },
		app: func(b []byte, r *Request) []byte { return strconv.AppendFloat(b, r.LatencyMs, 'f', -1, 64) }},
	textColumn("upstream", true, func(r *Request) string { return r.Upstream }),
	{name: "client_ip", kind: kindText, optional: true,
		app: func(b []byte, r *Request) []byte {
			if !r.ClientIP.IsValid() {
				return b
			}
			return r.ClientIP.AppendTo(b)
		}},
	textColumn("country", true, func(r *Request) string { return r.Country }),
	intColumn("asn", true, func(r *Request) int64 { return int64(r.ASN) }),
	textColumn("cache_status", true, func(r *Request) string { return r.CacheStatus }),
	textColumn("rule", true, func(r *Request) string { return r.Rule }),
}

// aliases name columns by other names: bytes is what is sent, uri is
// nginx's name of the path.
var aliases = map[string]string{"bytes": "bytes_out", "uri": "path"}

var columnsByName = func() map[string]*column {
	m := make(map[string]*column, len(columns))
	for _, c := range columns {
		m[c.name] = c
	}
	for a, c := range aliases {
		m[a] = m[c]
	}
	return m
}()

// columnList is the list an unknown column's error shows.
var columnList = func() string {
	var names []string
	for _, c := range columns {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ") + ", bytes (= bytes_out), uri (= path), http_<header> (e.g. http_user_agent)"
}()

// maxHeaderName bounds an http_<name> column's header name.
const maxHeaderName = 64

// lookupColumn resolves a column name (lower case): a reqs column, an
// alias or a request header as http_<name>.
func lookupColumn(name string) (*column, bool) {
	if c, ok := columnsByName[name]; ok {
		return c, true
	}
	h, ok := strings.CutPrefix(name, "http_")
	if !ok || h == "" || len(h) > maxHeaderName {
		return nil, false
	}
	for _, ch := range h {
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '_') {
			return nil, false
		}
	}
	// Like nginx's $http_user_agent: underscores are dashes.
	header := textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(h, "_", "-"))
	return textColumn(name, true, func(r *Request) string {
		if r.Header == nil {
			return ""
		}
		return r.Header(header)
	}), true
}
