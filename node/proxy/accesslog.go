package proxy

import (
	"context"
	"log/slog"
	"time"

	"github.com/strata-edge/strata/node/proxy/route"
	"github.com/strata-edge/strata/node/proxy/upstream"
)

type accessEntry struct {
	app                              *route.App
	srv                              *upstream.Server
	method, host, uri, client, proto string
	status, in, out                  int
	dur                              time.Duration
}

// accessLog writes one structured line per request at Info.
func (p *Proxy) accessLog(e accessEntry) {
	appID, up, srv := "", "", ""
	if e.app != nil {
		appID = e.app.ID
	}
	if e.srv != nil {
		up, srv = e.srv.Upstream().Name, e.srv.Addr
	}
	p.log.LogAttrs(context.Background(), slog.LevelInfo, "access",
		slog.String("app", appID),
		slog.String("client", e.client),
		slog.String("proto", e.proto),
		slog.String("method", e.method),
		slog.String("host", e.host),
		slog.String("uri", e.uri),
		slog.Int("status", e.status),
		slog.Int("bytes_in", e.in),
		slog.Int("bytes_out", e.out),
		slog.String("upstream", up),
		slog.String("server", srv),
		slog.Duration("duration", e.dur),
	)
}
