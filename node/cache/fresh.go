package cache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Policy is a cache rule as the proxy applies it to one route.
type Policy struct {
	// Bypass sends every request to the origin, marked BYPASS.
	Bypass bool
	// TTLByStatus is the lifetime for responses without usable origin
	// freshness headers (or for every response with OverrideOrigin); a status
	// absent from the map is not cached then. Key 0 applies to any status.
	TTLByStatus map[int]time.Duration
	// OverrideOrigin ignores Cache-Control/Expires from the origin.
	OverrideOrigin bool
	// Windows after expiry in which a stale copy is served while a refresh
	// runs in the background, or when the origin fails.
	StaleWhileRevalidate time.Duration
	StaleIfError         time.Duration
	// TagHeader is the response header carrying surrogate keys (default Cache-Tag).
	TagHeader string
	Key       KeySpec
	// MaxObjectSize bounds what is stored (default 64 MiB).
	MaxObjectSize int64
}

const defaultMaxObject = 64 << 20

// freshness is what a response's headers and the policy say about storing it.
type freshness struct {
	store    bool
	ttl      time.Duration
	swr, sie time.Duration
}

func (p *Policy) freshness(status int, h http.Header, now time.Time) freshness {
	f := freshness{swr: p.StaleWhileRevalidate, sie: p.StaleIfError}
	byStatus := func() freshness {
		ttl, ok := p.TTLByStatus[status]
		if !ok {
			ttl, ok = p.TTLByStatus[0]
		}
		f.store, f.ttl = ok && ttl >= 0, ttl
		return f
	}
	if p.OverrideOrigin {
		return byStatus()
	}
	if h.Get("Set-Cookie") != "" {
		return f // a personalised response is never shared
	}
	cc := parseCacheControl(h.Values("Cache-Control"))
	if _, ok := cc["no-store"]; ok {
		return f
	}
	if _, ok := cc["private"]; ok {
		return f
	}
	if v, ok := cc["stale-while-revalidate"]; ok {
		if d, ok := seconds(v); ok {
			f.swr = d
		}
	}
	if v, ok := cc["stale-if-error"]; ok {
		if d, ok := seconds(v); ok {
			f.sie = d
		}
	}
	if _, ok := cc["no-cache"]; ok {
		f.store, f.ttl = true, 0 // stored, but revalidated on every use
		return f
	}
	for _, d := range []string{"s-maxage", "max-age"} {
		if v, ok := cc[d]; ok {
			if ttl, ok := seconds(v); ok {
				f.store, f.ttl = true, ttl
				return f
			}
		}
	}
	if exp := h.Get("Expires"); exp != "" {
		f.store = true
		t, err := http.ParseTime(exp)
		if err != nil {
			return f // an invalid Expires means already expired
		}
		base := now
		if d, err := http.ParseTime(h.Get("Date")); err == nil {
			base = d
		}
		if ttl := t.Sub(base); ttl > 0 {
			f.ttl = ttl
		}
		return f
	}
	return byStatus()
}

func parseCacheControl(values []string) map[string]string {
	if len(values) == 0 {
		return nil
	}
	out := make(map[string]string, 4)
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			name, val, _ := strings.Cut(part, "=")
			out[strings.ToLower(strings.TrimSpace(name))] = strings.Trim(strings.TrimSpace(val), `"`)
		}
	}
	return out
}

func seconds(v string) (time.Duration, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	if n > 1<<31 {
		n = 1 << 31
	}
	return time.Duration(n) * time.Second, true
}

// tagsFrom splits a surrogate-key header (comma or space separated).
func tagsFrom(h http.Header, name string) []string {
	if name == "" {
		name = "Cache-Tag"
	}
	var tags []string
	for _, v := range h.Values(name) {
		tags = append(tags, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })...)
	}
	return tags
}

// varyNames returns the canonical header names of a Vary header; star
// reports "Vary: *" (never cacheable).
func varyNames(h http.Header) (names []string, star bool) {
	for _, v := range h.Values("Vary") {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			switch part {
			case "":
			case "*":
				return nil, true
			default:
				names = append(names, http.CanonicalHeaderKey(part))
			}
		}
	}
	return names, false
}
