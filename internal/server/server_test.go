package server_test

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/prometheus/client_golang/prometheus"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/internal/server"
	"github.com/strata-edge/strata/internal/testbuf"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/ui"
)

// partitions is a minimal ConfigService: the server's job is routing, protocols
// and auth, not what the service does.
type partitions struct {
	configv1connect.UnimplementedConfigServiceHandler
}

func (partitions) ListPartitions(ctx context.Context, _ *configv1.ListPartitionsRequest) (*configv1.ListPartitionsResponse, error) {
	return &configv1.ListPartitionsResponse{Partitions: []*configv1.Partition{{Name: apiauth.Actor(ctx)}}}, nil
}

func startServer(t *testing.T) *server.Server {
	t.Helper()
	return startServerLogging(t, nil)
}

func startServerLogging(t *testing.T, log *slog.Logger) *server.Server {
	t.Helper()
	auth := apiauth.NewBootstrapAuthenticator("strata_t")
	path, h := configv1connect.NewConfigServiceHandler(partitions{}, server.HandlerOptions(log, auth)...)
	srv, err := server.New(server.Options{
		Addr:     "127.0.0.1:0",
		Logger:   slog.New(slog.DiscardHandler),
		Services: []server.Service{{Name: configv1connect.ConfigServiceName, Path: path, Handler: h}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv
}

// h2cClient speaks cleartext HTTP/2 with prior knowledge, as gRPC clients do.
func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}}
}

func TestServerProtocolsAndAuth(t *testing.T) {
	srv := startServer(t)
	tests := []struct {
		name   string
		client *http.Client
		opts   []connect.ClientOption
	}{
		{name: "connect over HTTP/1.1", client: http.DefaultClient},
		{name: "connect over h2c", client: h2cClient()},
		{name: "grpc over h2c", client: h2cClient(), opts: []connect.ClientOption{connect.WithGRPC()}},
		{name: "grpc-web over HTTP/1.1", client: http.DefaultClient, opts: []connect.ClientOption{connect.WithGRPCWeb()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			anon := configv1connect.NewConfigServiceClient(tt.client, srv.URL(), tt.opts...)
			_, err := anon.ListPartitions(context.Background(), &configv1.ListPartitionsRequest{})
			if connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Fatalf("call without token: %v, want Unauthenticated", err)
			}
			authed := configv1connect.NewConfigServiceClient(tt.client, srv.URL(),
				append(tt.opts, connect.WithInterceptors(apiauth.BearerToken("strata_t")))...)
			res, err := authed.ListPartitions(context.Background(), &configv1.ListPartitionsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Partitions[0].Name != "admin" {
				t.Errorf("handler ran as %q", res.Partitions[0].Name)
			}
		})
	}
}

func TestServerHealthAndReflectionNeedNoToken(t *testing.T) {
	srv := startServer(t)
	health := grpchealth.NewClient(h2cClient(), srv.URL(), connect.WithGRPC())
	res, err := health.Check(context.Background(), &grpchealth.CheckRequest{Service: configv1connect.ConfigServiceName})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != grpchealth.StatusServing {
		t.Errorf("health %v, want serving", res.Status)
	}

	stream := grpcreflect.NewClient(h2cClient(), srv.URL()).NewStream(context.Background())
	defer stream.Close()
	names, err := stream.ListServices()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, configv1connect.ConfigServiceName) {
		t.Errorf("reflection lists %v, want %s", names, configv1connect.ConfigServiceName)
	}
}

func TestServerShutdown(t *testing.T) {
	srv := startServer(t)
	url := srv.URL()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	health := grpchealth.NewClient(h2cClient(), url, connect.WithGRPC())
	if _, err := health.Check(context.Background(), &grpchealth.CheckRequest{}); err == nil {
		t.Fatal("server still answers after Shutdown")
	}
}

func TestServerLogsCallsWithRequestID(t *testing.T) {
	var buf testbuf.Buffer
	srv := startServerLogging(t, slog.New(slog.NewTextHandler(&buf, nil)))
	tests := []struct {
		name, token, id, wantCode string
	}{
		{name: "accepted", token: "strata_t", id: "req-ok-1", wantCode: "code=ok"},
		{name: "rejected", token: "wrong", id: "req-denied-1", wantCode: "code=unauthenticated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := configv1connect.NewConfigServiceClient(http.DefaultClient, srv.URL(), connect.WithInterceptors(apiauth.BearerToken(tt.token)))
			ctx, info := connect.NewClientContext(context.Background())
			info.RequestHeader().Set(apiauth.RequestIDHeader, tt.id)
			_, _ = client.ListPartitions(ctx, &configv1.ListPartitionsRequest{})
			var line string
			for _, l := range strings.Split(buf.String(), "\n") {
				if strings.Contains(l, "request_id="+tt.id) {
					line = l
				}
			}
			if line == "" {
				t.Fatalf("no log line with request id %s in:\n%s", tt.id, buf.String())
			}
			for _, want := range []string{"msg=rpc", "procedure=/strata.config.v1.ConfigService/ListPartitions", tt.wantCode} {
				if !strings.Contains(line, want) {
					t.Errorf("log line lacks %q: %s", want, line)
				}
			}
		})
	}
}

// TestServerMiddlewareWrapsEveryRoute: the middleware (the IAM service's
// cookie-to-bearer step in production) runs before the interceptors, so a
// credential it supplies authenticates the call.
func TestServerMiddlewareWrapsEveryRoute(t *testing.T) {
	auth := apiauth.NewBootstrapAuthenticator("strata_t")
	path, h := configv1connect.NewConfigServiceHandler(partitions{}, server.ServiceOptions(nil, apiauth.NewInterceptor(auth))...)
	srv, err := server.New(server.Options{
		Addr:     "127.0.0.1:0",
		Logger:   slog.New(slog.DiscardHandler),
		Services: []server.Service{{Name: configv1connect.ConfigServiceName, Path: path, Handler: h}},
		Middleware: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if c, err := r.Cookie("session"); err == nil {
					r.Header.Set("Authorization", "Bearer "+c.Value)
				}
				next.ServeHTTP(w, r)
			})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	client := configv1connect.NewConfigServiceClient(http.DefaultClient, srv.URL())
	ctx, info := connect.NewClientContext(context.Background())
	info.RequestHeader().Set("Cookie", "session=strata_t")
	res, err := client.ListPartitions(ctx, &configv1.ListPartitionsRequest{})
	if err != nil {
		t.Fatalf("call with the cookie the middleware turns into a token: %v", err)
	}
	if res.Partitions[0].Name != "admin" {
		t.Errorf("handler ran as %q", res.Partitions[0].Name)
	}
	if _, err := client.ListPartitions(context.Background(), &configv1.ListPartitionsRequest{}); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("call without the cookie: %v, want Unauthenticated", err)
	}
}

// TestServerConsoleBesideTheAPI: with the console mounted at "/", RPCs,
// health and /metrics keep their routes; page paths get the console's
// index.html, unserved RPC paths 404.
func TestServerConsoleBesideTheAPI(t *testing.T) {
	auth := apiauth.NewBootstrapAuthenticator("strata_t")
	path, h := configv1connect.NewConfigServiceHandler(partitions{}, server.HandlerOptions(nil, auth)...)
	srv, err := server.New(server.Options{
		Addr:     "127.0.0.1:0",
		Logger:   slog.New(slog.DiscardHandler),
		Services: []server.Service{{Name: configv1connect.ConfigServiceName, Path: path, Handler: h}},
		Metrics:  prometheus.NewRegistry(),
		Console:  ui.Handler(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })

	client := configv1connect.NewConfigServiceClient(http.DefaultClient, srv.URL(), connect.WithInterceptors(apiauth.BearerToken("strata_t")))
	if _, err := client.ListPartitions(context.Background(), &configv1.ListPartitionsRequest{}); err != nil {
		t.Fatalf("RPC beside the console: %v", err)
	}
	if _, err := grpchealth.NewClient(h2cClient(), srv.URL(), connect.WithGRPC()).Check(context.Background(), &grpchealth.CheckRequest{}); err != nil {
		t.Fatalf("health beside the console: %v", err)
	}
	for _, tc := range []struct {
		method, path string
		status       int
		ct           string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8"},
		{"GET", "/apps/app_1", 200, "text/html; charset=utf-8"},
		{"GET", "/metrics", 200, "text/plain"},
		{"POST", "/strata.dns.v1.DnsService/ListZones", 404, "text/plain; charset=utf-8"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL()+tc.path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != tc.status || !strings.HasPrefix(res.Header.Get("Content-Type"), tc.ct) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, res.StatusCode, res.Header.Get("Content-Type"), tc.status, tc.ct)
		}
	}
}
