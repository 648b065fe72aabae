package domainname

import (
	"fmt"

	"github.com/strata-edge/strata/pkg/cowmap"
)

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
// anything else. Clone gives the next version, sharing all but what it
// changes (copy-on-write by shard: pkg/cowmap).
type Index[T any] struct {
	exact cowmap.Map[T]
	// wild is keyed by the part after "*.": "*.example.com" -> "example.com".
	wild cowmap.Map[T]
}

// Clone returns an index with the same names that shares x's storage until
// it is written. x must not be written afterwards; it stays readable.
func (x *Index[T]) Clone() Index[T] {
	return Index[T]{exact: x.exact.Clone(), wild: x.wild.Clone()}
}

// table returns the map domain (normalized) lives in and its key there.
func (x *Index[T]) table(domain string) (*cowmap.Map[T], string) {
	if IsWildcard(domain) {
		return &x.wild, domain[2:]
	}
	return &x.exact, domain
}

// Put binds domain (normalized, as given to Add) to v, replacing what it
// was bound to.
func (x *Index[T]) Put(domain string, v T) {
	m, key := x.table(domain)
	m.Set(key, v)
}

// Remove unbinds domain (as given to Add).
func (x *Index[T]) Remove(domain string) {
	m, key := x.table(domain)
	m.Delete(key)
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
	m, key := x.table(domain)
	if _, dup := m.Get(key); dup {
		return fmt.Errorf("add %q: %w", domain, ErrDuplicate)
	}
	m.Set(key, v)
	return nil
}

// Lookup returns the value for host (lower case, no port, no trailing dot):
// the exact entry if any, else the most specific matching wildcard. It does
// not allocate.
func (x *Index[T]) Lookup(host string) (T, bool) {
	if v, ok := x.exact.Get(host); ok {
		return v, true
	}
	if x.wild.Len() > 0 {
		// Longest suffix first; i > 0 so that at least one label is covered
		// by the "*".
		for i := 1; i < len(host); i++ {
			if host[i] == '.' {
				if v, ok := x.wild.Get(host[i+1:]); ok {
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
	m, key := x.table(domain)
	return m.Get(key)
}

// LookupFunc is Lookup that skips the values for which keep returns false:
// it returns the first value, in Lookup's order (exact, then wildcards from
// the most specific), that keep accepts. It costs one map look-up per label
// of host and does not allocate.
func (x *Index[T]) LookupFunc(host string, keep func(T) bool) (T, bool) {
	if v, ok := x.exact.Get(host); ok && keep(v) {
		return v, true
	}
	if x.wild.Len() > 0 {
		for i := 1; i < len(host); i++ {
			if host[i] == '.' {
				if v, ok := x.wild.Get(host[i+1:]); ok && keep(v) {
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
	return x.exact.Len() + x.wild.Len()
}
