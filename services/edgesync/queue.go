package edgesync

import "sync"

// queue hands items from producers to one consumer: Push appends and
// signals Wait, Take empties it.
type queue[T any] struct {
	mu    sync.Mutex
	items []T
	ready chan struct{}
}

func newQueue[T any]() *queue[T] { return &queue[T]{ready: make(chan struct{}, 1)} }

// Push appends v and wakes the consumer.
func (q *queue[T]) Push(v T) {
	q.mu.Lock()
	q.items = append(q.items, v)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Take returns and forgets every queued item.
func (q *queue[T]) Take() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.items
	q.items = nil
	return out
}

// Wait is signalled after a Push.
func (q *queue[T]) Wait() <-chan struct{} { return q.ready }

// Edit runs f on the queued items: a producer may still change an item the
// consumer has not taken.
func (q *queue[T]) Edit(f func(items []T)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	f(q.items)
}
