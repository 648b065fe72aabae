// Package ids makes the identifiers of Strata's objects: a short kind prefix
// and 16 lower-case base32 characters (80 random bits), e.g. "app_3k9x...".
// The alphabet is safe in event stream names, NATS subjects and bucket names.
package ids

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// New returns prefix followed by 80 random bits in lower-case base32.
func New(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return prefix + strings.ToLower(encoding.EncodeToString(b[:]))
}
