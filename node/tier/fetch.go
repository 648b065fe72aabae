package tier

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Timeouts of a request to a parent: connecting, and waiting for the
// response headers (the parent may be filling from its origin meanwhile).
const (
	DialTimeout           = 2 * time.Second
	ResponseHeaderTimeout = 60 * time.Second
)

// PerCluster is how many nodes of one parent cluster a miss tries (the
// key's node, then its backup) before the next cluster.
const PerCluster = 2

// ErrNoParent: no parent cluster has a healthy node, or every one asked
// failed; the caller goes to the origin.
var ErrNoParent = errors.New("tier: no parent node answered")

// errNotAccepted: the parent answered without AcceptedHeader, so it took
// the request for a client's (this node's address is not among its
// peers yet, or it runs an older version).
var errNotAccepted = errors.New("tier request not accepted (is this node's address among the parent's peers?)")

// Stats are the node's parent-tier counters since start.
type Stats struct {
	// Fetches: misses answered by a parent node; Failures: parent attempts
	// that failed (connect error, timeout, 5xx); Fallbacks: misses that
	// went to the origin after every parent candidate failed.
	Fetches, Failures, Fallbacks uint64
}

// Stats returns the counters.
func (t *Tier) Stats() Stats {
	return Stats{Fetches: t.fetches.Load(), Failures: t.failures.Load(), Fallbacks: t.fallbacks.Load()}
}

func newTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		ResponseHeaderTimeout: ResponseHeaderTimeout,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true, // bodies are stored as the parent sent them
	}
}

// Fetch sends req (a GET or HEAD whose Host is the site's; URL.Host is set
// per attempt) to the parent candidates of key in order and returns the
// first response that is not a 5xx and carries AcceptedHeader, with the
// node that sent it. On connect errors, timeouts, 5xx and responses the
// parent gave as to a client it moves to the next candidate; when none is
// left it returns ErrNoParent (wrapping the last failure), and the caller
// goes to the origin. The caller closes the response body.
func (t *Tier) Fetch(ctx context.Context, key string, req *http.Request) (*http.Response, Node, error) {
	cands := t.Candidates(key, PerCluster)
	if len(cands) == 0 {
		return nil, Node{}, ErrNoParent
	}
	var last error
	for _, n := range cands {
		out := req.Clone(ctx)
		out.URL.Scheme, out.URL.Host = "http", n.Addr
		resp, err := t.tr.RoundTrip(out)
		if err == nil && resp.StatusCode < 500 && resp.Header.Get(AcceptedHeader) != "" {
			t.fetches.Add(1)
			return resp, n, nil
		}
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("status %d", resp.StatusCode)
			if resp.StatusCode < 500 {
				err = errNotAccepted
			}
		}
		if ctx.Err() != nil {
			return nil, Node{}, ctx.Err()
		}
		t.failures.Add(1)
		last = fmt.Errorf("parent %s (%s): %w", n.ID, n.Addr, err)
	}
	t.fallbacks.Add(1)
	return nil, Node{}, fmt.Errorf("%w: %w", ErrNoParent, last)
}

// ParseHops reads a HopsHeader value: a decimal count 0..MaxHops*4; ok is
// false for anything else (treated as MaxHops: straight to the origin).
func ParseHops(v string) (n int, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > MaxHops*4 || strconv.Itoa(n) != v {
		return MaxHops, false
	}
	return n, true
}

// Close drops idle connections to parents.
func (t *Tier) Close() {
	t.tr.CloseIdleConnections()
}
