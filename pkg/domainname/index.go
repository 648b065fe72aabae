package domainname

import "fmt"

// Index maps domain names, exact or wildcard, to values: the routing table from
// a request's host to the app serving it.
//
// Lookup follows nginx server_name semantics: an exact name wins; otherwise the
// most specific wildcard does ("*.b.example.com" beats "*.example.com" for
// x.b.example.com). A wildcard matches one or more leading labels but not the
// bare name ("*.example.com" does not match example.com).
//
// The zero value is empty and ready to use. Build an Index, then share it
// read-only: concurrent Lookups are safe, Add must not run concurrently with
// anything else.
type Index[T any] struct {
	exact map[string]T
	// wild is keyed by the part after "*.": "*.example.com" -> "example.com".
	wild map[string]T
}

// Add binds domain (already normalized: see Normalize) to v. A name that is
// not normalized is rejected with an *Error; a name added before with an error
// wrapping ErrDuplicate.
func (x *Index[T]) Add(domain string, v T) error {
	n, err := Normalize(domain)
	if err != nil {
		return err
	}
	if n != domain {
		return &Error{Name: domain, Reason: fmt.Sprintf("is not normalized (want %q)", n)}
	}
	m := &x.exact
	key := domain
	if IsWildcard(domain) {
		m, key = &x.wild, domain[2:]
	}
	if *m == nil {
		*m = make(map[string]T)
	}
	if _, dup := (*m)[key]; dup {
		return fmt.Errorf("add %q: %w", domain, ErrDuplicate)
	}
	(*m)[key] = v
	return nil
}

// Lookup returns the value for host (lower case, no port, no trailing dot):
// the exact entry if any, else the most specific matching wildcard. It does
// not allocate.
func (x *Index[T]) Lookup(host string) (T, bool) {
	if v, ok := x.exact[host]; ok {
		return v, true
	}
	if len(x.wild) > 0 {
		// Longest suffix first; i > 0 so that at least one label is covered
		// by the "*".
		for i := 1; i < len(host); i++ {
			if host[i] == '.' {
				if v, ok := x.wild[host[i+1:]]; ok {
					return v, true
				}
			}
		}
	}
	var zero T
	return zero, false
}

// Get returns the value bound to domain itself (an exact name or a wildcard
// pattern, as given to Add), without wildcard matching.
func (x *Index[T]) Get(domain string) (T, bool) {
	if IsWildcard(domain) {
		v, ok := x.wild[domain[2:]]
		return v, ok
	}
	v, ok := x.exact[domain]
	return v, ok
}

// LookupFunc is Lookup that skips the values for which keep returns false:
// it returns the first value, in Lookup's order (exact, then wildcards from
// the most specific), that keep accepts. It costs one map look-up per label
// of host and does not allocate.
func (x *Index[T]) LookupFunc(host string, keep func(T) bool) (T, bool) {
	if v, ok := x.exact[host]; ok && keep(v) {
		return v, true
	}
	if len(x.wild) > 0 {
		for i := 1; i < len(host); i++ {
			if host[i] == '.' {
				if v, ok := x.wild[host[i+1:]]; ok && keep(v) {
					return v, true
				}
			}
		}
	}
	var zero T
	return zero, false
}

// Len returns the number of names added, exact and wildcard.
func (x *Index[T]) Len() int {
	return len(x.exact) + len(x.wild)
}
