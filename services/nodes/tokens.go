package nodes

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
)

// secretLen is the number of random bytes of a join token's secret.
const secretLen = 32

// maxTokenLen bounds what parseToken looks at: an id and a base64 secret are
// far shorter.
const maxTokenLen = 256

var errMalformedToken = errors.New(`join_token: malformed; want "<token id>.<secret>" as printed by CreateJoinToken`)

// newSecret returns a fresh secret and its SHA-256 digest.
func newSecret() (secret string, digest []byte) {
	var b [secretLen]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	sum := sha256.Sum256(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:]), sum[:]
}

// formatToken is what the operator hands to a node: "<id>.<secret>".
func formatToken(id, secret string) string { return id + "." + secret }

// parseToken splits a join token into its id and the SHA-256 digest of its
// secret.
func parseToken(token string) (id string, digest []byte, err error) {
	if token == "" || len(token) > maxTokenLen {
		return "", nil, errMalformedToken
	}
	id, enc, ok := strings.Cut(strings.TrimSpace(token), ".")
	if !ok || !validTokenID(id) {
		return "", nil, errMalformedToken
	}
	secret, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(secret) != secretLen {
		return "", nil, errMalformedToken
	}
	sum := sha256.Sum256(secret)
	return id, sum[:], nil
}

// validTokenID accepts ids of the shape newID makes.
func validTokenID(id string) bool {
	rest, ok := strings.CutPrefix(id, prefixJoinToken)
	if !ok || rest == "" || len(rest) > 32 {
		return false
	}
	for _, c := range rest {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// secretMatches compares digests in constant time.
func secretMatches(stored, presented []byte) bool {
	return len(stored) == sha256.Size && subtle.ConstantTimeCompare(stored, presented) == 1
}
