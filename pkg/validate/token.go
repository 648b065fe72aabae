package validate

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// tchar marks the bytes of an RFC 9110 token.
var tchar = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0
	}
	return t
}()

// TokenByte reports whether c may appear in an RFC 9110 token (header field
// names, cookie names, the hash key's names).
func TokenByte(c byte) bool { return tchar[c] }

// Token returns why s is not an RFC 9110 token, or "". what says what s is
// ("header name", "cookie name").
func Token(what, s string) string {
	if s == "" {
		return what + " is empty"
	}
	for i, r := range s {
		if r >= utf8.RuneSelf || !tchar[s[i]] {
			return fmt.Sprintf("%q is not a valid %s: character %q is not allowed", s, what, r)
		}
	}
	return ""
}

// SubjectToken returns why s cannot be one NATS subject token (partition
// and node ids end up in subjects, consumer and bucket names), or "".
func SubjectToken(s string) string {
	if s == "" {
		return "required"
	}
	if i := strings.IndexAny(s, ". *>\t\r\n/\\"); i >= 0 {
		return fmt.Sprintf("must not contain %q", s[i:i+1])
	}
	return ""
}
