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
	var b strings.Builder
	b.Grow(len(r.Host) + len(r.Path) + len(r.RawQuery) + 8)
	escapeTo(&b, strings.ToLower(r.Host), true)
	path := r.Path
	if path == "" {
		path = "/"
	}
	escapeTo(&b, path, false)
	b.WriteByte('?')
	if !s.IgnoreQuery && r.RawQuery != "" {
		s.writeQuery(&b, r.RawQuery)
	}
	for _, h := range s.Headers {
		b.WriteString("|h:")
		escapeTo(&b, strings.ToLower(h), true)
		b.WriteByte('=')
		escapeTo(&b, r.header(h), true)
	}
	for _, c := range s.Cookies {
		b.WriteString("|c:")
		escapeTo(&b, c, true)
		b.WriteByte('=')
		if r.Cookie != nil {
			escapeTo(&b, r.Cookie(c), true)
		}
	}
	return b.String()
}

func (s *KeySpec) writeQuery(b *strings.Builder, raw string) {
	vals, _ := url.ParseQuery(raw) // keep what parses; a bad pair is dropped
	writeQueryArgs(b, vals, s.QueryArgs)
}

// keyQuery is the query part of the key spec s builds from parsed query
// values: what a purge by URL compares.
func keyQuery(vals url.Values, ignore bool, args []string) string {
	if ignore || len(vals) == 0 {
		return ""
	}
	var b strings.Builder
	writeQueryArgs(&b, vals, args)
	return b.String()
}

// writeQueryArgs writes vals sorted by name, keeping only args (all when empty).
func writeQueryArgs(b *strings.Builder, vals url.Values, args []string) {
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
				b.WriteByte('&')
			}
			first = false
			escapeTo(b, n, true)
			b.WriteByte('=')
			escapeTo(b, v, true)
		}
	}
}

// escapeTo percent-encodes the key's separators, '%', control and non-ASCII
// bytes; strict also encodes '/' (used for the host and query parts).
func escapeTo(b *strings.Builder, s string, strict bool) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c <= ' ' || c >= 0x7f || c == '%' || c == '?' || c == '|' || c == '&' || c == '=' || c == '#' ||
			(strict && c == '/'):
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
}

// varyKey appends the values of the request headers a response varies on.
func varyKey(primary string, names []string, r *Request) string {
	if len(names) == 0 {
		return primary
	}
	var b strings.Builder
	b.WriteString(primary)
	for _, n := range names {
		b.WriteString("|v:")
		escapeTo(&b, n, true)
		b.WriteByte('=')
		escapeTo(&b, r.header(n), true)
	}
	return b.String()
}
