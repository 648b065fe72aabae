package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/strata-edge/strata/node"
	nodemetrics "github.com/strata-edge/strata/node/metrics"
)

// metricsListener serves a node's /metrics and /healthz on their own
// address (strata node --metrics-addr), apart from the proxy's listeners so
// neither apps' routes nor the public can reach them unless the operator
// binds them there.
type metricsListener struct {
	srv *http.Server
	ln  net.Listener
}

// startNodeMetrics binds addr and serves n's metrics and health there.
func startNodeMetrics(addr string, n *node.Node, log *slog.Logger) (*metricsListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %q: %w", addr, err)
	}
	l := &metricsListener{ln: ln, srv: &http.Server{
		Handler:           nodemetrics.Handler(n, nodemetrics.Registry(n), log),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
	go func() {
		if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener", "err", err)
		}
	}()
	return l, nil
}

// Addr is the bound address.
func (l *metricsListener) Addr() string { return l.ln.Addr().String() }

// Stop closes the listener, letting scrapes in flight finish until ctx ends.
func (l *metricsListener) Stop(ctx context.Context) error { return l.srv.Shutdown(ctx) }
