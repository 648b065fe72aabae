package cache

import (
	"net/url"
	"slices"
	"strings"
)

// Request is what the cache needs to know about a client request; the proxy's
// fast (fasthttp) and std (net/http) paths both fill it.
type Request struct {
	Method   string
	Host     string
	Path     string
	RawQuery string
	// Header and Cookie return a request header / cookie value ("" if absent).
	Header func(name string) string
	Cookie func(name string) string
}

func (r *Request) header(name string) string {
	if r.Header == nil {
		return ""
	}
	return r.Header(name)
}

// KeySpec chooses what makes two requests the same cached object.
type KeySpec struct {
	// IgnoreQuery drops the query string; otherwise QueryArgs, when non-empty,
	// lists the only arguments kept, and an empty QueryArgs keeps them all.
	IgnoreQuery bool
	QueryArgs   []string
	Headers     []string // request headers whose values are part of the key
	Cookies     []string // cookies whose values are part of the key
}

// Build returns the cache key for r. Equivalent requests (query arguments in
// another order, host in another case) give the same key; the encoding escapes
// every separator, so requests that differ in a chosen part never collide.
func (s *KeySpec) Build(r *Request) string {
	return string(s.appendKey(make([]byte, 0, len(r.Host)+len(r.Path)+len(r.RawQuery)+8), r))
}

// appendKey appends the key Build returns to b.
func (s *KeySpec) appendKey(b []byte, r *Request) []byte {
	host := r.Host
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 { // rare: fold Unicode like ASCII, as keys always did
			host = strings.ToLower(host)
			break
		}
	}
	b = appendEscaped(b, host, true, true)
	path := r.Path
	if path == "" {
		path = "/"
	}
	b = appendEscaped(b, path, false, false)
	b = append(b, '?')
	if !s.IgnoreQuery && r.RawQuery != "" {
		b = appendQuery(b, r.RawQuery, s.QueryArgs)
	}
	for _, h := range s.Headers {
		b = append(b, "|h:"...)
		b = appendEscaped(b, h, true, true)
		b = append(b, '=')
		b = appendEscaped(b, r.header(h), true, false)
	}
	for _, c := range s.Cookies {
		b = append(b, "|c:"...)
		b = appendEscaped(b, c, true, false)
		b = append(b, '=')
		if r.Cookie != nil {
			b = appendEscaped(b, r.Cookie(c), true, false)
		}
	}
	return b
}

// appendQuery appends raw normalised: decoded pairs (only args when set)
// sorted by name, each escaped.
func appendQuery(b []byte, raw string, args []string) []byte {
	if out, ok := appendPlainQuery(b, raw, args); ok {
		return out
	}
	vals, _ := url.ParseQuery(raw) // keep what parses; a bad pair is dropped
	return appendQueryArgs(b, vals, args)
}

// appendPlainQuery is appendQuery without allocating for the common query:
// at most 16 pairs and no '%', '+' or ';', where url.ParseQuery's decoding
// changes nothing. ok is false for any other query.
func appendPlainQuery(b []byte, raw string, args []string) (out []byte, ok bool) {
	if strings.ContainsAny(raw, "%+;") {
		return b, false
	}
	type pair struct{ name, value string }
	var buf [16]pair
	ps := buf[:0]
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		if len(args) > 0 && !slices.Contains(args, name) {
			continue
		}
		if len(ps) == len(buf) {
			return b, false
		}
		ps = append(ps, pair{name, value})
	}
	for i := 1; i < len(ps); i++ { // insertion sort: stable, values keep their order
		for j := i; j > 0 && ps[j].name < ps[j-1].name; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
	for i, p := range ps {
		if i > 0 {
			b = append(b, '&')
		}
		b = appendEscaped(b, p.name, true, false)
		b = append(b, '=')
		b = appendEscaped(b, p.value, true, false)
	}
	return b, true
}

// keyQuery is the query part of the key spec s builds from parsed query
// values: what a purge by URL compares.
func keyQuery(vals url.Values, ignore bool, args []string) string {
	if ignore || len(vals) == 0 {
		return ""
	}
	return string(appendQueryArgs(nil, vals, args))
}

// appendQueryArgs appends vals sorted by name, keeping only args (all when empty).
func appendQueryArgs(b []byte, vals url.Values, args []string) []byte {
	names := make([]string, 0, len(vals))
	for n := range vals {
		if len(args) == 0 || slices.Contains(args, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	first := true
	for _, n := range names {
		for _, v := range vals[n] {
			if !first {
				b = append(b, '&')
			}
			first = false
			b = appendEscaped(b, n, true, false)
			b = append(b, '=')
			b = appendEscaped(b, v, true, false)
		}
	}
	return b
}

// appendEscaped appends s with the key's separators, '%', control and
// non-ASCII bytes percent-encoded; strict also encodes '/' (used for the
// host and query parts); lower folds ASCII letters to lower case.
func appendEscaped(b []byte, s string, strict, lower bool) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c <= ' ' || c >= 0x7f || c == '%' || c == '?' || c == '|' || c == '&' || c == '=' || c == '#' ||
			(strict && c == '/'):
			b = append(b, '%', hex[c>>4], hex[c&15])
		case lower && 'A' <= c && c <= 'Z':
			b = append(b, c+('a'-'A'))
		default:
			b = append(b, c)
		}
	}
	return b
}

// varyKey appends the values of the request headers a response varies on.
func varyKey(primary string, names []string, r *Request) string {
	if len(names) == 0 {
		return primary
	}
	return string(appendVary([]byte(primary), names, r))
}

func appendVary(b []byte, names []string, r *Request) []byte {
	for _, n := range names {
		b = append(b, "|v:"...)
		b = appendEscaped(b, n, true, false)
		b = append(b, '=')
		b = appendEscaped(b, r.header(n), true, false)
	}
	return b
}
