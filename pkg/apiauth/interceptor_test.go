package apiauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/pkg/apiauth"
)

// echoService answers ListPartitions with one partition named after the caller
// and the request id it saw, so tests can check what reached the handler.
type echoService struct {
	configv1connect.UnimplementedConfigServiceHandler
}

func (echoService) ListPartitions(ctx context.Context, _ *configv1.ListPartitionsRequest) (*configv1.ListPartitionsResponse, error) {
	return &configv1.ListPartitionsResponse{Partitions: []*configv1.Partition{
		{Id: apiauth.RequestID(ctx), Name: apiauth.Actor(ctx)},
	}}, nil
}

func (echoService) CreatePartition(ctx context.Context, _ *configv1.CreatePartitionRequest) (*configv1.CreatePartitionResponse, error) {
	return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("name: required"))
}

const (
	watchProcedure  = "/strata.test.v1.Test/Watch"
	publicProcedure = "/strata.test.v1.Test/Public"
)

// startServer serves the echo service, a streaming Watch and a public unary
// procedure behind the interceptor over HTTP/2 (as the real API does).
func startServer(t *testing.T) *httptest.Server {
	t.Helper()
	auth := apiauth.NewBootstrapAuthenticator("strata_good")
	opt := connect.WithInterceptors(apiauth.NewInterceptor(auth, apiauth.WithPublicProcedures(publicProcedure)))
	mux := http.NewServeMux()
	mux.Handle(configv1connect.NewConfigServiceHandler(echoService{}, opt))
	mux.Handle(watchProcedure, connect.NewServerStreamHandler(watchProcedure,
		func(ctx context.Context, _ *connect.Request[emptypb.Empty], s *connect.ServerStream[wrapperspb.StringValue]) error {
			return s.Send(wrapperspb.String(apiauth.Actor(ctx) + "/" + apiauth.RequestID(ctx)))
		}, opt))
	mux.Handle(publicProcedure, connect.NewUnaryHandler(publicProcedure,
		func(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[wrapperspb.StringValue], error) {
			return connect.NewResponse(wrapperspb.String(apiauth.Actor(ctx))), nil
		}, opt))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestInterceptorUnary(t *testing.T) {
	srv := startServer(t)
	protocols := map[string][]connect.ClientOption{
		"connect": nil,
		"grpc":    {connect.WithGRPC()},
		"grpcweb": {connect.WithGRPCWeb()},
	}
	tests := []struct {
		name     string
		header   map[string]string
		wantCode connect.Code // 0 = success
		wantMsg  string
	}{
		{name: "no token", wantCode: connect.CodeUnauthenticated, wantMsg: "missing credentials"},
		{name: "wrong token", header: map[string]string{"Authorization": "Bearer strata_bad"}, wantCode: connect.CodeUnauthenticated, wantMsg: "invalid bearer token"},
		{name: "basic scheme", header: map[string]string{"Authorization": "Basic YWRtaW46eA=="}, wantCode: connect.CodeUnauthenticated, wantMsg: "Bearer <token>"},
		{name: "empty bearer", header: map[string]string{"Authorization": "Bearer "}, wantCode: connect.CodeUnauthenticated, wantMsg: "malformed"},
		{name: "good token", header: map[string]string{"Authorization": "Bearer strata_good"}},
		{name: "lower-case scheme", header: map[string]string{"Authorization": "bearer strata_good"}},
	}
	for pname, popts := range protocols {
		client := configv1connect.NewConfigServiceClient(srv.Client(), srv.URL, popts...)
		for _, tt := range tests {
			t.Run(pname+"/"+tt.name, func(t *testing.T) {
				ctx, info := connect.NewClientContext(context.Background())
				for k, v := range tt.header {
					info.RequestHeader().Set(k, v)
				}
				res, err := client.ListPartitions(ctx, &configv1.ListPartitionsRequest{})
				if tt.wantCode != 0 {
					if connect.CodeOf(err) != tt.wantCode {
						t.Fatalf("got err %v, want code %v", err, tt.wantCode)
					}
					if !strings.Contains(err.Error(), tt.wantMsg) {
						t.Errorf("error %q does not say %q", err, tt.wantMsg)
					}
					var ce *connect.Error
					if errors.As(err, &ce) && ce.Meta().Get(apiauth.RequestIDHeader) == "" {
						t.Errorf("rejected call carries no request id")
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				p := res.Partitions[0]
				if p.Name != "admin" {
					t.Errorf("handler saw actor %q, want admin", p.Name)
				}
				if echoed := info.ResponseHeader().Get(apiauth.RequestIDHeader); p.Id == "" || echoed != p.Id {
					t.Errorf("echoed request id %q, handler saw %q", echoed, p.Id)
				}
			})
		}
	}
}

// TestInterceptorRejectionReason: an authenticator that says why it refuses a
// token (wrapping ErrInvalidToken) has its reason shown to the caller; any
// other authenticator failure is Unavailable and shows nothing of it.
func TestInterceptorRejectionReason(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode connect.Code
		wantMsg  string
		hidden   string
	}{
		{name: "bare", err: apiauth.ErrInvalidToken, wantCode: connect.CodeUnauthenticated, wantMsg: "invalid bearer token: the token is unknown, revoked or mistyped"},
		{name: "expired", err: fmt.Errorf("token tok_1 expired at 2026-01-01T00:00:00Z: %w", apiauth.ErrInvalidToken), wantCode: connect.CodeUnauthenticated, wantMsg: "invalid bearer token: token tok_1 expired at 2026-01-01T00:00:00Z"},
		{name: "disabled user", err: fmt.Errorf("user %q is disabled: %w", "bob", apiauth.ErrInvalidToken), wantCode: connect.CodeUnauthenticated, wantMsg: `invalid bearer token: user "bob" is disabled`},
		{name: "internal failure", err: errors.New("read model: dial tcp 10.1.2.3:4222: refused"), wantCode: connect.CodeUnavailable, wantMsg: "authentication is unavailable", hidden: "10.1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := apiauth.AuthenticatorFunc(func(context.Context, string) (apiauth.Principal, error) {
				return apiauth.Principal{}, tt.err
			})
			mux := http.NewServeMux()
			mux.Handle(configv1connect.NewConfigServiceHandler(echoService{}, connect.WithInterceptors(apiauth.NewInterceptor(auth))))
			srv := httptest.NewServer(mux)
			defer srv.Close()
			client := configv1connect.NewConfigServiceClient(srv.Client(), srv.URL, connect.WithInterceptors(apiauth.BearerToken("strata_x")))
			_, err := client.ListPartitions(context.Background(), &configv1.ListPartitionsRequest{})
			if connect.CodeOf(err) != tt.wantCode {
				t.Fatalf("got %v, want code %v", err, tt.wantCode)
			}
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Message() != tt.wantMsg && !strings.HasPrefix(ce.Message(), tt.wantMsg) {
				t.Errorf("message %q, want %q", ce.Message(), tt.wantMsg)
			}
			if strings.HasSuffix(ce.Message(), "invalid token") {
				t.Errorf("message %q repeats the sentinel", ce.Message())
			}
			if tt.hidden != "" && strings.Contains(err.Error(), tt.hidden) {
				t.Errorf("error %q leaks %q", err, tt.hidden)
			}
		})
	}
}

func TestInterceptorRequestID(t *testing.T) {
	srv := startServer(t)
	client := configv1connect.NewConfigServiceClient(srv.Client(), srv.URL)
	tests := []struct {
		name, sent string
		kept       bool
	}{
		{name: "sane id is kept", sent: "req-42.a_b:c", kept: true},
		{name: "spaces are replaced", sent: "a b"},
		{name: "tab is replaced", sent: "a\tb"},
		{name: "quotes are replaced", sent: `a"b`},
		{name: "overlong id is replaced", sent: strings.Repeat("a", 129)},
		{name: "missing id is generated", sent: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, info := connect.NewClientContext(context.Background())
			info.RequestHeader().Set("Authorization", "Bearer strata_good")
			if tt.sent != "" {
				info.RequestHeader()[apiauth.RequestIDHeader] = []string{tt.sent}
			}
			res, err := client.ListPartitions(ctx, &configv1.ListPartitionsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			got := res.Partitions[0].Id
			if tt.kept && got != tt.sent {
				t.Errorf("request id %q, want %q", got, tt.sent)
			}
			if !tt.kept && (got == tt.sent || len(got) != 32) {
				t.Errorf("request id %q: want a generated 32-hex-digit id", got)
			}
		})
	}
}

func TestInterceptorHandlerErrorKeepsCodeAndRequestID(t *testing.T) {
	srv := startServer(t)
	client := configv1connect.NewConfigServiceClient(srv.Client(), srv.URL,
		connect.WithInterceptors(apiauth.BearerToken("strata_good")))
	ctx, info := connect.NewClientContext(context.Background())
	info.RequestHeader().Set(apiauth.RequestIDHeader, "trace-1")
	_, err := client.CreatePartition(ctx, &configv1.CreatePartitionRequest{})
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument {
		t.Fatalf("got %v, want InvalidArgument", err)
	}
	if got := ce.Meta().Get(apiauth.RequestIDHeader); got != "trace-1" {
		t.Errorf("error request id %q, want trace-1", got)
	}
}

func TestInterceptorStreaming(t *testing.T) {
	srv := startServer(t)
	for _, tt := range []struct {
		name     string
		token    string
		wantCode connect.Code
	}{
		{name: "no token", wantCode: connect.CodeUnauthenticated},
		{name: "wrong token", token: "strata_bad", wantCode: connect.CodeUnauthenticated},
		{name: "good token", token: "strata_good"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var opts []connect.ClientOption
			if tt.token != "" {
				opts = append(opts, connect.WithInterceptors(apiauth.BearerToken(tt.token)))
			}
			client := connect.NewClient[emptypb.Empty, wrapperspb.StringValue](srv.Client(), srv.URL+watchProcedure, append(opts, connect.WithGRPC())...)
			stream, err := client.CallServerStream(context.Background(), connect.NewRequest(&emptypb.Empty{}))
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			got := stream.Receive()
			if tt.wantCode != 0 {
				if got || connect.CodeOf(stream.Err()) != tt.wantCode {
					t.Fatalf("received=%v err=%v, want code %v", got, stream.Err(), tt.wantCode)
				}
				return
			}
			if !got {
				t.Fatalf("no message: %v", stream.Err())
			}
			actor, id, _ := strings.Cut(stream.Msg().GetValue(), "/")
			if actor != "admin" || id == "" {
				t.Errorf("handler saw %q", stream.Msg().GetValue())
			}
			if stream.ResponseHeader().Get(apiauth.RequestIDHeader) != id {
				t.Errorf("echoed id %q, handler saw %q", stream.ResponseHeader().Get(apiauth.RequestIDHeader), id)
			}
		})
	}
}

func TestInterceptorPublicProcedure(t *testing.T) {
	srv := startServer(t)
	client := connect.NewClient[emptypb.Empty, wrapperspb.StringValue](srv.Client(), srv.URL+publicProcedure)
	res, err := client.CallUnary(context.Background(), connect.NewRequest(&emptypb.Empty{}))
	if err != nil {
		t.Fatalf("public procedure rejected: %v", err)
	}
	if res.Msg.GetValue() != "system" {
		t.Errorf("public call ran as %q, want no principal (system)", res.Msg.GetValue())
	}
	if res.Header().Get(apiauth.RequestIDHeader) == "" {
		t.Error("public call got no request id")
	}
}

func TestInterceptorAuthenticatorFailureIsNotUnauthenticated(t *testing.T) {
	broken := apiauth.AuthenticatorFunc(func(context.Context, string) (apiauth.Principal, error) {
		return apiauth.Principal{}, errors.New("database down")
	})
	mux := http.NewServeMux()
	mux.Handle(configv1connect.NewConfigServiceHandler(echoService{}, connect.WithInterceptors(apiauth.NewInterceptor(broken))))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := configv1connect.NewConfigServiceClient(srv.Client(), srv.URL, connect.WithInterceptors(apiauth.BearerToken("x")))
	_, err := client.ListPartitions(context.Background(), &configv1.ListPartitionsRequest{})
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("got %v, want Unavailable", err)
	}
	if strings.Contains(err.Error(), "database down") {
		t.Errorf("internal error leaked to the caller: %v", err)
	}
}
