// Package challenge is the node's proof-of-work challenge: a page whose
// JavaScript finds a number n such that SHA-256(token "." n) starts with
// `difficulty` zero bits, a verify endpoint that checks the answer, and a
// clearance cookie that lets the client through until it expires. No
// third-party service takes part.
//
// Tokens and cookies are HMAC-SHA256 signed with the partition's challenge
// keys (synced, kind "challenge_key"; the newest valid key signs, every key
// of the set verifies, so a rotation keeps cookies issued just before it)
// and bound to the host and the client (its IPv4 address, or its IPv6 /64):
// a cookie copied to another host or another client is refused.
//
// Callers (the page-rule action, WAF custom rules, rate-limit on_exceed)
// use three calls:
//
//	if c.IsVerify(r) { answer(c.Verify(r)) }          // before anything else
//	if !c.Check(r, p) { answer(c.Serve(r, p)) }      // the challenge action
package challenge

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"math/bits"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// CookieName is the clearance cookie.
const CookieName = "strata_clearance"

// VerifyPath is where the challenge page sends its answer (GET with
// t=token, n=answer, r=the path to return to). Every app's host answers it
// on every node, whatever its rules.
const VerifyPath = "/.well-known/strata-challenge"

// Defaults and bounds of ChallengeAction (the control plane validates them).
const (
	DefaultDifficulty       = 16
	MinDifficulty           = 8
	MaxDifficulty           = 24
	DefaultClearanceSeconds = 3600
	MaxClearanceSeconds     = 86400
	// TokenTTL is how long a challenge page may take to be solved.
	TokenTTL = 5 * time.Minute
)

// Params are the settings of one challenge.
type Params struct {
	Difficulty       uint32 // leading zero bits
	ClearanceSeconds uint32 // lifetime of the cookie
}

// ParamsOf reads a ChallengeAction, with the defaults for zero fields and
// out-of-range values clamped.
func ParamsOf(a *configv1.ChallengeAction) Params {
	p := Params{Difficulty: a.GetDifficulty(), ClearanceSeconds: a.GetClearanceSeconds()}
	return p.norm()
}

func (p Params) norm() Params {
	switch {
	case p.Difficulty == 0:
		p.Difficulty = DefaultDifficulty
	case p.Difficulty < MinDifficulty:
		p.Difficulty = MinDifficulty
	case p.Difficulty > MaxDifficulty:
		p.Difficulty = MaxDifficulty
	}
	switch {
	case p.ClearanceSeconds == 0:
		p.ClearanceSeconds = DefaultClearanceSeconds
	case p.ClearanceSeconds > MaxClearanceSeconds:
		p.ClearanceSeconds = MaxClearanceSeconds
	}
	return p
}

// Request is what the challenge reads of a request (the proxy's view
// implements it).
type Request interface {
	Method() string
	Host() string // lower-case, without port
	Path() string
	RequestURI() string
	Scheme() string
	ClientIP() netip.Addr
	Cookie(name string) (string, bool)
	Query(name string) (string, bool)
}

// Response is an answer to send: Status, the headers in Header order, Body.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
	Header      [][2]string // Set-Cookie, Location, Cache-Control
}

// Challenger issues and checks challenges. Safe for concurrent use; keys
// are swapped atomically.
type Challenger struct {
	keys atomic.Pointer[keySet]
	now  func() time.Time
}

// New returns a Challenger with a random key of its own until SetKeys
// gives it the partition's keys. now may be nil (time.Now).
func New(now func() time.Time) *Challenger {
	if now == nil {
		now = time.Now
	}
	c := &Challenger{now: now}
	c.keys.Store(localKeySet())
	return c
}

// SetKeys replaces the key set. An empty set goes back to a random key of
// this node (a clearance is then valid on this node only); a set it refuses
// leaves the running one in place.
func (c *Challenger) SetKeys(keys []Key) error {
	if len(keys) == 0 {
		if !c.keys.Load().local {
			c.keys.Store(localKeySet())
		}
		return nil
	}
	s, err := newKeySet(keys, false)
	if err != nil {
		return err
	}
	c.keys.Store(s)
	return nil
}

// Synced reports whether the keys are the partition's (false: the node's
// own random key).
func (c *Challenger) Synced() bool { return !c.keys.Load().local }

// binding is the client part a token or cookie is bound to: the IPv4
// address, or the IPv6 /64 (privacy addresses change within it).
func binding(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

func mac(secret []byte, purpose, host, client, payload string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(host))
	m.Write([]byte{0})
	m.Write([]byte(client))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

const (
	tokenPurpose  = "strata-challenge-token-v1"
	cookiePurpose = "strata-clearance-v1"
	version       = "1"
	maxTokenLen   = 256
	maxReturnLen  = 2048
)

// Check reports whether r carries a clearance cookie for its host and
// client, signed by a key of the set, not expired, earned at difficulty
// p.Difficulty or more.
func (c *Challenger) Check(r Request, p Params) bool {
	v, ok := r.Cookie(CookieName)
	if !ok || len(v) > maxTokenLen {
		return false
	}
	return c.checkCookie(v, r.Host(), r.ClientIP(), p.norm())
}

func (c *Challenger) checkCookie(v, host string, ip netip.Addr, p Params) bool {
	// 1.kid.expiry.difficulty.mac
	f := strings.Split(v, ".")
	if len(f) != 5 || f[0] != version {
		return false
	}
	now := c.now()
	exp, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || now.Unix() >= exp {
		return false
	}
	d, err := strconv.ParseUint(f[3], 10, 8)
	if err != nil || uint32(d) < p.Difficulty {
		return false
	}
	k := c.keys.Load().verifier(f[1], now)
	if k == nil {
		return false
	}
	want := mac(k.Secret, cookiePurpose, host, binding(ip), v[:len(v)-len(f[4])-1])
	return hmac.Equal([]byte(want), []byte(f[4]))
}

// IsVerify reports whether r is an answer to a challenge page.
func (c *Challenger) IsVerify(r Request) bool { return r.Path() == VerifyPath }

//go:embed solve.js
var solveJS string

// pageData is the challenge the page's script solves (and a solver in Go
// reads: the JSON in <script id="strata-challenge">).
type pageData struct {
	Token      string `json:"token"`
	Difficulty uint32 `json:"difficulty"`
	Verify     string `json:"verify"`
	Return     string `json:"return"`
}

// Serve returns the challenge page for r: status 403, never cached.
func (c *Challenger) Serve(r Request, p Params) Response {
	p = p.norm()
	ret := r.RequestURI()
	if !safeReturn(ret) {
		ret = "/"
	}
	tok := c.token(r.Host(), r.ClientIP(), p)
	data, _ := json.Marshal(pageData{Token: tok, Difficulty: p.Difficulty, Verify: VerifyPath, Return: ret})
	var b strings.Builder
	b.WriteString(pageHead)
	b.WriteString(`<script type="application/json" id="strata-challenge">`)
	b.Write(data) // json.Marshal escapes <, > and &
	b.WriteString("</script>\n<script>")
	b.WriteString(solveJS)
	b.WriteString(pageScript)
	b.WriteString("</script>\n</body></html>\n")
	return Response{Status: http.StatusForbidden, ContentType: "text/html; charset=utf-8", Body: []byte(b.String()),
		Header: [][2]string{{"Cache-Control", "no-store"}}}
}

// token is a signed challenge: 1.kid.expiry.difficulty.clearance.nonce.mac.
func (c *Challenger) token(host string, ip netip.Addr, p Params) string {
	now := c.now()
	k := c.keys.Load().signer(now)
	var nonce [12]byte
	_, _ = rand.Read(nonce[:])
	payload := version + "." + k.ID + "." + strconv.FormatInt(now.Add(TokenTTL).Unix(), 10) + "." +
		strconv.FormatUint(uint64(p.Difficulty), 10) + "." + strconv.FormatUint(uint64(p.ClearanceSeconds), 10) + "." +
		base64.RawURLEncoding.EncodeToString(nonce[:])
	return payload + "." + mac(k.Secret, tokenPurpose, host, binding(ip), payload)
}

// Verify checks an answer (query t, n, r) and, when it is right, answers
// 303 to r with the clearance cookie. A right answer to an expired token
// gets a new challenge; anything else 403.
func (c *Challenger) Verify(r Request) Response {
	tok, _ := r.Query("t")
	n, _ := r.Query("n")
	ret, _ := r.Query("r")
	if !safeReturn(ret) {
		ret = "/"
	}
	p, err := c.checkToken(tok, n, r.Host(), r.ClientIP())
	switch {
	case err == errExpired:
		return c.Serve(returnTo{r, ret}, p)
	case err != nil:
		return Response{Status: http.StatusForbidden, ContentType: "text/plain; charset=utf-8",
			Body: []byte("challenge failed: " + err.Error() + "\n"), Header: [][2]string{{"Cache-Control", "no-store"}}}
	}
	cookie := c.cookie(r.Host(), r.ClientIP(), p)
	attrs := "; Path=/; Max-Age=" + strconv.FormatUint(uint64(p.ClearanceSeconds), 10) + "; HttpOnly; SameSite=Lax"
	if r.Scheme() == "https" {
		attrs += "; Secure"
	}
	return Response{Status: http.StatusSeeOther, ContentType: "text/plain; charset=utf-8", Body: []byte("cleared\n"),
		Header: [][2]string{{"Set-Cookie", CookieName + "=" + cookie + attrs}, {"Location", ret}, {"Cache-Control", "no-store"}}}
}

// returnTo is r seen as a request for ret (a new challenge after an
// expired token returns where the first one would have).
type returnTo struct {
	Request
	uri string
}

func (r returnTo) RequestURI() string { return r.uri }

type verifyError string

func (e verifyError) Error() string { return string(e) }

const (
	errMalformed = verifyError("malformed token")
	errSignature = verifyError("token not signed for this host and client")
	errExpired   = verifyError("token expired")
	errAnswer    = verifyError("wrong answer")
)

func (c *Challenger) checkToken(tok, n, host string, ip netip.Addr) (Params, error) {
	if len(tok) > maxTokenLen || len(n) == 0 || len(n) > 20 {
		return Params{}, errMalformed
	}
	f := strings.Split(tok, ".")
	if len(f) != 7 || f[0] != version {
		return Params{}, errMalformed
	}
	exp, err1 := strconv.ParseInt(f[2], 10, 64)
	d, err2 := strconv.ParseUint(f[3], 10, 8)
	cl, err3 := strconv.ParseUint(f[4], 10, 32)
	if _, err := strconv.ParseUint(n, 10, 64); err != nil || err1 != nil || err2 != nil || err3 != nil {
		return Params{}, errMalformed
	}
	p := Params{Difficulty: uint32(d), ClearanceSeconds: uint32(cl)}
	if p.norm() != p {
		return Params{}, errMalformed
	}
	now := c.now()
	k := c.keys.Load().verifier(f[1], now)
	if k == nil || !hmac.Equal([]byte(mac(k.Secret, tokenPurpose, host, binding(ip), tok[:len(tok)-len(f[6])-1])), []byte(f[6])) {
		return Params{}, errSignature
	}
	if LeadingZeros(tok, n) < int(p.Difficulty) {
		return Params{}, errAnswer
	}
	if now.Unix() >= exp {
		return p, errExpired
	}
	return p, nil
}

// cookie is a clearance: 1.kid.expiry.difficulty.mac.
func (c *Challenger) cookie(host string, ip netip.Addr, p Params) string {
	now := c.now()
	k := c.keys.Load().signer(now)
	payload := version + "." + k.ID + "." + strconv.FormatInt(now.Unix()+int64(p.ClearanceSeconds), 10) + "." +
		strconv.FormatUint(uint64(p.Difficulty), 10)
	return payload + "." + mac(k.Secret, cookiePurpose, host, binding(ip), payload)
}

// LeadingZeros is the number of leading zero bits of SHA-256(token "." n).
func LeadingZeros(token, n string) int {
	sum := sha256.Sum256([]byte(token + "." + n))
	z := 0
	for _, b := range sum {
		if b != 0 {
			return z + bits.LeadingZeros8(b)
		}
		z += 8
	}
	return z
}

// Solve finds the smallest answer to token at difficulty (what the page's
// script does; for tests and tools).
func Solve(token string, difficulty uint32) string {
	for n := uint64(0); ; n++ {
		s := strconv.FormatUint(n, 10)
		if LeadingZeros(token, s) >= int(difficulty) {
			return s
		}
	}
}

// safeReturn accepts a local path ("/x?y"), never another site ("//evil",
// "/\evil") or a scheme.
func safeReturn(s string) bool {
	return len(s) > 0 && len(s) <= maxReturnLen && s[0] == '/' &&
		(len(s) == 1 || (s[1] != '/' && s[1] != '\\')) && !strings.ContainsAny(s, "\r\n")
}

const pageHead = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>Checking your browser</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:15vh auto;padding:0 1rem;color:#222}</style>
</head><body>
<h1>Checking your browser</h1>
<p id="strata-status">This takes a moment. The page continues on its own.</p>
<noscript><p>Please enable JavaScript to continue.</p></noscript>
`

const pageScript = `
(function () {
  var c = JSON.parse(document.getElementById("strata-challenge").textContent);
  setTimeout(function () {
    var n = strataSolve(c.token, c.difficulty);
    location.replace(c.verify + "?t=" + encodeURIComponent(c.token) + "&n=" + n + "&r=" + encodeURIComponent(c.return));
  }, 10);
})();
`
