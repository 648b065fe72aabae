package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// rateLimitFlags describe a rule's rate limit action (--rate-limit and the
// flags that refine it), in nginx limit_req's words where they fit.
type rateLimitFlags struct {
	rate, name, algorithm, onExceed, scope string
	keys                                   []string
	burst, delayAfter, status              uint32
	nodelay                                bool
	delayMax                               time.Duration
}

var rateLimitFlagNames = []string{"rate-limit", "rate-limit-name", "burst", "nodelay", "delay", "delay-max", "key",
	"algorithm", "on-exceed", "scope", "rate-limit-status"}

func (f *rateLimitFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.rate, "rate-limit", "", "limit matching requests to N per period per key: 100/1m, 10/s, 5000/1h (period: s, m, h, d or a duration)")
	fs.StringVar(&f.name, "rate-limit-name", "", "the limit's name, unique in the app (default: the rule's name)")
	fs.Uint32Var(&f.burst, "burst", 0, "token bucket: requests accepted above the rate at once (nginx burst)")
	fs.BoolVar(&f.nodelay, "nodelay", false, "the burst passes at once and beyond it requests are rejected (nginx nodelay; the default --on-exceed reject)")
	fs.Uint32Var(&f.delayAfter, "delay", 0, "with --on-exceed delay: the first N of the burst pass at once, the rest wait their turn (nginx delay=N)")
	fs.DurationVar(&f.delayMax, "delay-max", 0, "with --on-exceed delay: the longest wait before rejecting (default 1s, at most 30s)")
	fs.StringSliceVar(&f.keys, "key", nil, "what a limit counts per, comma-separated and combined: ip, path, header:NAME, cookie:NAME, query:NAME (default ip)")
	fs.StringVar(&f.algorithm, "algorithm", "", "token-bucket (default), fixed-window or sliding-window")
	fs.StringVar(&f.onExceed, "on-exceed", "", "over the limit: reject (429 + Retry-After, default), delay, log or challenge")
	fs.StringVar(&f.scope, "scope", "", "node (default: each node counts alone) or cluster (the cluster's nodes share counters)")
	fs.Uint32Var(&f.status, "rate-limit-status", 0, "status of a rejected request (default 429)")
}

var (
	algorithms = map[string]configv1.RateLimitAlgorithm{"token-bucket": configv1.RateLimitAlgorithm_RATE_LIMIT_ALGORITHM_TOKEN_BUCKET,
		"fixed-window": configv1.RateLimitAlgorithm_RATE_LIMIT_ALGORITHM_FIXED_WINDOW, "sliding-window": configv1.RateLimitAlgorithm_RATE_LIMIT_ALGORITHM_SLIDING_WINDOW}
	exceeds = map[string]configv1.RateLimitExceed{"reject": configv1.RateLimitExceed_RATE_LIMIT_EXCEED_REJECT,
		"delay": configv1.RateLimitExceed_RATE_LIMIT_EXCEED_DELAY, "log": configv1.RateLimitExceed_RATE_LIMIT_EXCEED_LOG,
		"challenge": configv1.RateLimitExceed_RATE_LIMIT_EXCEED_CHALLENGE}
	scopes = map[string]configv1.RateLimitScope{"node": configv1.RateLimitScope_RATE_LIMIT_SCOPE_NODE,
		"cluster": configv1.RateLimitScope_RATE_LIMIT_SCOPE_CLUSTER}
)

// action returns the rate limit action the flags describe, nil when none
// is given.
func (f *rateLimitFlags) action(fs *pflag.FlagSet) (*configv1.RateLimitAction, error) {
	for _, n := range rateLimitFlagNames[1:] {
		if fs.Changed(n) && !fs.Changed("rate-limit") {
			return nil, usagef("--%s needs --rate-limit N/PERIOD", n)
		}
	}
	if !fs.Changed("rate-limit") {
		return nil, nil
	}
	requests, period, err := parseRate(f.rate)
	if err != nil {
		return nil, usagef("--rate-limit %q: %w", f.rate, err)
	}
	a := &configv1.RateLimitAction{Name: f.name, Requests: requests, PeriodSeconds: period, Burst: f.burst,
		Nodelay: f.delayAfter, Status: f.status}
	if a.Keys, err = parseRateKeys(f.keys); err != nil {
		return nil, usagef("--key: %w", err)
	}
	pick := func(flag, v string, names []string, set func(string) bool) error {
		if v != "" && !set(v) {
			return usagef("--%s %q: want %s", flag, v, strings.Join(names, ", "))
		}
		return nil
	}
	if err := pick("algorithm", f.algorithm, []string{"token-bucket", "fixed-window", "sliding-window"}, func(v string) bool {
		x, ok := algorithms[v]
		a.Algorithm = x
		return ok
	}); err != nil {
		return nil, err
	}
	if err := pick("on-exceed", f.onExceed, []string{"reject", "delay", "log", "challenge"}, func(v string) bool {
		x, ok := exceeds[v]
		a.OnExceed = x
		return ok
	}); err != nil {
		return nil, err
	}
	if err := pick("scope", f.scope, []string{"node", "cluster"}, func(v string) bool {
		x, ok := scopes[v]
		a.Scope = x
		return ok
	}); err != nil {
		return nil, err
	}
	delay := a.OnExceed == configv1.RateLimitExceed_RATE_LIMIT_EXCEED_DELAY
	switch {
	case f.nodelay && delay:
		return nil, usagef("--nodelay and --on-exceed delay contradict each other (--delay N lets the first N of the burst through at once)")
	case f.nodelay:
		a.OnExceed = configv1.RateLimitExceed_RATE_LIMIT_EXCEED_REJECT
	}
	if fs.Changed("delay-max") {
		if f.delayMax <= 0 || f.delayMax%time.Millisecond != 0 || f.delayMax > 30*time.Second {
			return nil, usagef("--delay-max %s: want whole milliseconds up to 30s", f.delayMax)
		}
		a.DelayMaxMs = uint32(f.delayMax / time.Millisecond)
	}
	return a, nil
}

// parseRate reads N/PERIOD: 100/1m, 10/s, 10/1s, 5000/1h, 2/3d, 50/90s.
func parseRate(s string) (requests, periodSeconds uint32, err error) {
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("want N/PERIOD, e.g. 100/1m")
	}
	r, err := strconv.ParseUint(n, 10, 32)
	if err != nil || r == 0 {
		return 0, 0, fmt.Errorf("%q is not a count above 0", n)
	}
	if per != "" && (per[0] < '0' || per[0] > '9') {
		per = "1" + per // "10/s" is 10 per 1 s
	}
	d, err := time.ParseDuration(per)
	if strings.HasSuffix(per, "d") {
		days, derr := strconv.ParseUint(strings.TrimSuffix(per, "d"), 10, 32)
		d, err = time.Duration(days)*24*time.Hour, derr
	}
	switch {
	case err != nil:
		return 0, 0, fmt.Errorf("period %q: want a number and s, m, h or d", per)
	case d < time.Second || d%time.Second != 0:
		return 0, 0, fmt.Errorf("period %s: want whole seconds, at least 1s", d)
	case d > 31*24*time.Hour:
		return 0, 0, fmt.Errorf("period %s: more than 31 days", d)
	}
	return uint32(r), uint32(d / time.Second), nil
}

// parseRateKeys reads ip, path, header:NAME, cookie:NAME, query:NAME.
func parseRateKeys(parts []string) ([]*configv1.RateLimitKey, error) {
	var out []*configv1.RateLimitKey
	for _, p := range parts {
		kind, name, named := strings.Cut(strings.TrimSpace(p), ":")
		var k *configv1.RateLimitKey
		switch {
		case kind == "ip" && !named:
			k = &configv1.RateLimitKey{Key: &configv1.RateLimitKey_ClientIp{ClientIp: true}}
		case kind == "path" && !named:
			k = &configv1.RateLimitKey{Key: &configv1.RateLimitKey_Path{Path: true}}
		case kind == "header" && name != "":
			k = &configv1.RateLimitKey{Key: &configv1.RateLimitKey_Header{Header: name}}
		case kind == "cookie" && name != "":
			k = &configv1.RateLimitKey{Key: &configv1.RateLimitKey_Cookie{Cookie: name}}
		case kind == "query" && name != "":
			k = &configv1.RateLimitKey{Key: &configv1.RateLimitKey_Query{Query: name}}
		default:
			return nil, fmt.Errorf("%q: want ip, path, header:NAME, cookie:NAME or query:NAME", p)
		}
		out = append(out, k)
	}
	return out, nil
}

// nameRateLimits names the rule's unnamed rate limits after the rule.
func nameRateLimits(r *configv1.Rule) {
	for _, a := range r.GetActions() {
		if rl := a.GetRateLimit(); rl != nil && rl.Name == "" {
			rl.Name = r.GetName()
		}
	}
}

func describeRateLimit(a *configv1.RateLimitAction) string {
	period := time.Duration(max(1, a.GetPeriodSeconds())) * time.Second
	parts := []string{fmt.Sprintf("rate limit %s %d/%s", a.GetName(), a.GetRequests(), period)}
	if a.GetBurst() > 0 {
		parts = append(parts, fmt.Sprintf("burst %d", a.GetBurst()))
	}
	if a.GetNodelay() > 0 {
		parts = append(parts, fmt.Sprintf("delay %d", a.GetNodelay()))
	}
	keys := make([]string, 0, len(a.GetKeys()))
	for _, k := range a.GetKeys() {
		switch x := k.GetKey().(type) {
		case *configv1.RateLimitKey_ClientIp:
			keys = append(keys, "ip")
		case *configv1.RateLimitKey_Path:
			keys = append(keys, "path")
		case *configv1.RateLimitKey_Header:
			keys = append(keys, "header:"+x.Header)
		case *configv1.RateLimitKey_Cookie:
			keys = append(keys, "cookie:"+x.Cookie)
		case *configv1.RateLimitKey_Query:
			keys = append(keys, "query:"+x.Query)
		}
	}
	if len(keys) == 0 {
		keys = []string{"ip"}
	}
	parts = append(parts, "key "+strings.Join(keys, ","))
	for name, v := range algorithms {
		if v == a.GetAlgorithm() {
			parts = append(parts, name)
		}
	}
	exceed := "reject"
	for name, v := range exceeds {
		if v == a.GetOnExceed() {
			exceed = name
		}
	}
	parts = append(parts, exceed)
	if a.GetScope() == configv1.RateLimitScope_RATE_LIMIT_SCOPE_CLUSTER {
		parts = append(parts, "cluster")
	}
	return strings.Join(parts, " ")
}
