package proxy

import (
	"strings"
	"testing"

	"github.com/strata-edge/strata/pkg/validate"
)

// A path the scanner lets through unchanged must already be in the form
// the rules see: cleaning it changes nothing.
func FuzzPathNeedsNormalizing(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/admin/../x", "/a%2fb", "//a", "/a/.", "/.well-known/x", "*", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if pathNeedsNormalizing(p) != pathNeedsNormalizing([]byte(p)) {
			t.Fatalf("%q: string and []byte disagree", p)
		}
		if !pathNeedsNormalizing(p) && cleanPath(p) != p {
			t.Fatalf("%q passes as normalized, but cleans to %q", p, cleanPath(p))
		}
	})
}

// scanHeaders flags a bad name exactly when some line's name (up to the
// colon) is empty or has a byte outside the token set.
func FuzzScanHeaderNames(f *testing.F) {
	for _, s := range []string{"Host: a\r\n\r\n", "Content Length: 5\r\n", "Transfer_Encoding: x\r\n", "X:\r\nY: 1\r\n", ": v\r\n", "no colon\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := scanHeaders(raw)
		bad, under := false, false
		lines := strings.Split(string(raw), "\n")
		complete := len(lines) - 1 // lines ended by \n
		if lines[complete] == "" {
			lines = lines[:complete]
		}
		for i, line := range lines {
			if line == "\r" && i < complete {
				break // the empty line ending the headers
			}
			name, _, ok := strings.Cut(line, ":")
			if !ok || name == "" {
				bad = true
			}
			for j := 0; j < len(name); j++ {
				if !validate.TokenByte(name[j]) {
					bad = true
				} else if name[j] == '_' {
					under = true
				}
			}
		}
		if bad != (got&hdrBadName != 0) {
			t.Fatalf("%q: bad name %v, scanHeaders says %v", raw, bad, got&hdrBadName != 0)
		}
		if !bad && under != (got&hdrUnderscore != 0) {
			t.Fatalf("%q: underscore %v, scanHeaders says %v", raw, under, got&hdrUnderscore != 0)
		}
	})
}

func FuzzCheckRequestLine(f *testing.F) {
	f.Add("GET", "/", "HTTP/1.1")
	f.Add("CONNECT", "a:443", "HTTP/1.1")
	f.Add("OPTIONS", "*", "HTTP/2.0")
	f.Fuzz(func(t *testing.T, method, target, proto string) {
		status, msg := checkRequestLine(method, target, proto)
		if (status == 0) != (msg == "") {
			t.Fatalf("status %d with message %q", status, msg)
		}
		if status == 0 && (method == "CONNECT" || target == "*" || proto != "" && !(len(proto) == 8 && strings.HasPrefix(proto, "HTTP/1.") && proto[7] >= '0' && proto[7] <= '9')) {
			t.Fatalf("%q %q %q accepted", method, target, proto)
		}
	})
}
