package iam

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"
)

const (
	maxNameLen        = 64
	maxDisplayNameLen = 200
	maxDescriptionLen = 500
)

// checkName returns why s cannot name a user, group or role, or "". Names are
// ids and part of stream names: lower-case letters, digits, '.', '_' and '-',
// starting with a letter or digit, no "..", not ending with '.'.
func checkName(s string) string {
	if s == "" {
		return "required"
	}
	if len(s) > maxNameLen {
		return fmt.Sprintf("must be at most %d characters", maxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '.' || c == '_' || c == '-':
			if i == 0 {
				return fmt.Sprintf("%q must start with a lower-case letter or a digit", s)
			}
			if c == '.' && s[i-1] == '.' {
				return fmt.Sprintf("%q must not contain \"..\"", s)
			}
		case 'A' <= c && c <= 'Z':
			return fmt.Sprintf("%q must be lower case", s)
		default:
			return fmt.Sprintf("%q: character %q not allowed (lower-case letters, digits, '.', '_', '-')", s, rune(c))
		}
	}
	if strings.HasSuffix(s, ".") {
		return fmt.Sprintf("%q must not end with '.'", s)
	}
	return ""
}

// checkText returns why a free-text field is not acceptable, or "".
func checkText(s string, maxLen int) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	if utf8.RuneCountInString(s) > maxLen {
		return fmt.Sprintf("must be at most %d characters", maxLen)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "must not contain control characters"
		}
	}
	return ""
}

// checkEmail returns why s is not a plain e-mail address, or "" (also for "").
func checkEmail(s string) string {
	if s == "" {
		return ""
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return fmt.Sprintf("%q is not an e-mail address like name@example.com", s)
	}
	return ""
}
