package listfilter

import "strings"

// Pattern is a filter value: literal text with * wildcards (\* a literal
// star, \\ a backslash).
type Pattern struct {
	parts []string // literal pieces between stars
	wild  bool
}

// Compile turns a Cmp value into a Pattern.
func Compile(value string) Pattern {
	var parts []string
	var b strings.Builder
	wild := false
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c == '\\' && i+1 < len(value) {
			i++
			b.WriteByte(value[i])
			continue
		}
		if c == '*' {
			wild = true
			parts = append(parts, b.String())
			b.Reset()
			continue
		}
		b.WriteByte(c)
	}
	parts = append(parts, b.String())
	return Pattern{parts: parts, wild: wild}
}

// Wild reports whether the pattern has a wildcard.
func (p Pattern) Wild() bool { return p.wild }

// Literal is the pattern's text without wildcards (meaningful when !Wild).
func (p Pattern) Literal() string { return strings.Join(p.parts, "") }

// Suffix is the literal the pattern ends with when it is "*literal" (one
// leading star, no other): ok false otherwise.
func (p Pattern) Suffix() (string, bool) {
	if len(p.parts) == 2 && p.parts[0] == "" {
		return p.parts[1], true
	}
	return "", false
}

// Match reports whether s matches the pattern.
func (p Pattern) Match(s string) bool {
	if !p.wild {
		return s == p.parts[0]
	}
	first, last := p.parts[0], p.parts[len(p.parts)-1]
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	mid := p.parts[1 : len(p.parts)-1]
	for _, m := range mid {
		i := strings.Index(s, m)
		if i < 0 {
			return false
		}
		s = s[i+len(m):]
	}
	return strings.HasSuffix(s, last)
}
