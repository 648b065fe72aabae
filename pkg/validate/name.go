// Package validate holds the checks that the control plane and the nodes
// both apply, so that a value one side accepts the other accepts too, and
// the same mistake reads the same wherever it is made. Checks return the
// reason a value is refused ("" when it is fine); the caller names the field.
package validate

import (
	"fmt"
	"unicode/utf8"
)

// MaxNameLength bounds object names, in bytes.
const MaxNameLength = 64

// Name returns why s cannot name an object (app, upstream, rule, partition,
// cluster, node, user, group, role), or "". A name is 1-64 lower-case
// letters, digits, '-', '_' and '.', starts with a letter or digit, has no
// ".." and does not end with '.': any name is also a stream name segment.
func Name(s string) string { return NameUpTo(s, MaxNameLength) }

// NameUpTo is Name with another length bound, for ids made of several
// names (a Kubernetes set id joins cluster, namespace, Service and port).
func NameUpTo(s string, max int) string {
	switch {
	case s == "":
		return "is required"
	case len(s) > max:
		return fmt.Sprintf("is %d characters long, more than %d", len(s), max)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '-' || c == '_' || c == '.':
			if i == 0 {
				return fmt.Sprintf("%q must start with a lower-case letter or digit", s)
			}
			if c == '.' && s[i-1] == '.' {
				return fmt.Sprintf(`%q must not contain ".."`, s)
			}
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return fmt.Sprintf("%q: invalid character %q is not allowed (names are lower case letters, digits, '-', '_' and '.')", s, r)
		}
	}
	if s[len(s)-1] == '.' {
		return fmt.Sprintf("%q must not end with '.'", s)
	}
	return ""
}
