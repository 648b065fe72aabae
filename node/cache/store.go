// Package cache is the edge node's HTTP cache: size-bounded stores (memory and
// disk), a key builder, freshness rules, request coalescing, Range serving, and
// indexes by host, URL prefix and surrogate key so purges never scan the cache.
package cache

import (
	"errors"
	"net/http"
	"sync/atomic"
	"time"
)

// Meta describes one stored response. Everything a purge or a freshness check
// needs lives here, so a disk store can rebuild the indexes from it at open.
type Meta struct {
	Key      string `json:"k"`           // storage key (variant key when the response varies)
	Primary  string `json:"p,omitempty"` // key before Vary is applied
	Host     string `json:"h"`
	Path     string `json:"u"`
	RawQuery string `json:"q,omitempty"`
	// KeyNoQuery and KeyArgs record how the key spec read the query
	// (KeySpec.IgnoreQuery, KeySpec.QueryArgs), so a purge by URL can
	// normalise its query the same way.
	KeyNoQuery bool        `json:"kn,omitempty"`
	KeyArgs    []string    `json:"ka,omitempty"`
	Status     int         `json:"s"`
	Header     http.Header `json:"hd,omitempty"`
	Tags       []string    `json:"t,omitempty"`
	Vary       []string    `json:"v,omitempty"` // canonical request header names
	// StoredAt is when the response was received; InitialAge is the origin's Age.
	StoredAt   time.Time     `json:"at"`
	InitialAge time.Duration `json:"ia,omitempty"`
	FreshUntil time.Time     `json:"fu"`
	// Windows after FreshUntil in which a stale copy may still be served.
	StaleWhileRevalidate time.Duration `json:"swr,omitempty"`
	StaleIfError         time.Duration `json:"sie,omitempty"`
	// SoftPurged marks an object a soft purge made stale: it is revalidated on
	// the next request instead of deleted.
	SoftPurged bool `json:"sp,omitempty"`
}

// Object is a stored response. Objects returned by a Store are shared and
// must be treated as read-only.
type Object struct {
	Meta Meta
	Body []byte
	// fields caches Result.Fields for hits on this object.
	fields atomic.Pointer[[]Field]
}

// size is the number of bytes an object is charged against a store's limit.
func (o *Object) size() int64 {
	n := int64(len(o.Body) + len(o.Meta.Key) + len(o.Meta.Host) + len(o.Meta.Path) + 256)
	for k, vs := range o.Meta.Header {
		n += int64(len(k))
		for _, v := range vs {
			n += int64(len(v))
		}
	}
	return n
}

// ErrTooLarge is returned by Put for an object bigger than the whole store.
var ErrTooLarge = errors.New("cache: object larger than the store")

// Store keeps objects by key within a byte budget, evicting the least
// recently used ones. Implementations are safe for concurrent use.
type Store interface {
	// Get returns the object stored under key; a damaged object is a miss.
	// key may alias a reused buffer: Get must not retain it.
	Get(key string) (*Object, bool)
	// Put stores obj under obj.Meta.Key, replacing any previous object.
	Put(obj *Object) error
	// Delete removes key and reports whether it was present.
	Delete(key string) bool
	// Range calls fn with the metadata of every stored object until fn returns false.
	Range(fn func(m *Meta) bool)
	// Len and Size report the number of objects and bytes charged.
	Len() int
	Size() int64
	Close() error
}

// EvictFunc is told about keys a store dropped to stay within its budget.
type EvictFunc func(key string)
