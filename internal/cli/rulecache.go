package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// cacheFlags describe a rule's cache action (--cache-*).
type cacheFlags struct {
	ttl, swr, sie    time.Duration
	bypass, override bool
	ignoreQuery      bool
	keyQuery         []string
	keyHeaders       []string
	keyCookies       []string
	tagHeader        string
}

var cacheFlagNames = []string{"cache-ttl", "cache-bypass", "cache-override-origin", "cache-key-query", "cache-key-ignore-query",
	"cache-key-header", "cache-key-cookie", "cache-stale-while-revalidate", "cache-stale-if-error", "cache-tag-header"}

func (c *cacheFlags) register(fs *pflag.FlagSet) {
	fs.DurationVar(&c.ttl, "cache-ttl", 0, "cache responses for this long when the origin does not say (e.g. 60s, 1h)")
	fs.BoolVar(&c.bypass, "cache-bypass", false, "never cache the matched requests")
	fs.BoolVar(&c.override, "cache-override-origin", false, "ignore the origin's Cache-Control/Expires; --cache-ttl decides")
	fs.StringSliceVar(&c.keyQuery, "cache-key-query", nil, "query arguments that are part of the cache key, comma-separated (default: the whole query)")
	fs.BoolVar(&c.ignoreQuery, "cache-key-ignore-query", false, "leave the query out of the cache key")
	fs.StringSliceVar(&c.keyHeaders, "cache-key-header", nil, "request headers that are part of the cache key, comma-separated")
	fs.StringSliceVar(&c.keyCookies, "cache-key-cookie", nil, "cookies that are part of the cache key, comma-separated")
	fs.DurationVar(&c.swr, "cache-stale-while-revalidate", 0, "serve a stale copy this long after expiry while refreshing")
	fs.DurationVar(&c.sie, "cache-stale-if-error", 0, "serve a stale copy this long after expiry when the origin fails")
	fs.StringVar(&c.tagHeader, "cache-tag-header", "", "response header with surrogate keys for purge by tag (default Cache-Tag)")
}

// action returns the cache action the flags describe, nil when none is given.
func (c *cacheFlags) action(fs *pflag.FlagSet) (*configv1.CacheAction, error) {
	given := false
	for _, n := range cacheFlagNames {
		given = given || fs.Changed(n)
	}
	if !given {
		return nil, nil
	}
	seconds := func(flag string, d time.Duration) (uint32, error) {
		if d < 0 || d%time.Second != 0 || d > 366*24*time.Hour {
			return 0, usagef("--%s %s: want whole seconds from 0 to 366 days", flag, d)
		}
		return uint32(d / time.Second), nil
	}
	a := &configv1.CacheAction{Bypass: c.bypass, OverrideOrigin: c.override, KeyIgnoreQuery: c.ignoreQuery,
		KeyQueryArgs: c.keyQuery, KeyHeaders: c.keyHeaders, KeyCookies: c.keyCookies, TagHeader: c.tagHeader}
	var err error
	if a.TtlS, err = seconds("cache-ttl", c.ttl); err != nil {
		return nil, err
	}
	if a.StaleWhileRevalidateS, err = seconds("cache-stale-while-revalidate", c.swr); err != nil {
		return nil, err
	}
	if a.StaleIfErrorS, err = seconds("cache-stale-if-error", c.sie); err != nil {
		return nil, err
	}
	return a, nil
}

func describeCache(c *configv1.CacheAction) string {
	if c.GetBypass() {
		return "cache bypass"
	}
	parts := []string{"cache"}
	if c.GetTtlS() > 0 {
		parts = append(parts, fmt.Sprintf("ttl %s", time.Duration(c.GetTtlS())*time.Second))
	}
	if c.GetOverrideOrigin() {
		parts = append(parts, "override origin")
	}
	if c.GetKeyIgnoreQuery() {
		parts = append(parts, "key without query")
	} else if len(c.GetKeyQueryArgs()) > 0 {
		parts = append(parts, "key query "+strings.Join(c.GetKeyQueryArgs(), ","))
	}
	if len(c.GetKeyHeaders()) > 0 {
		parts = append(parts, "key headers "+strings.Join(c.GetKeyHeaders(), ","))
	}
	if len(c.GetKeyCookies()) > 0 {
		parts = append(parts, "key cookies "+strings.Join(c.GetKeyCookies(), ","))
	}
	if t := c.GetTagHeader(); t != "" {
		parts = append(parts, "tags "+t)
	}
	return strings.Join(parts, " ")
}
