package iam

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

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
