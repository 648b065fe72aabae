package authz

import (
	"fmt"
	"strings"
)

// maxSegmentLen bounds each part of a permission name.
const maxSegmentLen = 32

// Permission names what a caller may do: "service.kind.verb" (config.app.write,
// dns.zone.read) or "service.verb" (purge.create) for services with one kind of
// object. Segments are lower-case letters, digits and '_', starting with a letter.
type Permission struct {
	Service string
	Kind    string // empty for two-segment permissions
	Verb    string
}

// String returns the permission's name.
func (p Permission) String() string {
	if p.Kind == "" {
		return p.Service + "." + p.Verb
	}
	return p.Service + "." + p.Kind + "." + p.Verb
}

// ParsePermission parses a concrete permission name (no wildcards).
func ParsePermission(s string) (Permission, error) {
	segs, err := splitSegments(s, false)
	if err != nil {
		return Permission{}, err
	}
	if len(segs) == 2 {
		return Permission{Service: segs[0], Verb: segs[1]}, nil
	}
	return Permission{Service: segs[0], Kind: segs[1], Verb: segs[2]}, nil
}

// Pattern matches permissions: a permission name in which any segment may be
// "*" ("config.*.read", "*.*.read", "dns.*.*"), or "*" alone for every
// permission. A pattern matches names with the same number of segments only,
// except "*".
type Pattern struct {
	all  bool
	segs []string
}

// ParsePattern parses a permission pattern.
func ParsePattern(s string) (Pattern, error) {
	if s == "*" {
		return Pattern{all: true}, nil
	}
	segs, err := splitSegments(s, true)
	if err != nil {
		return Pattern{}, err
	}
	return Pattern{segs: segs}, nil
}

// String returns the pattern as written.
func (p Pattern) String() string {
	if p.all {
		return "*"
	}
	return strings.Join(p.segs, ".")
}

// Matches reports whether the permission name perm is covered by p.
func (p Pattern) Matches(perm string) bool {
	if p.all {
		return true
	}
	for i, seg := range p.segs {
		var part string
		if i == len(p.segs)-1 {
			part = perm
			if strings.IndexByte(part, '.') >= 0 {
				return false
			}
		} else {
			var ok bool
			part, perm, ok = strings.Cut(perm, ".")
			if !ok {
				return false
			}
		}
		if seg != "*" && seg != part {
			return false
		}
	}
	return true
}

// splitSegments checks and splits a name of two or three segments.
func splitSegments(s string, wildcards bool) ([]string, error) {
	if s == "" {
		return nil, fmt.Errorf("empty permission: want \"service.kind.verb\" or \"service.verb\"")
	}
	segs := strings.Split(s, ".")
	if len(segs) < 2 || len(segs) > 3 {
		return nil, fmt.Errorf("permission %q has %d segments: want \"service.kind.verb\" or \"service.verb\"", s, len(segs))
	}
	for i, seg := range segs {
		if wildcards && seg == "*" {
			continue
		}
		if err := checkSegment(seg); err != nil {
			return nil, fmt.Errorf("permission %q, segment %d: %w", s, i+1, err)
		}
	}
	return segs, nil
}

func checkSegment(seg string) error {
	if seg == "" {
		return fmt.Errorf("empty segment")
	}
	if len(seg) > maxSegmentLen {
		return fmt.Errorf("longer than %d characters", maxSegmentLen)
	}
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case 'a' <= c && c <= 'z':
		case ('0' <= c && c <= '9') || c == '_':
			if i == 0 {
				return fmt.Errorf("must start with a lower-case letter")
			}
		default:
			return fmt.Errorf("character %q not allowed (lower-case letters, digits, '_')", rune(c))
		}
	}
	return nil
}
