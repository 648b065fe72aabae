package proxy

import "testing"

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
