package proxy

import (
	"context"
	"log/slog"
	"strconv"
	"time"

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
				continue
			case r.OnExceed == ratelimit.Challenge:
				if p.serveChallenge(x, f, challenge.ParamsOf(nil)) {
					return true
				}
				continue // cleared
			}
			// Whole seconds, rounded up: a client that waits them fits.
			retry := max(1, int((d.Wait+time.Second-1)/time.Second))
			f.header = append(f.header, [2]string{"Retry-After", strconv.Itoa(retry)})
			x.text(r.Status, "rate limit exceeded\n")
			return true
		}
	}
	return false
}
