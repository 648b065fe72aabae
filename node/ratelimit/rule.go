package ratelimit

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// Algorithm is how a Rule counts.
type Algorithm uint8

const (
	TokenBucket   Algorithm = iota // nginx limit_req: rate, burst, delay
	FixedWindow                    // requests per window, reset at each window start
	SlidingWindow                  // current window plus the previous one weighted by overlap
)

func (a Algorithm) String() string {
	return [...]string{"token_bucket", "fixed_window", "sliding_window"}[a]
}

// Exceed is what happens to a request over the limit.
type Exceed uint8

const (
	Reject    Exceed = iota // Status (429) with Retry-After
	Delay                   // held until it fits (token bucket), at most DelayMax, else rejected
	Log                     // passed; the proxy logs it
	Challenge               // the challenge page unless the client is cleared
)

func (e Exceed) String() string { return [...]string{"reject", "delay", "log", "challenge"}[e] }

// Limits of a rule, as the control plane validates them.
const (
	MaxKeys         = 8          // key parts of one rule
	MaxNameLength   = 128        // header, cookie and query names in a key
	MaxPeriod       = 86400 * 31 // a month, in seconds
	DefaultDelayMax = time.Second
	MaxDelayMax     = 30 * time.Second
)

// Rule is one compiled rate limit action. It is immutable; its counters
// live in a Limiter, keyed by the rule's identity (app, name, algorithm,
// period) and the request's key, so they survive config updates that keep
// those.
type Rule struct {
	App, Name string
	Algorithm Algorithm
	OnExceed  Exceed
	Cluster   bool // counters shared by the cluster's nodes (Sync)
	Requests  uint32
	Period    time.Duration
	Burst     uint32 // token bucket: requests accepted above the rate
	NoDelay   uint32 // token bucket DELAY: the first NoDelay of the burst pass at once
	Status    int    // REJECT (and CHALLENGE until challenges exist): 429 by default
	DelayMax  time.Duration

	id      LimitID
	keys    []keyPart
	seed    uint64  // hash of the identity; every key hash starts from it
	flushAt uint32  // cluster: a key's deltas reaching this many ask Sync to publish early
	rate    float64 // token bucket: thousandths of a request per second
}

// Compile checks a and returns its rule for app. The control plane
// validates the same fields with field paths (services/config); this is
// the node's own guard and names the field too.
func Compile(app string, a *configv1.RateLimitAction) (*Rule, error) {
	r := &Rule{App: app, Name: a.GetName(), id: LimitID{app, a.GetName()}, Requests: a.GetRequests(), Burst: a.GetBurst(), NoDelay: a.GetNodelay(),
		Status: int(a.GetStatus()), Cluster: a.GetScope() == configv1.RateLimitScope_RATE_LIMIT_SCOPE_CLUSTER}
	if r.Name == "" {
		return nil, errors.New("name: must not be empty")
	}
	if r.Requests == 0 {
		return nil, errors.New("requests: must be > 0")
	}
	period := a.GetPeriodSeconds()
	if period == 0 {
		period = 1
	}
	if period > MaxPeriod {
		return nil, fmt.Errorf("period_seconds: %d is more than %d (31 days)", period, MaxPeriod)
	}
	r.Period = time.Duration(period) * time.Second
	switch a.GetAlgorithm() {
	case configv1.RateLimitAlgorithm_RATE_LIMIT_ALGORITHM_UNSPECIFIED, configv1.RateLimitAlgorithm_RATE_LIMIT_ALGORITHM_TOKEN_BUCKET:
		r.Algorithm = TokenBucket
	case configv1.RateLimitAlgorithm_RATE_LIMIT_ALGORITHM_FIXED_WINDOW:
		r.Algorithm = FixedWindow
	case configv1.RateLimitAlgorithm_RATE_LIMIT_ALGORITHM_SLIDING_WINDOW:
		r.Algorithm = SlidingWindow
	default:
		return nil, fmt.Errorf("algorithm: unknown value %d", a.GetAlgorithm())
	}
	switch a.GetOnExceed() {
	case configv1.RateLimitExceed_RATE_LIMIT_EXCEED_UNSPECIFIED, configv1.RateLimitExceed_RATE_LIMIT_EXCEED_REJECT:
		r.OnExceed = Reject
	case configv1.RateLimitExceed_RATE_LIMIT_EXCEED_DELAY:
		r.OnExceed = Delay
	case configv1.RateLimitExceed_RATE_LIMIT_EXCEED_LOG:
		r.OnExceed = Log
	case configv1.RateLimitExceed_RATE_LIMIT_EXCEED_CHALLENGE:
		r.OnExceed = Challenge
	default:
		return nil, fmt.Errorf("on_exceed: unknown value %d", a.GetOnExceed())
	}
	if r.Algorithm != TokenBucket {
		if r.Burst != 0 {
			return nil, errors.New("burst: only the token bucket has a burst")
		}
		if r.OnExceed == Delay {
			return nil, errors.New("on_exceed: DELAY needs the token bucket")
		}
	}
	if r.NoDelay > r.Burst {
		return nil, fmt.Errorf("nodelay: %d is more than burst %d", r.NoDelay, r.Burst)
	}
	switch {
	case r.Status == 0:
		r.Status = http.StatusTooManyRequests
	case r.Status < 400 || r.Status > 599:
		return nil, fmt.Errorf("status: %d is not a 4xx or 5xx status", r.Status)
	}
	r.DelayMax = time.Duration(a.GetDelayMaxMs()) * time.Millisecond
	switch {
	case r.DelayMax == 0:
		r.DelayMax = DefaultDelayMax
	case r.DelayMax > MaxDelayMax:
		return nil, fmt.Errorf("delay_max_ms: %d is more than %d", a.GetDelayMaxMs(), MaxDelayMax.Milliseconds())
	}
	if len(a.GetKeys()) > MaxKeys {
		return nil, fmt.Errorf("keys: %d parts, more than %d", len(a.GetKeys()), MaxKeys)
	}
	for i, k := range a.GetKeys() {
		p, err := compileKey(k)
		if err != nil {
			return nil, fmt.Errorf("keys[%d]: %w", i, err)
		}
		r.keys = append(r.keys, p)
	}
	if len(r.keys) == 0 {
		r.keys = []keyPart{{kind: keyIP}}
	}
	r.rate = float64(r.Requests) * 1000 / float64(period)
	// A key using its allowance fast is published before the interval
	// ends: at 1/32 of it (Sync publishes at most every Interval/20).
	r.flushAt = max(1, (r.Requests+r.Burst)/32)
	// The identity: a changed algorithm or period starts new counters; a
	// changed rate or burst keeps them.
	r.seed = hashString(fnvOffset, app)
	r.seed = hashString(hashByte(r.seed, 0), r.Name)
	r.seed = hashString(hashByte(r.seed, 0), r.Algorithm.String()+"/"+strconv.FormatUint(uint64(period), 10))
	return r, nil
}

// String describes the rule like the CLI flags do: "100/60s burst 20 key ip reject".
func (r *Rule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%s", r.Requests, r.Period)
	if r.Burst > 0 {
		fmt.Fprintf(&b, " burst %d", r.Burst)
	}
	if r.NoDelay > 0 {
		fmt.Fprintf(&b, " nodelay %d", r.NoDelay)
	}
	parts := make([]string, len(r.keys))
	for i, k := range r.keys {
		parts[i] = k.String()
	}
	fmt.Fprintf(&b, " %s key %s %s", r.Algorithm, strings.Join(parts, ","), r.OnExceed)
	if r.Cluster {
		b.WriteString(" cluster")
	}
	return b.String()
}
