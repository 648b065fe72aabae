// Package domainname validates the domain names that apps and routes are bound
// to, and provides Index, a host -> value table with nginx-style wildcards.
//
// Names are ASCII host names (letters, digits, hyphens) in lower case; an
// internationalized name must be given in its punycode form (xn--...). A
// wildcard is "*." followed by at least two labels and matches one or more
// leading labels.
package domainname

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// Limits from RFC 1035 (names in presentation form without the trailing dot).
const (
	MaxLength      = 253
	MaxLabelLength = 63
	MaxLabels      = 127
)

// Error explains why a name was rejected.
type Error struct {
	Name   string // the name as given
	Reason string // e.g. `label "a_b" contains invalid character '_'`
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid domain name %q: %s", e.Name, e.Reason)
}

// ErrDuplicate is returned (wrapped) by Index.Add for a name already present.
var ErrDuplicate = errors.New("domain name already in the index")

// Normalize trims one trailing dot, lower-cases name and validates it as a
// domain name with at least two labels, e.g. "Example.COM." -> "example.com".
// The error is an *Error whose Reason names what is wrong.
func Normalize(name string) (string, error) {
	return normalize(name, 2)
}

// NormalizeHostname is Normalize but also accepts single-label names such as
// "localhost" or intranet hosts; routing rules use it, apps use Normalize.
func NormalizeHostname(name string) (string, error) {
	return normalize(name, 1)
}

// IsWildcard reports whether name has the wildcard form "*.rest".
func IsWildcard(name string) bool {
	return strings.HasPrefix(name, "*.")
}

func normalize(orig string, minLabels int) (string, error) {
	fail := func(format string, args ...any) (string, error) {
		return "", &Error{Name: orig, Reason: fmt.Sprintf(format, args...)}
	}
	name := strings.TrimSuffix(orig, ".")
	if name == "" {
		return fail("is empty")
	}
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			r, _ := utf8.DecodeRuneInString(name[i:])
			return fail("contains non-ASCII character %q; use the punycode form (xn--...)", r)
		}
	}
	if isIP(name) {
		return fail("is an IP address, not a domain")
	}
	if i := strings.LastIndexByte(name, ':'); i >= 0 && allDigits(name[i+1:]) {
		return fail("has a port (%q); give the name alone", name[i:])
	}
	name = lowerASCII(name)

	if n := strings.Count(name, ".") + 1; n > MaxLabels {
		return fail("has %d labels, more than %d", n, MaxLabels)
	}
	if len(name) > MaxLength {
		return fail("is %d bytes long, more than %d", len(name), MaxLength)
	}

	labels, wildcard := 0, false
	for rest := name; ; labels++ {
		label, tail, more := strings.Cut(rest, ".")
		if reason := checkLabel(label, labels, !more); reason != "" {
			return fail("%s", reason)
		}
		if label == "*" {
			wildcard = true
		}
		if !more {
			labels++
			break
		}
		rest = tail
	}
	if wildcard && labels-1 < 2 {
		return fail("wildcard needs at least two labels after \"*.\" (like *.example.com)")
	}
	if labels < minLabels {
		return fail("needs at least two labels (like example.com)")
	}
	if last := name[strings.LastIndexByte(name, '.')+1:]; allDigits(last) {
		return fail("top-level label %q is all digits (looks like an IP address, not a domain)", last)
	}
	return name, nil
}

// checkLabel returns why label (the index-th, last if final) is invalid, or "".
func checkLabel(label string, index int, final bool) string {
	switch {
	case label == "" && index == 0:
		return "starts with a dot"
	case label == "" && final:
		return "ends with two dots"
	case label == "":
		return "has an empty label (two dots in a row)"
	case len(label) > MaxLabelLength:
		return fmt.Sprintf("label %q is %d bytes long, more than %d", label, len(label), MaxLabelLength)
	case strings.Contains(label, "*"):
		if label == "*" && index == 0 && !final {
			return ""
		}
		return "wildcard \"*\" is allowed only as the whole leftmost label (like *.example.com)"
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if isLetterDigit(c) || c == '-' {
			continue
		}
		if c == '_' {
			return fmt.Sprintf("label %q contains invalid character '_' (underscores are not allowed in host names)", label)
		}
		return fmt.Sprintf("label %q contains invalid character %q (only letters, digits and hyphens)", label, rune(c))
	}
	if label[0] == '-' {
		return fmt.Sprintf("label %q starts with a hyphen", label)
	}
	if label[len(label)-1] == '-' {
		return fmt.Sprintf("label %q ends with a hyphen", label)
	}
	return ""
}

func isIP(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if _, err := netip.ParseAddrPort(s); err == nil {
		return true
	}
	// "[::1]" without a port.
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		_, err := netip.ParseAddr(s[1 : len(s)-1])
		return err == nil
	}
	return false
}

func isLetterDigit(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// lowerASCII lower-cases s, allocating only when s has upper-case letters.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
