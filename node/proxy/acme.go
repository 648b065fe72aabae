package proxy

// ACMEChallengePath is where ACME HTTP-01 validation requests arrive
// (RFC 8555 section 8.3); the plain listener answers them from
// Options.ACMEChallenge before any app routing (Proxy.acme).
const ACMEChallengePath = "/.well-known/acme-challenge/"
