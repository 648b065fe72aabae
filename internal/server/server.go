// Package server runs Strata's API: one HTTP listener that speaks Connect, gRPC
// and gRPC-web (HTTP/1.1 and cleartext HTTP/2), serving the control services
// beside gRPC health checks and reflection.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/strata-edge/strata/pkg/apiauth"
)

// Service is one Connect service to mount.
type Service struct {
	// Name is the fully-qualified protobuf service name, e.g.
	// "strata.config.v1.ConfigService"; it is reported by health and reflection.
	Name string
	// Path and Handler as returned by the generated New...Handler function.
	Path    string
	Handler http.Handler
}

// Options configures New.
type Options struct {
	// Addr is the listen address, "host:port"; port 0 picks a free port.
	Addr     string
	Services []Service
	Logger   *slog.Logger
	// Middleware, optional, wraps every route (health and reflection too):
	// the IAM service's session cookie and cross-origin protection.
	Middleware func(http.Handler) http.Handler
	// Metrics, optional, is served at GET /metrics in the Prometheus text
	// format, without authentication like health checks (scrapers carry no
	// API token); it holds counts and expiry times, never secrets.
	Metrics prometheus.Gatherer
	// Console, optional, is the web console (package ui), mounted at "/":
	// every route above is more specific and wins. It answers GET and HEAD
	// without authentication (its files are public); its API calls are
	// authenticated like the CLI's.
	Console http.Handler
}

// Server is the API server. Create with New, then Start and Shutdown.
type Server struct {
	opts    Options
	log     *slog.Logger
	health  *grpchealth.StaticChecker
	handler http.Handler

	mu   sync.Mutex
	http *http.Server
	ln   net.Listener
	done chan error
}

// MaxMessageBytes bounds a request message; configs are small, a bigger message
// is a mistake or an attack.
const MaxMessageBytes = 8 << 20

// HandlerOptions are the options every authenticated service handler gets:
// call logging (when log is not nil), the deny-by-default auth interceptor
// and the message size limit.
func HandlerOptions(log *slog.Logger, auth apiauth.Authenticator, authOpts ...apiauth.Option) []connect.HandlerOption {
	return ServiceOptions(log, apiauth.NewInterceptor(auth, authOpts...))
}

// ServiceOptions are the options of a service handler behind the given
// interceptors (outermost first, e.g. authentication then authorization):
// call logging around them all (when log is not nil), so that rejected calls
// are logged too, and the message size limit.
func ServiceOptions(log *slog.Logger, interceptors ...connect.Interceptor) []connect.HandlerOption {
	var all []connect.Interceptor
	if log != nil {
		all = append(all, LogInterceptor(log))
	}
	all = append(all, interceptors...)
	return []connect.HandlerOption{
		connect.WithInterceptors(all...),
		connect.WithReadMaxBytes(MaxMessageBytes),
	}
}

// New builds the server's routes; it does not listen yet.
func New(opts Options) (*Server, error) {
	if opts.Addr == "" {
		return nil, errors.New("server: Addr is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	names := make([]string, 0, len(opts.Services))
	mux := http.NewServeMux()
	for _, svc := range opts.Services {
		if svc.Name == "" || svc.Path == "" || svc.Handler == nil {
			return nil, fmt.Errorf("server: service %q: Name, Path and Handler are required", svc.Name)
		}
		names = append(names, svc.Name)
		mux.Handle(svc.Path, svc.Handler)
	}
	// Health and reflection carry no data and are exempt from auth: load
	// balancers probe health without credentials.
	health := grpchealth.NewStaticChecker(names...)
	mux.Handle(grpchealth.NewHandler(health))
	reflector := grpcreflect.NewStaticReflector(names...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Metrics, promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn), ErrorHandling: promhttp.ContinueOnError}))
	}
	if opts.Console != nil {
		mux.Handle("/", opts.Console)
	}
	var handler http.Handler = mux
	if opts.Middleware != nil {
		handler = opts.Middleware(mux)
	}
	return &Server{opts: opts, log: opts.Logger, health: health, handler: handler}, nil
}

// Start listens on Addr and serves in the background. A server is started once.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return errors.New("server: already started")
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("api listen on %s: %w", s.opts.Addr, err)
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	// gRPC clients speak cleartext HTTP/2 with prior knowledge (h2c).
	protocols.SetUnencryptedHTTP2(true)
	s.http = &http.Server{
		Handler:           s.handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout/WriteTimeout: they would cut streaming RPCs; Connect
		// applies per-call deadlines sent by clients instead.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 1 << 20,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: 250,
			MaxReadFrameSize:     1 << 20,
		},
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.ln = ln
	done := make(chan error, 1)
	s.done = done
	go func(srv *http.Server) {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}(s.http)
	s.log.Info("api listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the bound address (with the real port when Addr asked for port 0).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL is the base URL clients use, e.g. "http://127.0.0.1:7400".
func (s *Server) URL() string {
	return "http://" + s.Addr()
}

// Shutdown reports NOT_SERVING to health checks, stops accepting connections
// and waits for in-flight calls until ctx ends, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.http, s.done
	s.http, s.done = nil, nil // a second Shutdown is a no-op
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	s.health.SetStatus("", grpchealth.StatusNotServing)
	for _, svc := range s.opts.Services {
		s.health.SetStatus(svc.Name, grpchealth.StatusNotServing)
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
	}
	if serveErr := <-done; serveErr != nil && err == nil {
		err = serveErr
	}
	return err
}

// LogInterceptor logs every handled call once it ends: procedure, outcome,
// duration and request id (so a user's error report can be found in the log).
// Mount it outside the auth interceptor so rejected calls are logged too.
func LogInterceptor(log *slog.Logger) connect.Interceptor {
	return &logInterceptor{log: log}
}

type logInterceptor struct{ log *slog.Logger }

func (l *logInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		start := time.Now()
		res, err := next(ctx, req)
		id := ""
		if res != nil {
			id = res.Header().Get(apiauth.RequestIDHeader)
		}
		l.record(ctx, req.Spec().Procedure, req.Peer().Addr, id, start, err)
		return res, err
	}
}

func (l *logInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (l *logInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		err := next(ctx, conn)
		l.record(ctx, conn.Spec().Procedure, conn.Peer().Addr, conn.ResponseHeader().Get(apiauth.RequestIDHeader), start, err)
		return err
	}
}

func (l *logInterceptor) record(ctx context.Context, procedure, peer, requestID string, start time.Time, err error) {
	level, code := slog.LevelInfo, "ok"
	if err != nil {
		code = connect.CodeOf(err).String()
		var ce *connect.Error
		if requestID == "" && errors.As(err, &ce) {
			requestID = ce.Meta().Get(apiauth.RequestIDHeader)
		}
		switch connect.CodeOf(err) {
		case connect.CodeInternal, connect.CodeUnknown, connect.CodeDataLoss:
			level = slog.LevelError
		case connect.CodeUnavailable, connect.CodeDeadlineExceeded:
			level = slog.LevelWarn
		}
	}
	l.log.Log(ctx, level, "rpc", "procedure", procedure, "code", code,
		"duration", time.Since(start).Round(time.Microsecond), "request_id", requestID, "peer", peer)
}
