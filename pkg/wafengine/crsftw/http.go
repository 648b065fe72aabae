package crsftw

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Bytes is the request as sent on the wire: Raw when the test gives it, else the
// request line, the headers in order and the body (with Connection: close added, as
// go-ftw does, so that every request has its own connection).
func (r *Request) Bytes() []byte {
	if r.Raw != nil {
		return r.Raw
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s\r\n", r.Method, r.URI, r.Version)
	conn := false
	for _, h := range r.Headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
		conn = conn || strings.EqualFold(h[0], "Connection")
	}
	if !conn {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	b.Write(r.Body)
	return b.Bytes()
}

// MaxNodeMatches is how many matches a node's hit carries (wafengine.MaxMatches).
const MaxNodeMatches = 16

// NodeView is what a node shows of an outcome: the rules of its hit, which exists
// only for a blocked request and holds at most MaxNodeMatches detections. Judging
// Coraza alone through NodeView compares it with a node on equal terms.
func NodeView(o Outcome) Outcome {
	v := Outcome{Status: o.Status}
	if o.Status < 400 {
		return v
	}
	v.IDs = o.Detected
	if len(v.IDs) > MaxNodeMatches {
		v.IDs = v.IDs[:MaxNodeMatches]
	}
	return v
}

var requestIDRe = regexp.MustCompile(`request id ([A-Za-z0-9]+)`)

// HTTP is a target that sends each request to addr over its own TCP connection and
// reads the answer; for a blocked request (the node names the hit's request id in its
// answer) hit returns the ids of the rules the node's hit lists.
func HTTP(addr string, hit func(ctx context.Context, requestID string) ([]int, error)) Target {
	return func(ctx context.Context, r Request) (Outcome, error) {
		d := net.Dialer{Timeout: 5 * time.Second}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return Outcome{}, err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(15 * time.Second))
		if _, err := c.Write(r.Bytes()); err != nil {
			return Outcome{}, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: r.Method})
		if err != nil {
			return Outcome{Status: 0}, nil // the node closed the connection: nothing seen
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		o := Outcome{Status: resp.StatusCode}
		id := resp.Header.Get("Strata-Waf-Request-Id") // a HEAD answer has no body
		if m := requestIDRe.FindSubmatch(body); m != nil {
			id = string(m[1])
		}
		if id != "" && hit != nil {
			ids, err := hit(ctx, id)
			if err != nil {
				return o, err
			}
			o.IDs = ids
		}
		return o, nil
	}
}
