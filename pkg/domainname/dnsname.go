package domainname

import (
	"fmt"
	"strings"
)

// MaxWireLength is the longest DNS name on the wire (RFC 1035 2.3.4): the
// presentation form plus one length byte per label and the root.
const MaxWireLength = 255

// CheckDNSName validates a name of the DNS: a zone origin, a record owner or
// a target, with or without the trailing dot, relative names included. It is
// the one check the control plane (services/dns) and the edge nodes
// (node/dns) apply, and words its reasons like Normalize does for app
// domains ("has an empty label (two dots in a row)"). Unlike a host name a
// DNS label may hold underscores (_dmarc, _acme-challenge) and slashes
// (RFC 2317 reverse zones), and start or end with a hyphen. The error is an
// *Error.
func CheckDNSName(orig string) error {
	fail := func(format string, args ...any) error {
		return &Error{Name: orig, Reason: fmt.Sprintf(format, args...)}
	}
	name := strings.TrimSuffix(orig, ".")
	if name == "" {
		return fail("is empty")
	}
	if n := len(name) + 2; n > MaxWireLength {
		return fail("is %d bytes long on the wire, more than %d", n, MaxWireLength)
	}
	for i, rest := 0, name; ; i++ {
		label, tail, more := strings.Cut(rest, ".")
		switch {
		case label == "" && i == 0:
			return fail("starts with a dot")
		case label == "" && !more:
			return fail("ends with two dots")
		case label == "":
			return fail("has an empty label (two dots in a row)")
		case len(label) > MaxLabelLength:
			return fail("label %q is %d bytes long, more than %d", label, len(label), MaxLabelLength)
		case label == "*" && i == 0:
		case strings.Contains(label, "*"):
			return fail("wildcard \"*\" is allowed only as the whole leftmost label (like *.example.com)")
		}
		for j := 0; j < len(label); j++ {
			if c := label[j]; !isLetterDigit(c) && c != '-' && c != '_' && c != '/' && c != '*' {
				return fail("label %q contains invalid character %q (letters, digits, '-', '_' and '/')", label, rune(c))
			}
		}
		if !more {
			return nil
		}
		rest = tail
	}
}

// Detail is the reason with the name, for a field violation:
// `"bad..zone" has an empty label (two dots in a row)`.
func (e *Error) Detail() string { return fmt.Sprintf("%q %s", e.Name, e.Reason) }
