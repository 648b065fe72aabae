package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"
)

// DialError reports that no connection (TCP connect, then TLS handshake when
// the upstream speaks TLS) could be made to a server. Nothing was sent, so the
// request may be retried on another server.
type DialError struct {
	Addr string
	Err  error
}

func (e *DialError) Error() string { return fmt.Sprintf("connect to %s: %v", e.Addr, e.Err) }
func (e *DialError) Unwrap() error { return e.Err }

// Timeout reports whether connecting timed out (nginx answers 504 then).
func (e *DialError) Timeout() bool {
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout() || errors.Is(e.Err, context.DeadlineExceeded)
}

// dial connects to addr within timeout and, with tlsConf, completes the TLS
// handshake within the same budget. The connection it returns enforces the
// read and write timeouts as the longest pause between two reads or writes
// (nginx's proxy_read_timeout semantics), not as a cap on the whole exchange,
// so long downloads keep working.
func dial(ctx context.Context, addr string, timeout time.Duration, tlsConf *tls.Config, read, write time.Duration, self bool) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if ctx == nil {
		ctx = context.Background()
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &DialError{Addr: addr, Err: err}
	}
	if tlsConf != nil {
		tc := tls.Client(c, tlsConf)
		hctx, cancel := context.WithTimeout(ctx, timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			return nil, &DialError{Addr: addr, Err: fmt.Errorf("tls handshake: %w", err)}
		}
		c = tc
	}
	if read <= 0 && write <= 0 {
		return c, nil
	}
	return &deadlineConn{Conn: c, read: read, write: write, self: self}, nil
}

// deadlineConn keeps a read (write) deadline ahead of each Read (Write).
// With self set it re-arms before every call (net/http's transport, which
// knows nothing about it); otherwise the fast path's transport calls arm
// once per request and per streamed read, which saves clock reads on the
// hot path. Either way a deadline only moves once a sixteenth of the
// timeout has passed since it was set, so the effective timeout lies between
// 15/16 and 16/16 of the configured one and most arms are no-ops.
type deadlineConn struct {
	net.Conn
	read, write       time.Duration
	self              bool
	readSet, writeSet int64 // unix nanos when the deadline was last set
}

// armRead moves the read deadline to now plus the read timeout (when due).
// Reads and writes may run on different goroutines (net/http's transport),
// so each side only touches its own fields.
func (c *deadlineConn) armRead(now time.Time) error {
	if n := now.UnixNano(); c.read > 0 && n-c.readSet > int64(c.read/16) {
		if err := c.Conn.SetReadDeadline(now.Add(c.read)); err != nil {
			return err
		}
		c.readSet = n
	}
	return nil
}

func (c *deadlineConn) armWrite(now time.Time) error {
	if n := now.UnixNano(); c.write > 0 && n-c.writeSet > int64(c.write/16) {
		if err := c.Conn.SetWriteDeadline(now.Add(c.write)); err != nil {
			return err
		}
		c.writeSet = n
	}
	return nil
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if c.self {
		if err := c.armRead(time.Now()); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if c.self {
		if err := c.armWrite(time.Now()); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}

// armConn arms the read deadline of c (and with write, its write deadline)
// when it is a deadlineConn.
func armConn(c net.Conn, now time.Time, write bool) error {
	dc, ok := c.(*deadlineConn)
	if !ok {
		return nil
	}
	if write {
		if err := dc.armWrite(now); err != nil {
			return err
		}
	}
	return dc.armRead(now)
}

// SetReadDeadline and SetWriteDeadline from a client library override ours
// until the next re-arm; they are forwarded unchanged.
func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.readSet = 0
	return c.Conn.SetReadDeadline(t)
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.writeSet = 0
	return c.Conn.SetWriteDeadline(t)
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.readSet, c.writeSet = 0, 0
	return c.Conn.SetDeadline(t)
}
