package cache

import "container/list"

// The disk store's RAM tier: the most recently used objects stay decoded in
// memory within a byte budget, so a hit on hot content costs no open, read,
// checksum or JSON decoding, and returns the same *Object every time (whose
// Result.Fields are then computed once). It hangs off the entries of the
// disk LRU, under the store's lock: a Delete, a replacing Put or an
// eviction drops an entry's copy with the entry, so a purged or replaced
// object is never served from RAM.

// DefaultHotBytes is the RAM tier of a disk store unless SetHotBytes changes it.
const DefaultHotBytes = 64 << 20

// SetHotBytes sets the RAM tier's budget (0 turns it off).
func (d *Disk) SetHotBytes(n int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hotMax = n
	if d.hotLRU == nil {
		d.hotLRU = list.New()
	}
	d.trimHotLocked()
}

// hotGetLocked returns e's RAM copy, if any, as the most recently used.
func (d *Disk) hotGetLocked(e *diskEntry) *Object {
	if e.hot == nil {
		return nil
	}
	d.hotLRU.MoveToFront(e.hotEl)
	return e.hot
}

// hotSetLocked makes obj e's RAM copy.
func (d *Disk) hotSetLocked(e *diskEntry, obj *Object) {
	if d.hotMax <= 0 {
		return
	}
	d.hotDropLocked(e)
	sz := obj.size()
	if sz > d.hotMax/4 { // one big object must not flush the whole tier
		return
	}
	e.hot, e.hotSize, e.hotEl = obj, sz, d.hotLRU.PushFront(e)
	d.hotSize += sz
	d.trimHotLocked()
}

// hotDropLocked forgets e's RAM copy.
func (d *Disk) hotDropLocked(e *diskEntry) {
	if e.hot == nil {
		return
	}
	d.hotLRU.Remove(e.hotEl)
	d.hotSize -= e.hotSize
	e.hot, e.hotEl, e.hotSize = nil, nil, 0
}

func (d *Disk) trimHotLocked() {
	for d.hotSize > d.hotMax && d.hotLRU.Len() > 0 {
		d.hotDropLocked(d.hotLRU.Back().Value.(*diskEntry))
	}
}
