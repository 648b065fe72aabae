package cache

import (
	"net/http"
	"sync"
	"time"
	"unsafe"
)

// The hit path. Do prepares for a fill it may need (the proxy detaches the
// request for it), which costs allocations on every request; Hit is Do's
// fresh-hit case alone, allocation-free, so a server tries it first and runs
// Do only when it reports false.

var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// Hit fills res from a fresh stored copy of r under p (CacheStatus HIT,
// Range applied) and reports true; false when Do must answer instead (miss,
// expired, soft-purged, bypass, held, not GET/HEAD). res.Header and res.Body
// are shared with the store: read-only.
func (c *Cache) Hit(r *Request, p *Policy, res *Result) bool {
	if p == nil || p.Bypass || (r.Method != http.MethodGet && r.Method != http.MethodHead) || c.held.Load() {
		return false
	}
	bp := keyBufs.Get().(*[]byte)
	b := p.Key.appendKey((*bp)[:0], r)
	if names := c.idx.varyBytes(b); len(names) > 0 {
		b = appendVary(b, names, r)
	}
	obj, ok := c.store.Get(unsafe.String(unsafe.SliceData(b), len(b))) // Get retains no key
	*bp = b
	keyBufs.Put(bp)
	if !ok {
		return false
	}
	now := c.now()
	if !now.Before(obj.Meta.FreshUntil) || obj.Meta.SoftPurged {
		return false
	}
	c.counts.status[statusHit].Add(1)
	*res = Result{Status: obj.Meta.Status, Header: obj.Meta.Header, Body: obj.Body, CacheStatus: StatusHit,
		AgeSeconds: max(0, int64((now.Sub(obj.Meta.StoredAt)+obj.Meta.InitialAge)/time.Second)), obj: obj}
	if res.Status == http.StatusOK && r.Method == http.MethodGet {
		applyRange(r, res)
	}
	return true
}

// Field is one stored response header line.
type Field struct{ Name, Value string }

// Fields lists the stored response headers a server sends with res, computed
// once per stored object (no map walk per hit); Content-Length, Age and
// X-Cache-Status are left out: the server sets them from res. Read-only.
func (res *Result) Fields() []Field {
	if res.obj == nil {
		return headerFields(res.Header)
	}
	if f := res.obj.fields.Load(); f != nil {
		return *f
	}
	f := headerFields(res.obj.Meta.Header)
	res.obj.fields.Store(&f)
	return f
}

func headerFields(h http.Header) []Field {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	f := make([]Field, 0, n)
	for k, vs := range h {
		if k == "Content-Length" || k == "Age" || k == StatusHeader {
			continue
		}
		for _, v := range vs {
			f = append(f, Field{k, v})
		}
	}
	return f
}

// Fresh reports whether a fresh copy of r under p is stored, without
// counting a hit (a push checks that its fetch was kept).
func (c *Cache) Fresh(r *Request, p *Policy) bool {
	if p == nil || p.Bypass || c.held.Load() {
		return false
	}
	primary := p.Key.Build(r)
	obj, ok := c.store.Get(varyKey(primary, c.idx.vary(primary), r))
	return ok && c.now().Before(obj.Meta.FreshUntil) && !obj.Meta.SoftPurged
}
