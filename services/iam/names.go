package iam

import (
	"fmt"
	"net/mail"
	"unicode/utf8"
)

const (
	maxDisplayNameLen = 200
	maxDescriptionLen = 500
)

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
