package iam

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// argonParams are argon2id cost parameters.
type argonParams struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	KeyLen  uint32
}

// defaultArgon follows OWASP's recommendation for argon2id (19 MiB, 2
// passes, 1 lane): about 30 ms per hash on one core here.
var defaultArgon = argonParams{Memory: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32}

const saltLen = 16

// hashPassword returns the argon2id hash of pw in PHC string form:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (base64 without padding).
func hashPassword(pw string, p argonParams) string {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go 1.24+)
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// verifyPassword reports whether pw matches the PHC-encoded hash, in time
// independent of where they differ.
func verifyPassword(encoded, pw string) (bool, error) {
	p, salt, key, err := parsePHC(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// Bounds on stored parameters, so that a corrupt hash cannot make a login
// allocate gigabytes or spin for minutes.
const (
	maxArgonMemory = 1 << 21 // KiB: 2 GiB
	maxArgonTime   = 64
)

// parsePHC parses an argon2id PHC string.
func parsePHC(s string) (argonParams, []byte, []byte, error) {
	var p argonParams
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return p, nil, nil, errors.New("password hash: want $argon2id$v=..$m=..,t=..,p=..$salt$hash")
	}
	if parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("password hash: algorithm %q, want argon2id", parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("password hash: version %q, want v=%d", parts[2], argon2.Version)
	}
	var m, t, threads uint64
	seen := 0
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return p, nil, nil, fmt.Errorf("password hash: parameter %q is not key=value", kv)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, fmt.Errorf("password hash: parameter %s: %w", k, err)
		}
		switch k {
		case "m":
			m, seen = n, seen|1
		case "t":
			t, seen = n, seen|2
		case "p":
			threads, seen = n, seen|4
		default:
			return p, nil, nil, fmt.Errorf("password hash: unknown parameter %q", k)
		}
	}
	switch {
	case seen != 7:
		return p, nil, nil, errors.New("password hash: parameters m, t and p are all required")
	case threads < 1 || threads > 255:
		return p, nil, nil, fmt.Errorf("password hash: p=%d, want 1 to 255", threads)
	case t < 1 || t > maxArgonTime:
		return p, nil, nil, fmt.Errorf("password hash: t=%d, want 1 to %d", t, maxArgonTime)
	case m < 8*threads || m > maxArgonMemory:
		return p, nil, nil, fmt.Errorf("password hash: m=%d, want %d to %d", m, 8*threads, maxArgonMemory)
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, errors.New("password hash: salt must be 8 to 64 bytes of unpadded base64")
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, errors.New("password hash: hash must be 16 to 128 bytes of unpadded base64")
	}
	p = argonParams{Memory: uint32(m), Time: uint32(t), Threads: uint8(threads), KeyLen: uint32(len(key))}
	return p, salt, key, nil
}

// Password policy. Length over composition rules (NIST SP 800-63B): long
// enough, not trivially guessable, anything else allowed.
const (
	minPasswordLen   = 12
	maxPasswordBytes = 256
	minDistinctChars = 5
)

// commonPasswords are refused even though they are long enough.
var commonPasswords = map[string]bool{
	"123456789012": true, "1234567890123": true, "12345678901234": true, "password1234": true,
	"password12345": true, "passwordpassword": true, "qwertyuiopas": true, "qwerty123456": true,
	"123456123456": true, "iloveyou1234": true, "administrator": true, "changeme1234": true,
	"letmein12345": true, "welcome12345": true, "strata123456": true, "abcdefghijkl": true,
	"abc123abc123": true, "1q2w3e4r5t6y": true, "qwertyqwerty": true, "passw0rd1234": true,
}

// checkPassword returns why pw is not acceptable for user name, or "".
func checkPassword(name, pw string) string {
	if !utf8.ValidString(pw) {
		return "must be valid UTF-8"
	}
	n := utf8.RuneCountInString(pw)
	if n < minPasswordLen {
		return fmt.Sprintf("must be at least %d characters long (has %d)", minPasswordLen, n)
	}
	if len(pw) > maxPasswordBytes {
		return fmt.Sprintf("must be at most %d bytes long", maxPasswordBytes)
	}
	lower := strings.ToLower(pw)
	if len(name) >= 3 && strings.Contains(lower, strings.ToLower(name)) {
		return "must not contain the user name"
	}
	distinct := map[rune]bool{}
	for _, r := range pw {
		distinct[r] = true
	}
	if len(distinct) < minDistinctChars {
		return fmt.Sprintf("must contain at least %d different characters", minDistinctChars)
	}
	if commonPasswords[lower] {
		return "is a commonly used password"
	}
	return ""
}
