package config

import (
	"fmt"
	"strings"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/validate"
)

// Limits of a rate limit action (the node's node/ratelimit.Compile agrees).
const (
	maxRateLimitKeys    = 8
	maxRateLimitPeriod  = 31 * 24 * 3600 // seconds
	maxRateLimitBurst   = 1_000_000
	maxRateLimitDelayMs = 30_000
	maxRateLimitKeyName = 128
)

// checkRateLimit validates a rule's rate limit action, each violation
// naming rule.actions[i].rate_limit.<field>.
func checkRateLimit(v *apierr.Fields, prefix string, r *configv1.RateLimitAction) {
	v.Add(join(prefix, "name"), validate.Name(r.Name))
	if r.Requests == 0 {
		v.Addf(join(prefix, "requests"), "must be > 0")
	}
	if r.PeriodSeconds > maxRateLimitPeriod {
		v.Addf(join(prefix, "period_seconds"), "%d s is more than %d s (31 days)", r.PeriodSeconds, maxRateLimitPeriod)
	}
	if _, ok := configv1.RateLimitAlgorithm_name[int32(r.Algorithm)]; !ok {
		v.Addf(join(prefix, "algorithm"), "unknown value %d", r.Algorithm)
	}
	if _, ok := configv1.RateLimitExceed_name[int32(r.OnExceed)]; !ok {
		v.Addf(join(prefix, "on_exceed"), "unknown value %d", r.OnExceed)
	}
	if _, ok := configv1.RateLimitScope_name[int32(r.Scope)]; !ok {
		v.Addf(join(prefix, "scope"), "unknown value %d", r.Scope)
	}
	bucket := r.Algorithm == configv1.RateLimitAlgorithm_RATE_LIMIT_ALGORITHM_UNSPECIFIED ||
		r.Algorithm == configv1.RateLimitAlgorithm_RATE_LIMIT_ALGORITHM_TOKEN_BUCKET
	delay := r.OnExceed == configv1.RateLimitExceed_RATE_LIMIT_EXCEED_DELAY
	switch {
	case r.Burst > 0 && !bucket:
		v.Addf(join(prefix, "burst"), "only the token bucket algorithm has a burst")
	case r.Burst > maxRateLimitBurst:
		v.Addf(join(prefix, "burst"), "%d is more than %d", r.Burst, maxRateLimitBurst)
	}
	switch {
	case r.Nodelay > 0 && !delay:
		v.Addf(join(prefix, "nodelay"), "only with on_exceed DELAY (with REJECT the whole burst passes at once)")
	case r.Nodelay > r.Burst:
		v.Addf(join(prefix, "nodelay"), "%d is more than burst %d", r.Nodelay, r.Burst)
	}
	if delay && !bucket {
		v.Addf(join(prefix, "on_exceed"), "DELAY needs the token bucket algorithm")
	}
	switch {
	case r.DelayMaxMs > 0 && !delay:
		v.Addf(join(prefix, "delay_max_ms"), "only with on_exceed DELAY")
	case r.DelayMaxMs > maxRateLimitDelayMs:
		v.Addf(join(prefix, "delay_max_ms"), "%d is more than %d", r.DelayMaxMs, maxRateLimitDelayMs)
	}
	if s := r.Status; s != 0 && (s < 400 || s > 599) {
		v.Addf(join(prefix, "status"), "%d is not a 4xx or 5xx status", s)
	}
	keys := join(prefix, "keys")
	if len(r.Keys) > maxRateLimitKeys {
		v.Addf(keys, "has %d parts, more than %d", len(r.Keys), maxRateLimitKeys)
		return
	}
	seen := map[string]int{}
	for i, k := range r.Keys {
		f := index(keys, i)
		var id string
		named := func(field, what, name string, fold bool) {
			ff := join(f, field)
			switch {
			case len(name) > maxRateLimitKeyName:
				v.Addf(ff, "is %d bytes long, more than %d", len(name), maxRateLimitKeyName)
			case what == "":
				if name == "" || strings.ContainsAny(name, "&=# \t\r\n\x00") {
					v.Addf(ff, "%q is not a valid query argument name", name)
				}
			default:
				v.Add(ff, validate.Token(what, name))
			}
			if fold {
				name = strings.ToLower(name)
			}
			id = field + ":" + name
		}
		switch x := k.GetKey().(type) {
		case *configv1.RateLimitKey_ClientIp:
			if !x.ClientIp {
				v.Addf(join(f, "client_ip"), "must be true when set")
			}
			id = "client_ip"
		case *configv1.RateLimitKey_Path:
			if !x.Path {
				v.Addf(join(f, "path"), "must be true when set")
			}
			id = "path"
		case *configv1.RateLimitKey_Header:
			named("header", "header name", x.Header, true)
		case *configv1.RateLimitKey_Cookie:
			named("cookie", "cookie name", x.Cookie, false)
		case *configv1.RateLimitKey_Query:
			named("query", "", x.Query, false)
		default:
			v.Addf(f, "no key part set (want client_ip, header, cookie, query or path)")
			continue
		}
		if j, dup := seen[id]; dup {
			v.Addf(f, "is a duplicate of keys[%d]", j)
		}
		seen[id] = i
	}
}

// rateLimitNameClash reports rate limits of r whose names another rule of
// app (other than the one r replaces, by id) already uses: counters are
// per (app, name, key), so two limits with one name would count together.
func rateLimitNameClash(app *configv1.App, r *configv1.Rule) []apierr.FieldViolation {
	if r == nil {
		return nil
	}
	used := map[string]string{}
	for _, o := range app.GetRules() {
		if o.GetId() == r.GetId() {
			continue
		}
		for _, a := range o.GetActions() {
			if rl := a.GetRateLimit(); rl != nil {
				used[rl.GetName()] = o.GetName()
			}
		}
	}
	var out []apierr.FieldViolation
	for i, a := range r.GetActions() {
		if rl := a.GetRateLimit(); rl != nil {
			if other, ok := used[rl.GetName()]; ok {
				out = append(out, apierr.FieldViolation{Field: fmt.Sprintf("rule.actions[%d].rate_limit.name", i),
					Reason: fmt.Sprintf("rate limit %q already exists in rule %q of this app", rl.GetName(), other)})
			}
			used[rl.GetName()] = r.GetName()
		}
	}
	return out
}
