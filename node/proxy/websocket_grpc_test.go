package proxy_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/net/websocket"
	"google.golang.org/protobuf/types/known/wrapperspb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"

	"github.com/strata-edge/strata/node/internal/nettest"
)

func TestWebSocket(t *testing.T) {
	ws := httptest.NewServer(websocket.Handler(func(c *websocket.Conn) {
		_, _ = io.Copy(c, c) // echo
	}))
	t.Cleanup(ws.Close)
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, simpleApp("a", "ws.example.com", ws.Listener.Addr().String()))
	dials := map[string]func() (net.Conn, error){
		"ws": func() (net.Conn, error) { return net.Dial("tcp", p.HTTPAddr().String()) },
		"wss": func() (net.Conn, error) {
			return tls.Dial("tcp", p.HTTPSAddr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}) //nolint:gosec // test
		},
	}
	for scheme, dial := range dials {
		t.Run(scheme, func(t *testing.T) {
			conn, err := dial()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			cfg, err := websocket.NewConfig(scheme+"://ws.example.com/chat", "http://ws.example.com")
			if err != nil {
				t.Fatal(err)
			}
			c, err := websocket.NewClient(cfg, conn)
			if err != nil {
				t.Fatalf("handshake through the proxy: %v", err)
			}
			for i := 0; i < 3; i++ {
				msg := fmt.Sprintf("message %d", i)
				if err := websocket.Message.Send(c, msg); err != nil {
					t.Fatal(err)
				}
				var got string
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				if err := websocket.Message.Receive(c, &got); err != nil {
					t.Fatal(err)
				}
				if got != msg {
					t.Fatalf("echo %q, want %q", got, msg)
				}
			}
		})
	}
}

const (
	sayProcedure    = "/test.v1.EchoService/Say"
	streamProcedure = "/test.v1.EchoService/Count"
)

// grpcUpstream serves a unary and a server-streaming RPC over h2c with
// connect-go's gRPC implementation.
func grpcUpstream(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(sayProcedure, connect.NewUnaryHandler(sayProcedure,
		func(_ context.Context, r *connect.Request[wrapperspb.StringValue]) (*connect.Response[wrapperspb.StringValue], error) {
			if r.Msg.GetValue() == "missing" {
				return nil, connect.NewError(connect.CodeNotFound, errors.New("no such thing"))
			}
			resp := connect.NewResponse(wrapperspb.String("hello " + r.Msg.GetValue() + " via " + r.Header().Get("Via")))
			resp.Trailer().Set("X-Trailer", "t")
			return resp, nil
		}))
	mux.Handle(streamProcedure, connect.NewServerStreamHandler(streamProcedure,
		func(_ context.Context, r *connect.Request[wrapperspb.Int32Value], s *connect.ServerStream[wrapperspb.Int32Value]) error {
			for i := int32(1); i <= r.Msg.GetValue(); i++ {
				if err := s.Send(wrapperspb.Int32(i)); err != nil {
					return err
				}
			}
			return nil
		}))
	srv := &http.Server{Handler: mux, Protocols: new(http.Protocols)}
	srv.Protocols.SetUnencryptedHTTP2(true)
	ln := nettest.Listen(t)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// hostRoundTripper sends every request with a fixed Host.
type hostRoundTripper struct {
	host string
	rt   http.RoundTripper
}

func (h hostRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Host = h.host
	return h.rt.RoundTrip(r)
}

func TestGRPCOverTLSListener(t *testing.T) {
	addr := grpcUpstream(t)
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, simpleApp("g", "grpc.example.com", addr))
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true} //nolint:gosec // test
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: hostRoundTripper{"grpc.example.com", tr}}
	base := httpsBase(p)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	say := connect.NewClient[wrapperspb.StringValue, wrapperspb.StringValue](hc, base+sayProcedure, connect.WithGRPC())
	resp, err := say.CallUnary(ctx, connect.NewRequest(wrapperspb.String("world")))
	if err != nil {
		t.Fatalf("unary call: %v", err)
	}
	if got := resp.Msg.GetValue(); got != "hello world via 2.0 strata" {
		t.Fatalf("reply %q", got)
	}
	if resp.Trailer().Get("X-Trailer") != "t" {
		t.Fatalf("trailer lost: %v", resp.Trailer())
	}
	_, err = say.CallUnary(ctx, connect.NewRequest(wrapperspb.String("missing")))
	if connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), "no such thing") {
		t.Fatalf("error status through the proxy: %v (code %v)", err, connect.CodeOf(err))
	}

	count := connect.NewClient[wrapperspb.Int32Value, wrapperspb.Int32Value](hc, base+streamProcedure, connect.WithGRPC())
	stream, err := count.CallServerStream(ctx, connect.NewRequest(wrapperspb.Int32(5)))
	if err != nil {
		t.Fatal(err)
	}
	var got []int32
	for stream.Receive() {
		got = append(got, stream.Msg().GetValue())
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Fatalf("stream got %v", got)
	}
}

func TestUpstreamTLS(t *testing.T) {
	var sni = make(chan string, 10)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sni <- r.TLS.ServerName
		_, _ = io.WriteString(w, "secure")
	}))
	up.StartTLS()
	t.Cleanup(up.Close)
	p := startProxy(t, proxyOpts())
	noVerify := simpleApp("a", "a.example.com", up.Listener.Addr().String())
	noVerify.Upstreams[0].Tls = &configv1.UpstreamTLS{Enabled: true, Sni: "backend.internal"}
	verify := simpleApp("b", "b.example.com", up.Listener.Addr().String())
	verify.Upstreams[0].Tls = &configv1.UpstreamTLS{Enabled: true, Verify: true}
	mustUpdate(t, p, 1, noVerify, verify)
	c := httpClient(t)
	both(t, p, func(t *testing.T, base string) {
		r := do(t, c, "GET", base, "a.example.com", "/", "")
		if r.status != 200 || r.body != "secure" {
			t.Fatalf("%d %q", r.status, r.body)
		}
		if got := <-sni; got != "backend.internal" {
			t.Fatalf("SNI %q, want backend.internal", got)
		}
		// The test server's certificate is not trusted: verification fails.
		r = do(t, c, "GET", base, "b.example.com", "/", "")
		if r.status != 502 || !strings.Contains(r.body, "certificate") {
			t.Fatalf("unverifiable upstream: %d %q", r.status, r.body)
		}
	})
}
