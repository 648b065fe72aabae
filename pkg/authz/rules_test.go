package authz

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/strata-edge/strata/pkg/apiauth"

	// Every generated service must be imported here so that the tests below
	// see it; TestEveryProtoServiceIsChecked fails when one is missing.
	_ "github.com/strata-edge/strata/gen/strata/config/v1"
	_ "github.com/strata-edge/strata/gen/strata/ddos/v1"
	_ "github.com/strata-edge/strata/gen/strata/dns/v1"
	_ "github.com/strata-edge/strata/gen/strata/iam/v1"
	_ "github.com/strata-edge/strata/gen/strata/metrics/v1"
	_ "github.com/strata-edge/strata/gen/strata/waf/v1"
)

// strataServices returns every service of a strata.* package that is linked
// into this test binary.
func strataServices() []protoreflect.ServiceDescriptor {
	var out []protoreflect.ServiceDescriptor
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if strings.HasPrefix(string(fd.Package()), "strata.") {
			for i := 0; i < fd.Services().Len(); i++ {
				out = append(out, fd.Services().Get(i))
			}
		}
		return true
	})
	slices.SortFunc(out, func(a, b protoreflect.ServiceDescriptor) int {
		return strings.Compare(string(a.FullName()), string(b.FullName()))
	})
	return out
}

func procedureOf(md protoreflect.MethodDescriptor) string {
	return "/" + string(md.Parent().FullName()) + "/" + string(md.Name())
}

func everyMethod() []protoreflect.MethodDescriptor {
	var out []protoreflect.MethodDescriptor
	for _, sd := range strataServices() {
		for i := 0; i < sd.Methods().Len(); i++ {
			out = append(out, sd.Methods().Get(i))
		}
	}
	return out
}

// TestEveryProtoServiceIsChecked reads proto/ and fails when a service
// defined there is not linked into these tests (its gen package is not
// imported above), so that no service escapes the table checks.
func TestEveryProtoServiceIsChecked(t *testing.T) {
	root := filepath.Join("..", "..", "proto")
	pkgRE := regexp.MustCompile(`(?m)^package\s+([\w.]+)\s*;`)
	svcRE := regexp.MustCompile(`(?m)^service\s+(\w+)`)
	var defined []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".proto") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pkg := pkgRE.FindSubmatch(b)
		for _, m := range svcRE.FindAllSubmatch(b, -1) {
			defined = append(defined, string(pkg[1])+"."+string(m[1]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(defined) == 0 {
		t.Fatal("no services found in proto/")
	}
	var linked []string
	for _, sd := range strataServices() {
		linked = append(linked, string(sd.FullName()))
	}
	for _, s := range defined {
		if !slices.Contains(linked, s) {
			t.Errorf("service %s is defined in proto/ but its generated package is not imported by pkg/authz/rules_test.go: add the import and a rule per RPC in table.go", s)
		}
	}
}

// TestEveryRPCHasARule fails when an RPC has no permission rule (it would be
// denied to everyone) or a rule names an RPC that does not exist.
func TestEveryRPCHasARule(t *testing.T) {
	rules := DefaultRules()
	seen := map[string]bool{}
	for _, md := range everyMethod() {
		p := procedureOf(md)
		seen[p] = true
		if _, ok := rules[p]; !ok {
			t.Errorf("%s has no permission rule: add one to pkg/authz/table.go", p)
		}
	}
	for p := range rules {
		if !seen[p] {
			t.Errorf("rule for %s, which is not an RPC of any service", p)
		}
	}
}

// TestRulesAreWellFormed checks what the table says against the messages:
// permissions parse, object fields exist and hold strings, filtered lists
// exist and hold ids, read permissions go with RPCs that change nothing, and
// IAM permissions are never scoped to objects.
func TestRulesAreWellFormed(t *testing.T) {
	rules := DefaultRules()
	readNames := []string{"Get", "List", "Diff", "Export", "Query", "Tail", "Watch"}
	for _, md := range everyMethod() {
		p := procedureOf(md)
		rule, ok := rules[p]
		if !ok {
			continue // reported by TestEveryRPCHasARule
		}
		switch rule.Scope {
		case ScopePublic, ScopeAuthenticated:
			if rule.Permission != "" {
				t.Errorf("%s: public or authenticated rule names permission %q", p, rule.Permission)
			}
			continue
		case ScopeEverywhere, ScopeSomewhere, ScopeObject:
		default:
			t.Errorf("%s: invalid scope %d", p, rule.Scope)
			continue
		}
		perm, err := ParsePermission(rule.Permission)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		named := slices.ContainsFunc(readNames, func(prefix string) bool { return strings.HasPrefix(string(md.Name()), prefix) })
		if (perm.Verb == VerbRead) != named {
			t.Errorf("%s needs %s: read permissions are for Get/List/Diff/Export/Query/Tail/Watch RPCs only, and those need read permissions", p, perm)
		}
		if perm.Service == ServiceIAM && rule.Scope != ScopeEverywhere {
			t.Errorf("%s: IAM permission %s must be held over everything", p, perm)
		}
		if rule.Scope == ScopeObject && len(rule.Objects) == 0 {
			t.Errorf("%s: object rule without objects", p)
		}
		for _, ref := range rule.Objects {
			fd := md.Input().Fields().ByName(protoreflect.Name(ref.Field))
			if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsMap() {
				t.Errorf("%s: object field %q is not a string field of %s", p, ref.Field, md.Input().FullName())
			}
		}
		for _, f := range rule.Filters {
			fd := md.Output().Fields().ByName(protoreflect.Name(f.Field))
			if fd == nil || !fd.IsList() || fd.Message() == nil {
				t.Errorf("%s: filtered field %q is not a repeated message field of %s", p, f.Field, md.Output().FullName())
				continue
			}
			if !stringPathExists(fd.Message(), f.IDPath) {
				t.Errorf("%s: id path %q does not lead to a string in %s", p, f.IDPath, fd.Message().FullName())
			}
		}
		if perm.Verb == VerbRead && strings.HasPrefix(string(md.Name()), "List") && rule.Scope == ScopeSomewhere &&
			len(rule.Filters) == 0 && p != "/strata.iam.v1.IAMService/ListAuditEvents" {
			t.Errorf("%s lists objects for callers with scoped grants but filters nothing", p)
		}
	}
}

func stringPathExists(md protoreflect.MessageDescriptor, path string) bool {
	names := strings.Split(path, ".")
	for i, n := range names {
		fd := md.Fields().ByName(protoreflect.Name(n))
		if fd == nil || fd.IsList() {
			return false
		}
		if i == len(names)-1 {
			return fd.Kind() == protoreflect.StringKind
		}
		if fd.Message() == nil {
			return false
		}
		md = fd.Message()
	}
	return false
}

// testServer serves every RPC of every service with a handler that answers
// respond(procedure, request), behind the real authentication and
// authorization interceptors.
type testServer struct {
	url    string
	client *http.Client
}

func newTestServer(t *testing.T, policy Policy, rs *Resolvers, respond func(proc string, out *dynamicpb.Message)) *testServer {
	t.Helper()
	rules := DefaultRules()
	auth := apiauth.AuthenticatorFunc(func(_ context.Context, token string) (apiauth.Principal, error) {
		name, ok := strings.CutPrefix(token, "token-")
		if !ok {
			return apiauth.Principal{}, apiauth.ErrInvalidToken
		}
		return apiauth.Principal{Name: name, Kind: "token"}, nil
	})
	interceptors := connect.WithInterceptors(
		apiauth.NewInterceptor(auth, apiauth.WithPublicProcedures(rules.PublicProcedures()...)),
		NewInterceptor(policy, WithRules(rules), WithResolvers(rs)),
	)
	mux := http.NewServeMux()
	for _, md := range everyMethod() {
		if md.IsStreamingClient() {
			t.Fatalf("%s is a client-streaming RPC: extend newTestServer to serve it", procedureOf(md))
		}
		proc := procedureOf(md)
		init := connect.WithRequestInitializer(func(_ connect.Spec, msg any) error {
			*msg.(*dynamicpb.Message) = *dynamicpb.NewMessage(md.Input())
			return nil
		})
		if md.IsStreamingServer() {
			// One message, then the stream ends (the interceptor checks the
			// request before the handler runs).
			mux.Handle(proc, connect.NewServerStreamHandler(proc,
				func(_ context.Context, _ *connect.Request[dynamicpb.Message], st *connect.ServerStream[dynamicpb.Message]) error {
					out := dynamicpb.NewMessage(md.Output())
					if respond != nil {
						respond(proc, out)
					}
					return st.Send(out)
				},
				interceptors, connect.WithSchema(md), init))
			continue
		}
		mux.Handle(proc, connect.NewUnaryHandler(proc,
			func(_ context.Context, _ *connect.Request[dynamicpb.Message]) (*connect.Response[dynamicpb.Message], error) {
				out := dynamicpb.NewMessage(md.Output())
				if respond != nil {
					respond(proc, out)
				}
				return connect.NewResponse(out), nil
			},
			interceptors,
			connect.WithSchema(md),
			connect.WithRequestInitializer(func(_ connect.Spec, msg any) error {
				*msg.(*dynamicpb.Message) = *dynamicpb.NewMessage(md.Input())
				return nil
			}),
		))
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &testServer{url: srv.URL, client: srv.Client()}
}

// call invokes proc with a request built by fill, as the caller holding
// token ("" for none). It returns the response (nil on error) and the code.
func (s *testServer) call(t *testing.T, proc, token string, fill func(*dynamicpb.Message), opts ...connect.ClientOption) (*dynamicpb.Message, connect.Code) {
	t.Helper()
	md := methodByProcedure(t, proc)
	opts = append(opts, connect.WithSchema(md), connect.WithResponseInitializer(func(_ connect.Spec, msg any) error {
		*msg.(*dynamicpb.Message) = *dynamicpb.NewMessage(md.Output())
		return nil
	}))
	client := connect.NewClient[dynamicpb.Message, dynamicpb.Message](s.client, s.url+proc, opts...)
	in := dynamicpb.NewMessage(md.Input())
	if fill != nil {
		fill(in)
	}
	req := connect.NewRequest(in)
	if token != "" {
		req.Header().Set("Authorization", "Bearer "+token)
	}
	if md.IsStreamingServer() {
		st, err := client.CallServerStream(context.Background(), req)
		if err == nil {
			var got *dynamicpb.Message
			for st.Receive() {
				got = st.Msg()
			}
			if err = st.Err(); err == nil {
				return got, 0
			}
		}
		var ce *connect.Error
		if !errors.As(err, &ce) {
			t.Fatalf("%s: %v", proc, err)
		}
		return nil, ce.Code()
	}
	res, err := client.CallUnary(context.Background(), req)
	if err != nil {
		var ce *connect.Error
		if !errors.As(err, &ce) {
			t.Fatalf("%s: %v", proc, err)
		}
		return nil, ce.Code()
	}
	return res.Msg, 0
}

func methodByProcedure(t *testing.T, proc string) protoreflect.MethodDescriptor {
	t.Helper()
	for _, md := range everyMethod() {
		if procedureOf(md) == proc {
			return md
		}
	}
	t.Fatalf("no RPC %s", proc)
	return nil
}

// globalPolicy gives each caller one built-in role over everything; the
// caller "nobody" is authenticated and has no grant.
func globalPolicy() Policy {
	return PolicyFunc(func(_ context.Context, p apiauth.Principal) ([]Grant, error) {
		if r, ok := BuiltInRole(p.Name); ok {
			return []Grant{{Role: r, Scope: Everything}}, nil
		}
		return nil, nil
	})
}

// TestEveryRPCAsEveryRole calls every RPC of every service as every built-in
// role (held over everything), as an authenticated caller without grants and
// unauthenticated, and checks allow or deny.
func TestEveryRPCAsEveryRole(t *testing.T) {
	srv := newTestServer(t, globalPolicy(), newWorld().resolvers(), nil)
	rules := DefaultRules()
	callers := []string{"", "nobody", RoleViewer, RoleAdmin, RoleSuperAdmin}
	for _, md := range everyMethod() {
		proc := procedureOf(md)
		rule := rules[proc]
		for _, caller := range callers {
			name := caller
			if name == "" {
				name = "unauthenticated"
			}
			t.Run(strings.TrimPrefix(proc, "/")+"/"+name, func(t *testing.T) {
				token := ""
				if caller != "" {
					token = "token-" + caller
				}
				_, got := srv.call(t, proc, token, nil)
				want := expectedCode(rule, caller)
				if got != want {
					t.Fatalf("%s as %s: code %v, want %v", proc, name, got, want)
				}
			})
		}
	}
}

// expectedCode is what the role definitions promise: super_admin everything,
// admin everything but IAM, viewer reads outside IAM.
func expectedCode(rule Rule, caller string) connect.Code {
	if rule.Scope == ScopePublic {
		return 0
	}
	if caller == "" {
		return connect.CodeUnauthenticated
	}
	if rule.Scope == ScopeAuthenticated {
		return 0
	}
	perm, _ := ParsePermission(rule.Permission)
	allowed := false
	switch caller {
	case RoleSuperAdmin:
		allowed = true
	case RoleAdmin:
		allowed = perm.Service != ServiceIAM
	case RoleViewer:
		allowed = perm.Service != ServiceIAM && perm.Verb == VerbRead
	}
	if allowed {
		return 0
	}
	return connect.CodePermissionDenied
}

// TestRoleSpotChecks states a few promises by hand, independent of how
// expectedCode derives them.
func TestRoleSpotChecks(t *testing.T) {
	srv := newTestServer(t, globalPolicy(), nil, nil)
	tests := []struct {
		caller, proc string
		want         connect.Code
	}{
		{RoleViewer, "/strata.config.v1.ConfigService/ListApps", 0},
		{RoleViewer, "/strata.config.v1.ConfigService/GetSnapshot", 0},
		{RoleViewer, "/strata.config.v1.ConfigService/CreateApp", connect.CodePermissionDenied},
		{RoleViewer, "/strata.config.v1.ConfigService/CreateRelease", connect.CodePermissionDenied},
		{RoleViewer, "/strata.iam.v1.IAMService/ListUsers", connect.CodePermissionDenied},
		{RoleViewer, "/strata.iam.v1.IAMService/ListAuditEvents", 0},
		{RoleViewer, "/strata.iam.v1.IAMService/CreateToken", 0},
		{RoleAdmin, "/strata.config.v1.ConfigService/CreatePartition", 0},
		{RoleAdmin, "/strata.config.v1.NodeService/ApproveNode", 0},
		{RoleAdmin, "/strata.iam.v1.IAMService/CreateUser", connect.CodePermissionDenied},
		{RoleAdmin, "/strata.iam.v1.IAMService/CreateGrant", connect.CodePermissionDenied},
		{RoleAdmin, "/strata.iam.v1.IAMService/RevokeBootstrapToken", connect.CodePermissionDenied},
		{RoleSuperAdmin, "/strata.iam.v1.IAMService/CreateGrant", 0},
		{"nobody", "/strata.config.v1.ConfigService/ListApps", connect.CodePermissionDenied},
		{"nobody", "/strata.iam.v1.IAMService/WhoAmI", 0},
		{"", "/strata.iam.v1.IAMService/Login", 0},
		{"", "/strata.config.v1.NodeService/Join", 0},
		{"", "/strata.config.v1.ConfigService/ListApps", connect.CodeUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.caller+tt.proc, func(t *testing.T) {
			token := ""
			if tt.caller != "" {
				token = "token-" + tt.caller
			}
			if _, got := srv.call(t, tt.proc, token, nil); got != tt.want {
				t.Fatalf("code %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUnknownProcedureIsDenied(t *testing.T) {
	// A service added without rules: even super_admin is refused.
	rules := Rules{}
	i := NewInterceptor(globalPolicy(), WithRules(rules), WithLogger(slog.New(slog.DiscardHandler)))
	md := methodByProcedure(t, "/strata.config.v1.ConfigService/ListApps")
	proc := procedureOf(md)
	h := connect.NewUnaryHandler(proc,
		func(context.Context, *connect.Request[dynamicpb.Message]) (*connect.Response[dynamicpb.Message], error) {
			t.Error("handler reached")
			return connect.NewResponse(dynamicpb.NewMessage(md.Output())), nil
		},
		connect.WithInterceptors(apiauth.NewInterceptor(apiauth.AuthenticatorFunc(
			func(context.Context, string) (apiauth.Principal, error) {
				return apiauth.Principal{Name: RoleSuperAdmin}, nil
			})), i),
		connect.WithSchema(md),
		connect.WithRequestInitializer(func(_ connect.Spec, msg any) error {
			*msg.(*dynamicpb.Message) = *dynamicpb.NewMessage(md.Input())
			return nil
		}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := connect.NewClient[dynamicpb.Message, dynamicpb.Message](srv.Client(), srv.URL+proc, connect.WithSchema(md),
		connect.WithResponseInitializer(func(_ connect.Spec, msg any) error {
			*msg.(*dynamicpb.Message) = *dynamicpb.NewMessage(md.Output())
			return nil
		}))
	req := connect.NewRequest(dynamicpb.NewMessage(md.Input()))
	req.Header().Set("Authorization", "Bearer x")
	_, err := client.CallUnary(context.Background(), req)
	if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "no permission rule") {
		t.Fatalf("err = %v, want PermissionDenied naming the missing rule", err)
	}
}

// PolicyFunc adapts a function to Policy.
type PolicyFunc func(ctx context.Context, p apiauth.Principal) ([]Grant, error)

// Grants calls f.
func (f PolicyFunc) Grants(ctx context.Context, p apiauth.Principal) ([]Grant, error) {
	return f(ctx, p)
}

// WithRules replaces DefaultRules (tests).
func WithRules(r Rules) Option { return func(i *interceptor) { i.rules = r } }
