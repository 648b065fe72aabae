package cache

import (
	"container/list"
	"sync"
)

// Memory is a size-bounded LRU store held in process memory.
type Memory struct {
	mu      sync.Mutex
	max     int64
	size    int64
	lru     *list.List // front = most recently used; values are *memEntry
	items   map[string]*list.Element
	onEvict EvictFunc
}

type memEntry struct {
	obj  *Object
	size int64
}

// NewMemory returns a memory store holding at most maxBytes; onEvict may be nil.
func NewMemory(maxBytes int64, onEvict EvictFunc) *Memory {
	return &Memory{max: maxBytes, lru: list.New(), items: make(map[string]*list.Element), onEvict: onEvict}
}

func (m *Memory) Get(key string) (*Object, bool) {
	m.mu.Lock()
	el, ok := m.items[key]
	if !ok {
		m.mu.Unlock()
		return nil, false
	}
	m.lru.MoveToFront(el)
	obj := el.Value.(*memEntry).obj
	m.mu.Unlock()
	return obj, true
}

func (m *Memory) Put(obj *Object) error {
	sz := obj.size()
	if sz > m.max {
		return ErrTooLarge
	}
	key := obj.Meta.Key
	var evicted []string
	m.mu.Lock()
	if el, ok := m.items[key]; ok {
		e := el.Value.(*memEntry)
		m.size += sz - e.size
		e.obj, e.size = obj, sz
		m.lru.MoveToFront(el)
	} else {
		m.items[key] = m.lru.PushFront(&memEntry{obj: obj, size: sz})
		m.size += sz
	}
	for m.size > m.max {
		el := m.lru.Back()
		e := el.Value.(*memEntry)
		m.lru.Remove(el)
		delete(m.items, e.obj.Meta.Key)
		m.size -= e.size
		evicted = append(evicted, e.obj.Meta.Key)
	}
	m.mu.Unlock()
	if m.onEvict != nil {
		for _, k := range evicted {
			m.onEvict(k)
		}
	}
	return nil
}

func (m *Memory) Delete(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.items[key]
	if !ok {
		return false
	}
	m.lru.Remove(el)
	delete(m.items, key)
	m.size -= el.Value.(*memEntry).size
	return true
}

func (m *Memory) Range(fn func(*Meta) bool) {
	m.mu.Lock()
	metas := make([]*Meta, 0, len(m.items))
	for _, el := range m.items {
		metas = append(metas, &el.Value.(*memEntry).obj.Meta)
	}
	m.mu.Unlock()
	for _, md := range metas {
		if !fn(md) {
			return
		}
	}
}

func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items)
}

func (m *Memory) Size() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.size
}

func (m *Memory) Close() error { return nil }

var _ Store = (*Memory)(nil)
