package proxy

import (
	"context"
	"log/slog"
	"time"
)

// accessLog writes one structured line per request at Info.
func (p *Proxy) accessLog(x exchange, f *flow, status, in, out int, proto string) {
	appID, up, srv := "", "", ""
	if f.app != nil {
		appID = f.app.ID
	}
	if f.srv != nil {
		up, srv = f.srv.Upstream().Name, f.srv.Addr
	}
	p.log.LogAttrs(context.Background(), slog.LevelInfo, "access",
		slog.String("app", appID),
		slog.String("client", x.ClientIP().String()),
		slog.String("proto", proto),
		slog.String("method", x.Method()),
		slog.String("host", x.Host()),
		slog.String("uri", x.RequestURI()),
		slog.Int("status", status),
		slog.Int("bytes_in", in),
		slog.Int("bytes_out", out),
		slog.String("upstream", up),
		slog.String("server", srv),
		slog.Duration("duration", time.Since(f.start)),
	)
}
