package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nuid"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"

	"github.com/strata-edge/strata/node/challenge"
	"github.com/strata-edge/strata/node/ratelimit"
)

// The rate limit actions of the matched rules (node/ratelimit), after rule
// evaluation and before the terminal action: each counts the request in
// the proxy's Limiter; the first one over its limit decides, by its
// on_exceed: REJECT answers its status (429) with Retry-After, DELAY holds
// the request its turn (at most delay_max, else rejects), LOG passes and
// logs, CHALLENGE serves the challenge page (challenge.go, default
// difficulty) unless the client holds a clearance, which lets it pass.
// Exceeded requests go to the WAF hit log (node/waf) as rule
// "ratelimit:<name>", at most ten a second per limit.

// rateLimit counts x against the plan's rate limits; true when it answered
// the request.
func (p *Proxy) rateLimit(x exchange, f *flow) bool {
	plan := &f.plan
	if !plan.HasRateLimits() {
		return false
	}
	now := time.Now()
	for i := range plan.Matched() {
		for _, r := range plan.RateLimits(i) {
			d := p.limiter.Check(r, x, now)
			switch {
			case d.Outcome == ratelimit.Pass:
				continue
			case d.Outcome == ratelimit.Delayed:
				time.Sleep(d.Wait)
				continue
			case r.OnExceed == ratelimit.Log:
				p.log.LogAttrs(context.Background(), slog.LevelInfo, "rate limit exceeded",
					slog.String("app", r.App), slog.String("limit", r.Name), slog.String("client", x.ClientIP().String()),
					slog.String("action", "log"), slog.String("uri", x.RequestURI()))
				p.reportRateLimit(x, r, "log", 0, now)
				continue
			case r.OnExceed == ratelimit.Challenge:
				if p.serveChallenge(x, f, challenge.ParamsOf(nil)) {
					p.reportRateLimit(x, r, "challenge", http.StatusForbidden, now)
					return true
				}
				continue // cleared
			}
			// Whole seconds, rounded up: a client that waits them fits.
			retry := max(1, int((d.Wait+time.Second-1)/time.Second))
			f.header = append(f.header, [2]string{"Retry-After", strconv.Itoa(retry)})
			x.text(r.Status, "rate limit exceeded\n")
			p.reportRateLimit(x, r, "block", r.Status, now)
			return true
		}
	}
	return false
}

// reportRateLimit publishes an exceeded request of r as a WAF hit, unless
// the limit has reported one in the last ratelimit.ReportEvery.
func (p *Proxy) reportRateLimit(x exchange, r *ratelimit.Rule, action string, status int, now time.Time) {
	if !p.limiter.Report(r, now) {
		return
	}
	ip := ""
	if a := x.ClientIP(); a.IsValid() {
		ip = a.String()
	}
	p.wafRT.Publish(&wafv1.WafHit{AppId: r.App, RequestId: nuid.Next(), ClientIp: ip, Method: x.Method(), Host: x.Host(),
		Uri: x.RequestURI(), Action: action, Status: uint32(status),
		Matches: []*wafv1.RuleMatch{{RuleId: RateLimitRulePrefix + r.Name, Message: "rate limit exceeded: " + r.String()}}})
}

// RateLimitRulePrefix starts the rule id of a rate limit's hits.
const RateLimitRulePrefix = "ratelimit:"
