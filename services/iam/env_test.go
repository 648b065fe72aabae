package iam

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/eventstore/eventstoretest"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// world resolves a few partitions and apps, like ConfigService would.
type world struct{}

var worldObjects = map[string]authz.ResolvedObject{
	"partition/par_1": {Object: authz.Object{Kind: "partition", ID: "par_1"}, Name: "default"},
	"partition/par_2": {Object: authz.Object{Kind: "partition", ID: "par_2"}, Name: "eu"},
	"app/app_shop":    {Object: authz.Object{Kind: "app", ID: "app_shop"}, Name: "shop", Parents: []authz.Object{{Kind: "partition", ID: "par_1"}}},
	"app/app_blog":    {Object: authz.Object{Kind: "app", ID: "app_blog"}, Name: "blog", Parents: []authz.Object{{Kind: "partition", ID: "par_2"}}},
}

func (world) ResolveObject(_ context.Context, kind, ref string) (authz.ResolvedObject, error) {
	for _, o := range worldObjects {
		if o.Kind == kind && (o.ID == ref || o.Name == ref) {
			return o, nil
		}
	}
	return authz.ResolvedObject{}, fmt.Errorf("%s %q: %w", kind, ref, authz.ErrUnknownObject)
}

// cheapArgon keeps password hashing fast in tests.
var cheapArgon = Argon2Params{Memory: 64, Time: 1, Threads: 1}

const bootstrapToken = "strata_bootstrap-token-for-tests"

// env is an IAM service on a real embedded JetStream event store, served
// over HTTP/2 behind the real authentication and authorization interceptors
// and the browser middleware.
type env struct {
	t         testing.TB
	ctx       context.Context
	store     *eventstore.JetStreamStore
	clock     *clock
	resolvers *authz.Resolvers
	svc       *Service
	srv       *httptest.Server
	admin     iamv1connect.IAMServiceClient // bootstrap token
}

func newEnv(t testing.TB, configure ...func(*Options)) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	store, _, _ := eventstoretest.JetStream(t)
	rs := authz.NewResolvers()
	rs.Register(world{}, "partition", "app")
	e := &env{t: t, ctx: ctx, store: store, clock: newClock(), resolvers: rs}
	e.svc, e.srv = e.serve(configure...)
	e.admin = e.client(bootstrapToken)
	return e
}

// serve starts a Service on the env's store and serves it.
func (e *env) serve(configure ...func(*Options)) (*Service, *httptest.Server) {
	t := e.t
	t.Helper()
	opts := Options{Store: e.store, Now: e.clock.Now, BootstrapToken: bootstrapToken, Resolvers: e.resolvers, Argon2: cheapArgon}
	for _, c := range configure {
		c(&opts)
	}
	svc, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	rules := authz.DefaultRules()
	interceptors := connect.WithInterceptors(
		apiauth.NewInterceptor(svc.Authenticator(), apiauth.WithPublicProcedures(rules.PublicProcedures()...)),
		authz.NewInterceptor(svc, authz.WithResolvers(e.resolvers)),
	)
	mux := http.NewServeMux()
	mux.Handle(svc.Handler(interceptors))
	srv := httptest.NewUnstartedServer(svc.Middleware(mux))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return svc, srv
}

// client returns a Connect client that sends token ("" for none).
func (e *env) client(token string, opts ...connect.ClientOption) iamv1connect.IAMServiceClient {
	if token != "" {
		opts = append(opts, connect.WithInterceptors(apiauth.BearerToken(token)))
	}
	return iamv1connect.NewIAMServiceClient(e.srv.Client(), e.srv.URL, opts...)
}

// browser returns a client with a cookie jar, like the console in a browser
// (same-origin fetches).
func (e *env) browser() (iamv1connect.IAMServiceClient, *http.Client) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Transport: sameOrigin{e.srv.Client().Transport}, Jar: jar}
	return iamv1connect.NewIAMServiceClient(hc, e.srv.URL), hc
}

// sameOrigin marks requests as a browser marks same-origin fetches.
type sameOrigin struct{ rt http.RoundTripper }

func (s sameOrigin) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	return s.rt.RoundTrip(r)
}

const goodPassword = "correct horse battery staple"

// createUser makes a human user with goodPassword.
func (e *env) createUser(name string) {
	e.t.Helper()
	if _, err := e.admin.CreateUser(e.ctx, &iamv1.CreateUserRequest{Name: name, Password: goodPassword}); err != nil {
		e.t.Fatalf("create user %s: %v", name, err)
	}
}

func (e *env) grant(req *iamv1.CreateGrantRequest) *iamv1.Grant {
	e.t.Helper()
	res, err := e.admin.CreateGrant(e.ctx, req)
	if err != nil {
		e.t.Fatalf("grant %v: %v", req, err)
	}
	return res.Grant
}

// login returns a client authenticated with a fresh CLI session of name.
func (e *env) login(name string) iamv1connect.IAMServiceClient {
	e.t.Helper()
	res, err := e.client("").Login(e.ctx, &iamv1.LoginRequest{User: name, Password: goodPassword, ReturnToken: true})
	if err != nil {
		e.t.Fatalf("login %s: %v", name, err)
	}
	return e.client(res.Token)
}

// head is the event log's newest position.
func (e *env) head() uint64 {
	e.t.Helper()
	h, err := e.store.Head(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// wantCode fails unless err has code.
func wantCode(t *testing.T, err error, code connect.Code) {
	t.Helper()
	if connect.CodeOf(err) != code {
		t.Fatalf("error = %v, want code %v", err, code)
	}
}

// wantField fails unless err has code and a field violation for field whose
// reason contains reason.
func wantField(t *testing.T, err error, code connect.Code, field, reason string) {
	t.Helper()
	wantCode(t, err, code)
	for _, v := range apierr.FromConnect(err) {
		if v.Field == field && strings.Contains(v.Reason, reason) {
			return
		}
	}
	t.Fatalf("error = %v (violations %v), want field %q with %q", err, apierr.FromConnect(err), field, reason)
}

func isCode(err error, code connect.Code) bool {
	var ce *connect.Error
	return errors.As(err, &ce) && ce.Code() == code
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func validateStreamName(s string) error { return eventstore.ValidateStreamName(s) }

// nopStore is an empty log, for benchmarks of in-memory paths only.
type nopStore struct{ eventstore.Store }

func (nopStore) Head(context.Context) (uint64, error) { return 0, nil }
