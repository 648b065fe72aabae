// Package passhash hashes passwords with argon2id in PHC string form and
// verifies them: IAM users' passwords and forward-proxy credentials (the
// edge node verifies those against the synced hash, never a clear password).
package passhash

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	KeyLen  uint32
}

// Default follows OWASP's recommendation for argon2id (19 MiB, 2
// passes, 1 lane): about 30 ms per hash on one core here.
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32}

const saltLen = 16

// hashPassword returns the argon2id hash of pw in PHC string form:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (base64 without padding).
func Hash(pw string, p Params) string {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go 1.24+)
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// verifyPassword reports whether pw matches the PHC-encoded hash, in time
// independent of where they differ.
func Verify(encoded, pw string) (bool, error) {
	p, salt, key, err := Parse(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// Bounds on stored parameters, so that a corrupt hash cannot make a login
// allocate gigabytes or spin for minutes.
const (
	MaxMemory = 1 << 21 // KiB: 2 GiB
	MaxTime   = 64
)

// parsePHC parses an argon2id PHC string.
func Parse(s string) (Params, []byte, []byte, error) {
	var p Params
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
	case t < 1 || t > MaxTime:
		return p, nil, nil, fmt.Errorf("password hash: t=%d, want 1 to %d", t, MaxTime)
	case m < 8*threads || m > MaxMemory:
		return p, nil, nil, fmt.Errorf("password hash: m=%d, want %d to %d", m, 8*threads, MaxMemory)
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, errors.New("password hash: salt must be 8 to 64 bytes of unpadded base64")
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, errors.New("password hash: hash must be 16 to 128 bytes of unpadded base64")
	}
	p = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(threads), KeyLen: uint32(len(key))}
	return p, salt, key, nil
}
