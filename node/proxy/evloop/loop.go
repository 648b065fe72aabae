//go:build linux

// Package evloop is the I/O machinery of the proxy's event-loop engine: an
// edge-triggered epoll loop over non-blocking sockets (loop.go) and a
// strict HTTP/1.1 head parser (http1.go). It knows nothing of routing; the
// adapter in package proxy (loop.go there) drives it.
package evloop

import (
	"errors"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Handler receives the events of one file descriptor, on the loop's
// goroutine. ev holds unix.EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP bits.
type Handler interface {
	Event(ev uint32)
}

// Loop is one epoll instance run by one goroutine. Every method but Post
// and Close must be called from that goroutine (from a Handler or a task).
type Loop struct {
	epfd, wake int
	handlers   []Handler // by fd: descriptors are small, dense integers

	mu     sync.Mutex
	tasks  []func()
	run    []func() // tasks being run: swapped with tasks, no allocation
	closed bool
}

// New returns a loop with its epoll and wake-up descriptors open.
func New() (*Loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	l := &Loop{epfd: epfd, wake: wake}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, err
	}
	return l, nil
}

// Add registers fd edge-triggered for reading and writing: h is told
// whenever the socket becomes readable or writable, and must then read or
// write until EAGAIN.
func (l *Loop) Add(fd int, h Handler) error {
	return l.add(fd, h, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET)
}

// AddListener registers a listening socket level-triggered and exclusive:
// of several loops sharing it, one is woken per connection.
func (l *Loop) AddListener(fd int, h Handler) error {
	return l.add(fd, h, unix.EPOLLIN|unix.EPOLLEXCLUSIVE)
}

func (l *Loop) add(fd int, h Handler, events uint32) error {
	for fd >= len(l.handlers) {
		l.handlers = append(l.handlers, make([]Handler, len(l.handlers)+64)...)
	}
	l.handlers[fd] = h
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.handlers[fd] = nil
		return err
	}
	return nil
}

// Del forgets fd; the caller still owns (and closes) it.
func (l *Loop) Del(fd int) {
	if fd < len(l.handlers) {
		l.handlers[fd] = nil
	}
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
}

// Post runs f on the loop's goroutine soon; safe from any goroutine. False
// when the loop is closed (f will not run).
func (l *Loop) Post(f func()) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.tasks = append(l.tasks, f)
	first := len(l.tasks) == 1
	l.mu.Unlock()
	if first {
		var one = [8]byte{1}
		_, _ = unix.Write(l.wake, one[:])
	}
	return true
}

// Close makes Run return after its current round.
func (l *Loop) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	var one = [8]byte{1}
	_, _ = unix.Write(l.wake, one[:])
}

// Run waits for events and dispatches them until Close, calling tick about
// every interval. With spin > 0 it first polls without blocking that many
// times before sleeping in epoll_wait (a loop that sleeps less is
// rescheduled less often when another process holds the other core).
func (l *Loop) Run(interval time.Duration, spin int, tick func(now time.Time)) error {
	events := make([]unix.EpollEvent, 256)
	next := time.Now().Add(interval)
	idle := 0
	for {
		wait := int(time.Until(next) / time.Millisecond)
		if wait < 0 {
			wait = 0
		}
		if idle < spin {
			wait = 0
		}
		n, err := unix.EpollWait(l.epfd, events, wait)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return err
		}
		if n > 0 {
			idle = 0
		} else {
			idle++
		}
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			if fd == l.wake {
				var b [8]byte
				_, _ = unix.Read(l.wake, b[:])
				continue
			}
			if fd < len(l.handlers) && l.handlers[fd] != nil {
				l.handlers[fd].Event(events[i].Events)
			}
		}
		if l.runTasks() {
			return nil
		}
		if now := time.Now(); !now.Before(next) {
			tick(now)
			next = now.Add(interval)
		}
	}
}

// runTasks runs the posted tasks; true when the loop is closed.
func (l *Loop) runTasks() bool {
	l.mu.Lock()
	l.tasks, l.run = l.run[:0], l.tasks
	closed := l.closed
	l.mu.Unlock()
	for i, f := range l.run {
		f()
		l.run[i] = nil
	}
	return closed
}

// Shutdown releases the loop's descriptors; call after Run returned.
func (l *Loop) Shutdown() {
	unix.Close(l.epfd)
	unix.Close(l.wake)
}

// Write writes bufs with writev until done or the socket is full: it
// returns what is left (empty: all written) and unix.EAGAIN when the
// socket is full, or another error.
func Write(fd int, bufs [][]byte) ([][]byte, error) {
	for len(bufs) > 0 {
		n, err := unix.Writev(fd, bufs)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return bufs, err
		}
		for n > 0 {
			if n >= len(bufs[0]) {
				n -= len(bufs[0])
				bufs[0] = nil
				bufs = bufs[1:]
			} else {
				bufs[0] = bufs[0][n:]
				n = 0
			}
		}
	}
	return bufs, nil
}
