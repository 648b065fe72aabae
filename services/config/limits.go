package config

import (
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
)

// Bounds of App.limits and of the challenge action. A node enforces an
// app's limits below its own (a body larger than the node's
// --max-body-bytes is refused whatever the app says).
const (
	maxAppBodyBytes     = 1 << 30 // 1 GiB
	minAppHeaderBytes   = 1 << 10 // smaller breaks ordinary browsers
	maxAppHeaderBytes   = 1 << 20
	maxAppConnsPerIP    = 100_000
	maxAppHandshakeRate = 100_000
	minChallengeBits    = 8
	maxChallengeBits    = 24
	minClearanceSeconds = 60
	maxClearanceSeconds = 86_400
)

// checkLimits validates App.limits (HTTP apps only: stream and
// forward-proxy apps limit connections with their access settings).
func checkLimits(v *apierr.Fields, s *ev.AppSettings) {
	l := s.GetLimits()
	if l == nil {
		return
	}
	if roleOf(s) != roleHTTP {
		v.Addf("limits", "apply to HTTP apps only (a %s app limits connections with access)", roleOf(s))
		return
	}
	if n := l.GetMaxRequestBodyBytes(); n > maxAppBodyBytes {
		v.Addf("limits.max_request_body_bytes", "%d is more than %d (1 GiB)", n, uint64(maxAppBodyBytes))
	}
	if n := l.GetMaxRequestHeaderBytes(); n != 0 && (n < minAppHeaderBytes || n > maxAppHeaderBytes) {
		v.Addf("limits.max_request_header_bytes", "%d is outside %d-%d (1 KiB to 1 MiB; 0 takes the node's)", n, minAppHeaderBytes, maxAppHeaderBytes)
	}
	if n := l.GetMaxConnsPerIp(); n > maxAppConnsPerIP {
		v.Addf("limits.max_conns_per_ip", "%d is more than %d", n, maxAppConnsPerIP)
	}
	if n := l.GetTlsHandshakesPerSecond(); n > maxAppHandshakeRate {
		v.Addf("limits.tls_handshakes_per_second", "%d is more than %d", n, maxAppHandshakeRate)
	}
	switch b := l.GetTlsHandshakeBurst(); {
	case b > 0 && l.GetTlsHandshakesPerSecond() == 0:
		v.Addf("limits.tls_handshake_burst", "needs tls_handshakes_per_second")
	case b > maxAppHandshakeRate:
		v.Addf("limits.tls_handshake_burst", "%d is more than %d", b, maxAppHandshakeRate)
	}
	if l.GetMaxRequestBodyBytes() == 0 && l.GetMaxRequestHeaderBytes() == 0 && l.GetMaxConnsPerIp() == 0 &&
		l.GetTlsHandshakesPerSecond() == 0 {
		s.Limits = nil // all defaults: stored as none
	}
}

// checkChallenge validates a challenge action (f names it).
func checkChallenge(v *apierr.Fields, f string, c *configv1.ChallengeAction) {
	if d := c.GetDifficulty(); d != 0 && (d < minChallengeBits || d > maxChallengeBits) {
		v.Addf(join(f, "difficulty"), "%d is outside %d-%d leading zero bits (0 takes 16)", d, minChallengeBits, maxChallengeBits)
	}
	if s := c.GetClearanceSeconds(); s != 0 && (s < minClearanceSeconds || s > maxClearanceSeconds) {
		v.Addf(join(f, "clearance_seconds"), "%d is outside %d-%d (0 takes 3600)", s, minClearanceSeconds, maxClearanceSeconds)
	}
}
