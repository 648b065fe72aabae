package route

import (
	"slices"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node/cache"
)

// defaultCacheable are the statuses a plain ttl_s applies to: those RFC
// 9110 (15.1) calls heuristically cacheable, so an error page is never kept
// for a TTL meant for content.
var defaultCacheable = []int{200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501}

// CachePolicy turns a rule's cache action into the node cache's policy.
func CachePolicy(c *configv1.CacheAction) *cache.Policy {
	p := &cache.Policy{
		Bypass:               c.GetBypass(),
		OverrideOrigin:       c.GetOverrideOrigin(),
		StaleWhileRevalidate: time.Duration(c.GetStaleWhileRevalidateS()) * time.Second,
		StaleIfError:         time.Duration(c.GetStaleIfErrorS()) * time.Second,
		TagHeader:            c.GetTagHeader(),
		Key: cache.KeySpec{
			IgnoreQuery: c.GetKeyIgnoreQuery(),
			QueryArgs:   c.GetKeyQueryArgs(),
			Headers:     c.GetKeyHeaders(),
			Cookies:     c.GetKeyCookies(),
		},
	}
	if c.GetTtlS() > 0 || len(c.GetTtlByStatusS()) > 0 {
		p.TTLByStatus = map[int]time.Duration{}
		if ttl := time.Duration(c.GetTtlS()) * time.Second; ttl > 0 {
			for _, s := range defaultCacheable {
				p.TTLByStatus[s] = ttl
			}
		}
		for s, ttl := range c.GetTtlByStatusS() {
			p.TTLByStatus[int(s)] = time.Duration(ttl) * time.Second
		}
	}
	return p
}

// Detach returns a copy of p that shares no memory with the reusable plan
// it came from, for work that outlives the request (cache revalidation).
func (p *Plan) Detach() *Plan {
	c := *p
	c.more = slices.Clone(p.more)
	return &c
}
