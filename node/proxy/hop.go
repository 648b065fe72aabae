package proxy

import "github.com/strata-edge/strata/pkg/validate"

// Headers the fast path must look at before forwarding, found in one pass
// over the raw request headers so that the common request (none of them)
// costs a single scan instead of a dozen lookups.
const (
	hdrConnection uint16 = 1 << iota
	hdrKeepAlive
	hdrProxy // Proxy-Connection, Proxy-Authorization, Proxy-Authenticate
	hdrTE
	hdrTrailer
	hdrUpgrade
	hdrExpect
	hdrXFF
	hdrVia
	hdrBadName    // a header name that is not a token ("Content Length")
	hdrUnderscore // a header name with '_' ("Transfer_Encoding")

	hdrHop = hdrConnection | hdrKeepAlive | hdrProxy | hdrTE | hdrTrailer | hdrUpgrade | hdrExpect
)

var scanNames = [...]struct {
	name string // lower case, with the colon (a prefix for "proxy-")
	bit  uint16
}{
	{"connection:", hdrConnection},
	{"keep-alive:", hdrKeepAlive},
	{"proxy-", hdrProxy},
	{"te:", hdrTE},
	{"trailer:", hdrTrailer},
	{"upgrade:", hdrUpgrade},
	{"expect:", hdrExpect},
	{"x-forwarded-for:", hdrXFF},
	{"via:", hdrVia},
}

// scanHeaders returns which of the headers above occur in raw (header lines
// as received, "Name: value\r\n"...), and whether a name is not a token
// or has an underscore (conform.go).
func scanHeaders(raw []byte) uint16 {
	var found uint16
	for i := 0; i < len(raw); {
		if raw[i] == '\r' && i+1 < len(raw) && raw[i+1] == '\n' {
			break // the empty line ending the headers
		}
		switch raw[i] | 0x20 {
		case 'c', 'k', 'p', 't', 'u', 'e', 'x', 'v':
			for _, n := range scanNames {
				if hasPrefixFold(raw[i:], n.name) {
					found |= n.bit
					break
				}
			}
		}
		// The name, then the rest of the line.
		j := i
		for j < len(raw) && raw[j] != ':' && raw[j] != '\n' {
			if !validate.TokenByte(raw[j]) {
				found |= hdrBadName
			} else if raw[j] == '_' {
				found |= hdrUnderscore
			}
			j++
		}
		if j == i || j == len(raw) || raw[j] != ':' {
			found |= hdrBadName // empty name or no colon
		}
		i = j
		for i < len(raw) && raw[i] != '\n' {
			i++
		}
		i++
	}
	return found
}

// hasPrefixFold reports whether b starts with the lower-case ASCII s,
// ignoring case (and spaces before a colon, which RFC 9112 forbids anyway).
func hasPrefixFold(b []byte, s string) bool {
	if len(b) < len(s) {
		return false
	}
	for j := 0; j < len(s); j++ {
		if b[j]|0x20 != s[j] && !(s[j] == '-' && b[j] == '-') && !(s[j] == ':' && b[j] == ':') {
			return false
		}
	}
	return true
}
