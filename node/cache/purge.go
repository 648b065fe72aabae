package cache

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/strata-edge/strata/pkg/validate"
)

// PurgeKind names what a purge selects.
type PurgeKind int

const (
	PurgeURL       PurgeKind = iota + 1 // exact URL (host, path and query)
	PurgePrefix                         // host + path prefix
	PurgeHost                           // everything of a host
	PurgeTag                            // surrogate key
	PurgeCondition                      // host + path regex + response header
)

// Purge is one purge request. Values are URLs ("https://host/path?q" or
// "host/path?q") for PurgeURL, "host/prefix" for PurgePrefix, host names for
// PurgeHost and tags for PurgeTag. Soft purges mark objects stale so the next
// request revalidates them instead of deleting them.
type Purge struct {
	Kind      PurgeKind
	Values    []string
	Soft      bool
	Condition *Condition
}

// Condition selects objects of one host whose path matches PathRegex (empty:
// any) and, when Header is set, whose response has that header (equal to
// HeaderValue when it is set, case-insensitively).
type Condition struct {
	Host        string
	PathRegex   string
	Header      string
	HeaderValue string
}

// splitURL reads "https://host/path?q" or "host/path?q".
func splitURL(v string) (host, path, query string, err error) {
	if !strings.Contains(v, "://") {
		v = "http://" + v
	}
	u, err := url.Parse(v)
	if err != nil {
		return "", "", "", err
	}
	if u.Host == "" {
		return "", "", "", errors.New("no host")
	}
	path = u.Path
	if path == "" {
		path = "/"
	}
	return u.Hostname(), path, u.RawQuery, nil
}

// Purge applies p and returns how many objects it deleted or marked stale.
func (c *Cache) Purge(p Purge) (int, error) {
	var keys []string
	switch p.Kind {
	case PurgeURL, PurgePrefix:
		for _, v := range p.Values {
			host, path, q, err := splitURL(v)
			if err != nil {
				return 0, fmt.Errorf("purge value %q: %w", v, err)
			}
			if p.Kind == PurgeURL {
				keys = append(keys, c.idx.url(host, path, q)...)
			} else {
				keys = append(keys, c.idx.prefix(host, path)...)
			}
		}
	case PurgeHost:
		for _, v := range p.Values {
			keys = append(keys, c.idx.host(v)...)
		}
	case PurgeTag:
		for _, v := range p.Values {
			keys = append(keys, c.idx.tag(v)...)
		}
	case PurgeCondition:
		cond := p.Condition
		if cond == nil || cond.Host == "" {
			return 0, errors.New("purge condition: host is required")
		}
		re, err := validate.Regexp(cond.PathRegex)
		if err != nil {
			return 0, fmt.Errorf("purge condition path_regex: %w", err)
		}
		for _, k := range c.idx.host(cond.Host) {
			obj, ok := c.store.Get(k)
			if !ok || !re.MatchString(obj.Meta.Path) {
				continue
			}
			if cond.Header != "" {
				hv := obj.Meta.Header.Get(cond.Header)
				if hv == "" || (cond.HeaderValue != "" && !strings.EqualFold(hv, cond.HeaderValue)) {
					continue
				}
			}
			keys = append(keys, k)
		}
	default:
		return 0, fmt.Errorf("purge kind %d unknown", p.Kind)
	}
	n := 0
	for _, k := range keys {
		if p.Soft {
			if c.markStale(k) {
				n++
			}
			continue
		}
		if c.store.Delete(k) {
			n++
		}
		c.idx.remove(k)
	}
	c.counts.purges.Add(1)
	c.counts.purged.Add(uint64(n))
	return n, nil
}

func (c *Cache) markStale(key string) bool {
	obj, ok := c.store.Get(key)
	if !ok {
		return false
	}
	if obj.Meta.SoftPurged {
		return true
	}
	cp := &Object{Meta: obj.Meta, Body: obj.Body}
	cp.Meta.SoftPurged = true
	if err := c.store.Put(cp); err != nil {
		c.store.Delete(key)
		c.idx.remove(key)
	}
	return true
}
