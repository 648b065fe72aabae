package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/valyala/fasthttp"

	"github.com/strata-edge/strata/node/proxy/stats"
	"github.com/strata-edge/strata/node/proxy/upstream"
)

// upstreamFailure turns the error of the last attempt at an upstream into
// the status and plain-text body the client gets: 503 when no server was
// available, 504 on a timeout (connecting or waiting for the response), 502
// for everything else (connection refused or reset, bad response).
func upstreamFailure(u *upstream.Upstream, s *upstream.Server, err error) (int, string) {
	if errors.Is(err, upstream.ErrNoEndpoints) {
		return http.StatusBadGateway, fmt.Sprintf("upstream %q: %v\n", u.Name, err)
	}
	if errors.Is(err, upstream.ErrNoServer) {
		return http.StatusServiceUnavailable, fmt.Sprintf("upstream %q: no healthy server available\n", u.Name)
	}
	addr := ""
	if s != nil {
		addr = s.Addr
	}
	var de *upstream.DialError
	if errors.As(err, &de) {
		if de.Timeout() {
			return http.StatusGatewayTimeout, fmt.Sprintf("upstream %q: timed out connecting to %s\n", u.Name, de.Addr)
		}
		return http.StatusBadGateway, fmt.Sprintf("upstream %q: cannot connect to %s: %v\n", u.Name, de.Addr, rootCause(de.Err))
	}
	if isTimeout(err) {
		return http.StatusGatewayTimeout, fmt.Sprintf("upstream %q: timed out waiting for %s\n", u.Name, addr)
	}
	return http.StatusBadGateway, fmt.Sprintf("upstream %q: bad response from %s: %v\n", u.Name, addr, rootCause(err))
}

// upstreamErrorKind classifies a failed attempt by the kinds
// upstreamFailure tells apart; ok is false for a client that went away,
// which is not the upstream's failure.
func upstreamErrorKind(err error) (k stats.UpstreamError, ok bool) {
	var de *upstream.DialError
	switch {
	case errors.Is(err, context.Canceled):
		return 0, false
	case errors.Is(err, upstream.ErrNoServer), errors.Is(err, upstream.ErrNoEndpoints):
		return stats.UpstreamNoServer, true
	case errors.As(err, &de):
		if de.Timeout() {
			return stats.UpstreamTimeout, true
		}
		return stats.UpstreamConnect, true
	case isTimeout(err):
		return stats.UpstreamTimeout, true
	default:
		return stats.UpstreamResponse, true
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rootCause drops the "dial tcp 1.2.3.4:5:" style prefixes of net errors,
// keeping what an operator needs ("connection refused").
func rootCause(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}
