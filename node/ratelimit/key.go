package ratelimit

import (
	"errors"
	"fmt"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/rules"
)

// A request's key is a 64-bit FNV-1a hash of the rule's identity and the
// key parts' values, never the values themselves: every counter has the
// same small size whatever the client sends, and the nodes of a cluster
// (which hash alike) exchange hashes, not header values.

type keyKind uint8

const (
	keyIP keyKind = iota
	keyHeader
	keyCookie
	keyQuery
	keyPath
)

type keyPart struct {
	kind keyKind
	name string // header (canonical case does not matter), cookie or query argument
}

func (k keyPart) String() string {
	switch k.kind {
	case keyIP:
		return "ip"
	case keyPath:
		return "path"
	case keyHeader:
		return "header:" + k.name
	case keyCookie:
		return "cookie:" + k.name
	default:
		return "query:" + k.name
	}
}

func compileKey(k *configv1.RateLimitKey) (keyPart, error) {
	named := func(kind keyKind, field, name string) (keyPart, error) {
		switch {
		case name == "":
			return keyPart{}, fmt.Errorf("%s: must not be empty", field)
		case len(name) > MaxNameLength:
			return keyPart{}, fmt.Errorf("%s: %d bytes, more than %d", field, len(name), MaxNameLength)
		}
		return keyPart{kind: kind, name: name}, nil
	}
	switch x := k.GetKey().(type) {
	case *configv1.RateLimitKey_ClientIp:
		return keyPart{kind: keyIP}, nil
	case *configv1.RateLimitKey_Path:
		return keyPart{kind: keyPath}, nil
	case *configv1.RateLimitKey_Header:
		return named(keyHeader, "header", x.Header)
	case *configv1.RateLimitKey_Cookie:
		return named(keyCookie, "cookie", x.Cookie)
	case *configv1.RateLimitKey_Query:
		return named(keyQuery, "query", x.Query)
	}
	return keyPart{}, errors.New("no key part set (want client_ip, header, cookie, query or path)")
}

// Key is the hash of req's key under r; ok is false when every part of the
// key is empty (a header-only key and no such header): like nginx, such a
// request is not counted. Combine a part with the client IP to count those
// per client.
func (r *Rule) Key(req rules.Request) (h uint64, ok bool) {
	h = r.seed
	for _, k := range r.keys {
		var v string
		switch k.kind {
		case keyIP:
			ip := req.ClientIP().As16()
			for _, c := range ip {
				h = hashByte(h, c)
			}
			h = hashByte(h, 0xff)
			ok = true
			continue
		case keyPath:
			v = req.Path()
		case keyHeader:
			v, _ = req.Header(k.name)
		case keyCookie:
			v, _ = req.Cookie(k.name)
		case keyQuery:
			v, _ = req.Query(k.name)
		}
		ok = ok || v != ""
		// The length first, so ("ab","c") and ("a","bc") differ.
		h = hashUint(h, uint64(len(v)))
		h = hashString(h, v)
	}
	return h, ok
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashByte(h uint64, c byte) uint64 { return (h ^ uint64(c)) * fnvPrime }

func hashString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

func hashUint(h, v uint64) uint64 {
	for i := 0; i < 8; i++ {
		h = hashByte(h, byte(v>>(8*i)))
	}
	return h
}
