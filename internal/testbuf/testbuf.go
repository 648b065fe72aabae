// Package testbuf is a buffer that a process, server or logger writes
// while a test polls what it wrote (banners, logs).
package testbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for writers and concurrent readers.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
