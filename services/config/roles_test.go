package config

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/passhash"
)

const (
	tcp         = configv1.StreamProtocol_STREAM_PROTOCOL_TCP
	udp         = configv1.StreamProtocol_STREAM_PROTOCOL_UDP
	terminate   = configv1.StreamTlsMode_STREAM_TLS_MODE_TERMINATE
	passthrough = configv1.StreamTlsMode_STREAM_TLS_MODE_PASSTHROUGH
)

func streamApp(change func(s *configv1.StreamApp)) *configv1.StreamApp {
	s := &configv1.StreamApp{Listeners: []*configv1.StreamListener{{Port: 9000}}, Upstream: "echo"}
	if change != nil {
		change(s)
	}
	return s
}

func forwardApp(change func(f *configv1.ForwardProxyApp)) *configv1.ForwardProxyApp {
	f := &configv1.ForwardProxyApp{Socks5Ports: []uint32{1080},
		Credentials: []*configv1.ProxyCredential{{Username: "alice", Password: "s3cret-alice"}}}
	if change != nil {
		change(f)
	}
	return f
}

// TestRoleValidationRejects checks every refusal of the role settings:
// InvalidArgument naming the field, with a reason.
func TestRoleValidationRejects(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, ctx := e.client, e.ctx
	st := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "st", Role: &configv1.CreateAppRequest_Stream{Stream: streamApp(nil)}}))(t).App
	fw := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "fw", Role: &configv1.CreateAppRequest_ForwardProxy{ForwardProxy: forwardApp(nil)}}))(t).App
	web := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "web", Domains: []string{"web.example.com"}}))(t).App

	stream := func(change func(s *configv1.StreamApp)) func() error {
		return func() error {
			_, err := c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "n", Role: &configv1.CreateAppRequest_Stream{Stream: streamApp(change)}})
			return err
		}
	}
	forward := func(change func(f *configv1.ForwardProxyApp)) func() error {
		return func() error {
			_, err := c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "n", Role: &configv1.CreateAppRequest_ForwardProxy{ForwardProxy: forwardApp(change)}})
			return err
		}
	}
	create := func(req *configv1.CreateAppRequest) func() error {
		return func() error { _, err := c.CreateApp(ctx, req); return err }
	}
	upstreamOf := func(app string, u *configv1.Upstream) func() error {
		return func() error {
			_, err := c.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: app, Upstream: u})
			return err
		}
	}
	listeners := make([]*configv1.StreamListener, maxListeners+1)
	for i := range listeners {
		listeners[i] = &configv1.StreamListener{Port: uint32(10000 + i)}
	}
	creds := make([]*configv1.ProxyCredential, maxCredentials+1)
	for i := range creds {
		creds[i] = &configv1.ProxyCredential{Username: fmt.Sprintf("u%d", i), Password: "p"}
	}
	manyNew := creds[:maxNewPasswords+1]

	tests := []struct {
		name   string
		call   func() error
		field  string
		reason string
	}{
		{"stream http ports", create(&configv1.CreateAppRequest{Name: "n", HttpPorts: []uint32{80}, Role: &configv1.CreateAppRequest_Stream{Stream: streamApp(nil)}}), "http_ports", "no http ports"},
		{"stream https ports", create(&configv1.CreateAppRequest{Name: "n", HttpsPorts: []uint32{443}, Role: &configv1.CreateAppRequest_Stream{Stream: streamApp(nil)}}), "https_ports", "no https ports"},
		{"stream https redirect", create(&configv1.CreateAppRequest{Name: "n", HttpsRedirect: true, Role: &configv1.CreateAppRequest_Stream{Stream: streamApp(nil)}}), "https_redirect", "HTTP apps only"},
		{"stream hsts", create(&configv1.CreateAppRequest{Name: "n", Hsts: &configv1.Hsts{MaxAgeSeconds: 1}, Role: &configv1.CreateAppRequest_Stream{Stream: streamApp(nil)}}), "hsts", "HTTP apps only"},
		{"stream domains without tls", create(&configv1.CreateAppRequest{Name: "n", Domains: []string{"a.example.com"}, Role: &configv1.CreateAppRequest_Stream{Stream: streamApp(nil)}}), "domains", "TERMINATE"},
		{"no listener", stream(func(s *configv1.StreamApp) { s.Listeners = nil }), "stream.listeners", "at least one"},
		{"too many listeners", stream(func(s *configv1.StreamApp) { s.Listeners = listeners }), "stream.listeners", "more than 64"},
		{"listener port zero", stream(func(s *configv1.StreamApp) { s.Listeners[0].Port = 0 }), "stream.listeners[0].port", "out of range"},
		{"listener port too big", stream(func(s *configv1.StreamApp) { s.Listeners[0].Port = 70000 }), "stream.listeners[0].port", "out of range"},
		{"listener protocol", stream(func(s *configv1.StreamApp) { s.Listeners[0].Protocol = 7 }), "stream.listeners[0].protocol", "unknown protocol"},
		{"listener duplicate", stream(func(s *configv1.StreamApp) {
			s.Listeners = append(s.Listeners, &configv1.StreamListener{Port: 9000, Protocol: tcp})
		}), "stream.listeners[1]", "tcp/9000 is already listed in listeners[0]"},
		{"tls over udp", stream(func(s *configv1.StreamApp) {
			s.TlsMode = terminate
			s.Listeners[0].Protocol = udp
		}), "stream.listeners[0].protocol", "needs TCP"},
		{"unknown tls mode", stream(func(s *configv1.StreamApp) { s.TlsMode = 9 }), "stream.tls_mode", "unknown"},
		{"no upstream", stream(func(s *configv1.StreamApp) { s.Upstream = "" }), "stream.upstream", "is required"},
		{"passthrough without routes", stream(func(s *configv1.StreamApp) { s.Upstream, s.TlsMode = "", passthrough }), "stream.upstream", "sni_routes or an upstream"},
		{"upstream name", stream(func(s *configv1.StreamApp) { s.Upstream = "Bad!" }), "stream.upstream", "invalid character"},
		{"routes without tls", stream(func(s *configv1.StreamApp) {
			s.SniRoutes = []*configv1.SniRoute{{ServerName: "a.example.com", Upstream: "echo"}}
		}), "stream.sni_routes", "need tls_mode"},
		{"route server name", stream(func(s *configv1.StreamApp) {
			s.TlsMode = passthrough
			s.SniRoutes = []*configv1.SniRoute{{ServerName: "a.*.example.com", Upstream: "echo"}}
		}), "stream.sni_routes[0].server_name", "wildcard"},
		{"route server name duplicate", stream(func(s *configv1.StreamApp) {
			s.TlsMode = passthrough
			s.SniRoutes = []*configv1.SniRoute{{ServerName: "a.example.com", Upstream: "echo"}, {ServerName: "A.example.com.", Upstream: "x"}}
		}), "stream.sni_routes[1].server_name", "duplicate of sni_routes[0]"},
		{"route without upstream", stream(func(s *configv1.StreamApp) {
			s.TlsMode = passthrough
			s.SniRoutes = []*configv1.SniRoute{{ServerName: "a.example.com"}}
		}), "stream.sni_routes[0].upstream", "is required"},
		{"connect timeout", stream(func(s *configv1.StreamApp) { s.ConnectTimeoutMs = maxTimeoutMS + 1 }), "stream.connect_timeout_ms", "1h"},
		{"idle timeout", stream(func(s *configv1.StreamApp) { s.IdleTimeoutMs = maxTimeoutMS + 1 }), "stream.idle_timeout_ms", "1h"},
		{"drain timeout", stream(func(s *configv1.StreamApp) { s.DrainTimeoutMs = maxTimeoutMS + 1 }), "stream.drain_timeout_ms", "1h"},
		{"udp idle", stream(func(s *configv1.StreamApp) { s.UdpSessionIdleMs = maxTimeoutMS + 1 }), "stream.udp_session_idle_ms", "1h"},
		{"max connections", stream(func(s *configv1.StreamApp) { s.MaxConnections = maxStreamConns + 1 }), "stream.max_connections", "more than"},
		{"proxy protocol version", stream(func(s *configv1.StreamApp) { s.SendProxyProtocol = 3 }), "stream.send_proxy_protocol", "unknown"},
		{"trusted cidr syntax", stream(func(s *configv1.StreamApp) { s.ProxyProtocolTrustedCidrs = []string{"10.0.0.0/33"} }), "stream.proxy_protocol_trusted_cidrs[0]", "not a network"},
		{"trusted cidr host bits", stream(func(s *configv1.StreamApp) { s.ProxyProtocolTrustedCidrs = []string{"10.0.0.1/8"} }), "stream.proxy_protocol_trusted_cidrs[0]", "did you mean 10.0.0.0/8"},
		{"allow cidr", stream(func(s *configv1.StreamApp) { s.Access = &configv1.AccessControl{AllowCidrs: []string{"nope"}} }), "stream.access.allow_cidrs[0]", "not a network"},
		{"deny cidr duplicate", stream(func(s *configv1.StreamApp) {
			s.Access = &configv1.AccessControl{DenyCidrs: []string{"192.0.2.7", "192.0.2.7/32"}}
		}), "stream.access.deny_cidrs[1]", "duplicate of deny_cidrs[0]"},
		{"burst without rate", stream(func(s *configv1.StreamApp) { s.Access = &configv1.AccessControl{Burst: 5} }), "stream.access.burst", "without connections_per_second"},
		{"rate too high", stream(func(s *configv1.StreamApp) {
			s.Access = &configv1.AccessControl{ConnectionsPerSecond: maxRatePerIP + 1}
		}), "stream.access.connections_per_second", "more than"},
		{"conns per ip", stream(func(s *configv1.StreamApp) {
			s.Access = &configv1.AccessControl{MaxConnectionsPerIp: maxConnsPerClient + 1}
		}), "stream.access.max_connections_per_ip", "more than"},

		{"forward http ports", create(&configv1.CreateAppRequest{Name: "n", HttpPorts: []uint32{80}, Role: &configv1.CreateAppRequest_ForwardProxy{ForwardProxy: forwardApp(nil)}}), "http_ports", "no http ports"},
		{"forward domains", create(&configv1.CreateAppRequest{Name: "n", Domains: []string{"a.example.com"}, Role: &configv1.CreateAppRequest_ForwardProxy{ForwardProxy: forwardApp(nil)}}), "domains", "no domains"},
		{"forward no port", forward(func(f *configv1.ForwardProxyApp) { f.Socks5Ports = nil }), "forward_proxy.socks5_ports", "at least one"},
		{"forward port range", forward(func(f *configv1.ForwardProxyApp) { f.HttpPorts = []uint32{0} }), "forward_proxy.http_ports[0]", "out of range"},
		{"forward port duplicate", forward(func(f *configv1.ForwardProxyApp) { f.HttpPorts = []uint32{1080} }), "forward_proxy.http_ports[0]", "already listed in socks5_ports[0]"},
		{"forward no credential", forward(func(f *configv1.ForwardProxyApp) { f.Credentials = nil }), "forward_proxy.credentials", "at least one"},
		{"forward too many new passwords", forward(func(f *configv1.ForwardProxyApp) { f.Credentials = manyNew }), "forward_proxy.credentials", "51 new passwords in one request, more than 50"},
		{"forward too many credentials", forward(func(f *configv1.ForwardProxyApp) { f.Credentials = creds }), "forward_proxy.credentials", "more than 1000"},
		{"username empty", forward(func(f *configv1.ForwardProxyApp) { f.Credentials[0].Username = "" }), "forward_proxy.credentials[0].username", "is empty"},
		{"username too long", forward(func(f *configv1.ForwardProxyApp) { f.Credentials[0].Username = strings.Repeat("u", 256) }), "forward_proxy.credentials[0].username", "RFC 1929"},
		{"username colon", forward(func(f *configv1.ForwardProxyApp) { f.Credentials[0].Username = "a:b" }), "forward_proxy.credentials[0].username", "contains ':'"},
		{"username duplicate", forward(func(f *configv1.ForwardProxyApp) {
			f.Credentials = append(f.Credentials, &configv1.ProxyCredential{Username: "alice", Password: "x"})
		}), "forward_proxy.credentials[1].username", "duplicate of credentials[0]"},
		{"password missing", forward(func(f *configv1.ForwardProxyApp) { f.Credentials[0].Password = "" }), "forward_proxy.credentials[0].password", "required for a new credential"},
		{"password too long", forward(func(f *configv1.ForwardProxyApp) { f.Credentials[0].Password = strings.Repeat("p", 256) }), "forward_proxy.credentials[0].password", "RFC 1929"},
		{"password hash given", forward(func(f *configv1.ForwardProxyApp) {
			f.Credentials[0].Password = ""
			f.Credentials[0].PasswordHash = passhash.Hash("x", passhash.Default)
		}), "forward_proxy.credentials[0].password_hash", "set by the service"},
		{"egress cidr", forward(func(f *configv1.ForwardProxyApp) {
			f.Egress = &configv1.EgressPolicy{AllowCidrs: []string{"10.0.0.0/8x"}}
		}), "forward_proxy.egress.allow_cidrs[0]", "not a network"},
		{"egress deny cidr", forward(func(f *configv1.ForwardProxyApp) {
			f.Egress = &configv1.EgressPolicy{DenyCidrs: []string{"fe80::1%eth0"}}
		}), "forward_proxy.egress.deny_cidrs[0]", "not a network"},
		{"egress domain", forward(func(f *configv1.ForwardProxyApp) {
			f.Egress = &configv1.EgressPolicy{AllowDomains: []string{"bad_name.example.com"}}
		}), "forward_proxy.egress.allow_domains[0]", "invalid character"},
		{"egress port", forward(func(f *configv1.ForwardProxyApp) { f.Egress = &configv1.EgressPolicy{AllowPorts: []string{"443", "0"}} }), "forward_proxy.egress.allow_ports[1]", "not a port"},
		{"egress port range", forward(func(f *configv1.ForwardProxyApp) {
			f.Egress = &configv1.EgressPolicy{AllowPorts: []string{"9000-8000"}}
		}), "forward_proxy.egress.allow_ports[0]", "ends before it starts"},
		{"credential egress", forward(func(f *configv1.ForwardProxyApp) {
			f.Credentials[0].Egress = &configv1.EgressPolicy{AllowPorts: []string{"x"}}
		}), "forward_proxy.credentials[0].egress.allow_ports[0]", "not a port"},
		{"forward access", forward(func(f *configv1.ForwardProxyApp) {
			f.Access = &configv1.AccessControl{AllowCidrs: []string{"1.2.3.4/40"}}
		}), "forward_proxy.access.allow_cidrs[0]", "not a network"},
		{"forward timeout", forward(func(f *configv1.ForwardProxyApp) { f.IdleTimeoutMs = maxTimeoutMS + 1 }), "forward_proxy.idle_timeout_ms", "1h"},

		{"port of another stream app", stream(nil), "stream.listeners[0]", `port tcp/9000 is already used by app "st"`},
		{"stream port of an http app", stream(func(s *configv1.StreamApp) { s.Listeners[0].Port = 80 }), "stream.listeners[0]", `port tcp/80 is already used by app "web"`},
		{"http port of a forward app", create(&configv1.CreateAppRequest{Name: "n", Domains: []string{"n.example.com"}, HttpPorts: []uint32{1080}}), "http_ports[0]", `port tcp/1080 is already used by app "fw"`},

		{"role change to http", func() error {
			_, err := c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: st.Id})
			return err
		}, "stream", "role cannot change"},
		{"role change to stream", func() error {
			_, err := c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: web.Id, Domains: []string{"web.example.com"}, Role: &configv1.UpdateAppRequest_Stream{Stream: streamApp(nil)}})
			return err
		}, "stream", "role cannot change"},
		{"role change to forward", func() error {
			_, err := c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: st.Id, Role: &configv1.UpdateAppRequest_ForwardProxy{ForwardProxy: forwardApp(nil)}})
			return err
		}, "forward_proxy", "role cannot change"},
		{"stream health check path", upstreamOf(st.Id, upstreamWith(func(u *configv1.Upstream) {
			u.HealthCheck = &configv1.HealthCheck{Enabled: true, Path: "/health"}
		})), "upstream.health_check.path", "TCP connect probe"},
		{"stream health check host", upstreamOf(st.Id, upstreamWith(func(u *configv1.Upstream) {
			u.HealthCheck = &configv1.HealthCheck{Enabled: true, Host: "a.example.com"}
		})), "upstream.health_check.host", "TCP connect probe"},
		{"stream health check statuses", upstreamOf(st.Id, upstreamWith(func(u *configv1.Upstream) {
			u.HealthCheck = &configv1.HealthCheck{Enabled: true, ExpectedStatuses: []uint32{200}}
		})), "upstream.health_check.expected_statuses", "TCP connect probe"},
		{"stream hash key", upstreamOf(st.Id, upstreamWith(func(u *configv1.Upstream) {
			u.Policy, u.HashKey = configv1.BalancePolicy_BALANCE_POLICY_CONSISTENT_HASH, "uri"
		})), "upstream.hash_key", "client_ip only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head := e.head()
			v := wantField(t, tt.call(), tt.field)
			if !strings.Contains(v.Reason, tt.reason) {
				t.Errorf("reason %q does not contain %q", v.Reason, tt.reason)
			}
			if h := e.head(); h != head {
				t.Errorf("a refused request stored events (head %d -> %d)", head, h)
			}
		})
	}

	// Refused with FailedPrecondition: rules on stream and forward apps,
	// upstreams on forward apps.
	_, err := c.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: st.Id, Rule: proxyRule("r", "", "echo")})
	if ce := wantCode(t, err, connect.CodeFailedPrecondition); !strings.Contains(ce.Message(), "page rules are for HTTP apps only") {
		t.Errorf("CreateRule on a stream app: %v", ce.Message())
	}
	_, err = c.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: fw.Id, Upstream: sampleUpstream("x", "10.0.0.1:80")})
	if ce := wantCode(t, err, connect.CodeFailedPrecondition); !strings.Contains(ce.Message(), "no upstreams") {
		t.Errorf("CreateUpstream on a forward app: %v", ce.Message())
	}
}

// TestStreamAppNormalized checks the defaults: no [80] port, TCP for an
// unspecified protocol, canonical networks and names.
func TestStreamAppNormalized(t *testing.T) {
	e := newEnv(t, envOptions{})
	app := must(e.client.CreateApp(e.ctx, &configv1.CreateAppRequest{Name: "tls", Domains: []string{"Edge.Example.com."},
		Role: &configv1.CreateAppRequest_Stream{Stream: streamApp(func(s *configv1.StreamApp) {
			s.TlsMode = passthrough
			s.SniRoutes = []*configv1.SniRoute{{ServerName: "*.Example.com", Upstream: "echo"}}
			s.Access = &configv1.AccessControl{AllowCidrs: []string{"2001:db8::1"}}
		})}}))(t).App
	if len(app.HttpPorts)+len(app.HttpsPorts) != 0 {
		t.Errorf("ports = %v %v, want none", app.HttpPorts, app.HttpsPorts)
	}
	s := app.GetStream()
	if s.Listeners[0].Protocol != tcp || s.SniRoutes[0].ServerName != "*.example.com" ||
		s.Access.AllowCidrs[0] != "2001:db8::1/128" || app.Domains[0] != "edge.example.com" {
		t.Errorf("not normalized: %v", app)
	}
}

// TestStreamReleaseAndRevert releases a stream app, changes its listeners,
// releases again and reverts to the first release; the snapshot follows.
// Upstreams the stream settings name must exist at release, and cannot be
// deleted or renamed while named.
func TestStreamReleaseAndRevert(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, ctx := e.client, e.ctx
	app := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "echo", Role: &configv1.CreateAppRequest_Stream{Stream: streamApp(func(s *configv1.StreamApp) {
		s.Listeners = append(s.Listeners, &configv1.StreamListener{Port: 9053, Protocol: udp})
	})}}))(t).App

	_, err := c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id})
	if ce := wantCode(t, err, connect.CodeFailedPrecondition); !strings.Contains(ce.Message(), `stream.upstream names upstream "echo", which does not exist`) {
		t.Errorf("release without the upstream: %v", ce.Message())
	}
	up := sampleUpstream("echo", "10.0.0.1:7")
	up.HealthCheck = &configv1.HealthCheck{Enabled: true, IntervalMs: 1000} // a TCP probe: no path
	up = must(c.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: app.Id, Upstream: up}))(t).Upstream
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id, Note: "first"}))(t)

	_, err = c.DeleteUpstream(ctx, &configv1.DeleteUpstreamRequest{AppId: app.Id, Upstream: "echo"})
	if v := wantField(t, err, "upstream"); !strings.Contains(v.Reason, "stream.upstream") {
		t.Errorf("delete a named upstream: %v", v.Reason)
	}
	renamed := proto.Clone(up).(*configv1.Upstream)
	renamed.Name = "other"
	_, err = c.UpdateUpstream(ctx, &configv1.UpdateUpstreamRequest{AppId: app.Id, Upstream: renamed})
	if v := wantField(t, err, "upstream.name"); !strings.Contains(v.Reason, "stream.upstream") {
		t.Errorf("rename a named upstream: %v", v.Reason)
	}

	must(c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: app.Id, Role: &configv1.UpdateAppRequest_Stream{Stream: streamApp(func(s *configv1.StreamApp) {
		s.Listeners[0].Port = 9001
		s.IdleTimeoutMs = 30_000
	})}}))(t)
	diff := must(c.DiffApp(ctx, &configv1.DiffAppRequest{AppId: app.Id}))(t)
	for _, want := range []string{"9001", "idle_timeout_ms"} {
		if !strings.Contains(diff.Text, want) {
			t.Errorf("diff does not show %q:\n%s", want, diff.Text)
		}
	}
	if len(diff.Changes) != 1 || !strings.Contains(diff.Changes[0].Summary, "stream") {
		t.Errorf("changes = %v", diff.Changes)
	}
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id, Note: "second"}))(t)
	_, snap := snapshotOf(t, c, e, app.PartitionIds[0], false)
	if got := findApp(snap, app.Id).GetStream().Listeners; len(got) != 1 || got[0].Port != 9001 {
		t.Fatalf("released listeners = %v", got)
	}

	// After the revert port 9000 is the echo app's again.
	must(c.RevertApp(ctx, &configv1.RevertAppRequest{AppId: app.Id, ToRelease: 1, Note: "back"}))(t)
	checkFor(t, func() error {
		_, snap := snapshotOf(t, c, e, app.PartitionIds[0], false)
		got := findApp(snap, app.Id).GetStream()
		if len(got.GetListeners()) != 2 || got.Listeners[0].Port != 9000 || got.Listeners[1].Protocol != udp || got.IdleTimeoutMs != 0 {
			return fmt.Errorf("after revert: %v", got)
		}
		return nil
	})
	draft := must(c.GetApp(ctx, &configv1.GetAppRequest{AppId: app.Id}))(t).App
	if draft.GetStream().Listeners[0].Port != 9000 {
		t.Errorf("draft after revert = %v", draft.GetStream())
	}
	_, err = c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "late", Role: &configv1.CreateAppRequest_Stream{Stream: streamApp(nil)}})
	if v := wantField(t, err, "stream.listeners[0]"); !strings.Contains(v.Reason, `app "echo"`) {
		t.Errorf("port after revert: %v", v.Reason)
	}
}

// TestPortConflictAtRelease: two apps in different partitions take the same
// port; moving one into the other's partition is refused, naming the app.
func TestPortConflictAtRelease(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, ctx := e.client, e.ctx
	pt := must(c.CreatePartition(ctx, &configv1.CreatePartitionRequest{Name: "other"}))(t).Partition
	a := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "a", Role: &configv1.CreateAppRequest_Stream{Stream: streamApp(nil)}}))(t).App
	b := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "b", Partitions: []string{pt.Id}, Role: &configv1.CreateAppRequest_Stream{Stream: streamApp(nil)}}))(t).App
	// A UDP listener on the same port number is another port.
	must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "dns", Role: &configv1.CreateAppRequest_Stream{Stream: streamApp(func(s *configv1.StreamApp) {
		s.Listeners[0].Protocol = udp
	})}}))(t)
	_, err := c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: b.Id, Partitions: []string{pt.Id, "default"}, Role: &configv1.UpdateAppRequest_Stream{Stream: streamApp(nil)}})
	v := wantField(t, err, "stream.listeners[0]")
	if !strings.Contains(v.Reason, fmt.Sprintf(`app "a" (%s) in partition "default"`, a.Id)) {
		t.Errorf("reason = %q", v.Reason)
	}

	// The release check catches what edits let through (two replicas
	// accepting conflicting edits): content that collides is refused.
	var rerr error
	e.svc.proj.Read(func(st *state) {
		bad := &configv1.App{Name: "b", PartitionIds: []string{a.PartitionIds[0]}, Role: &configv1.App_Stream{Stream: streamApp(nil)}}
		rerr = st.releaseConflicts(bad, b.Id)
	})
	if rerr == nil || !strings.Contains(rerr.Error(), `port tcp/9000 is already used by app "a"`) {
		t.Errorf("releaseConflicts = %v", rerr)
	}
}

// TestPasswordsNeverStored: clear passwords are hashed before any event is
// recorded, never returned, and an update without a password keeps the hash.
func TestPasswordsNeverStored(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, ctx := e.client, e.ctx
	const pw, pw2 = "correct-horse-battery", "second-staple-secret"
	app := must(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "px", Role: &configv1.CreateAppRequest_ForwardProxy{ForwardProxy: forwardApp(func(f *configv1.ForwardProxyApp) {
		f.Credentials[0].Password = pw
		f.HttpPorts = []uint32{3128}
		f.Egress = &configv1.EgressPolicy{AllowPorts: []string{"443", "8000-8100"}, AllowDomains: []string{"Example.com"}}
	})}}))(t).App
	cred := app.GetForwardProxy().Credentials[0]
	if cred.Password != "" {
		t.Fatal("CreateApp returned the clear password")
	}
	if ok, err := passhash.Verify(cred.PasswordHash, pw); !ok || err != nil {
		t.Fatalf("hash does not verify: %v %v", ok, err)
	}
	// Bob is new (password), alice keeps hers (none given).
	upd := must(c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: app.Id, Role: &configv1.UpdateAppRequest_ForwardProxy{ForwardProxy: forwardApp(func(f *configv1.ForwardProxyApp) {
		f.Credentials = []*configv1.ProxyCredential{{Username: "alice"}, {Username: "bob", Password: pw2}}
	})}}))(t).App
	got := upd.GetForwardProxy().Credentials
	if got[0].PasswordHash != cred.PasswordHash || got[1].Password != "" {
		t.Errorf("update: %v", got)
	}
	// A read sent back unchanged is accepted (the hash is alice's).
	must(c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: app.Id, Role: &configv1.UpdateAppRequest_ForwardProxy{ForwardProxy: upd.GetForwardProxy()}}))(t)
	_, err := c.UpdateApp(ctx, &configv1.UpdateAppRequest{AppId: app.Id, Role: &configv1.UpdateAppRequest_ForwardProxy{ForwardProxy: forwardApp(func(f *configv1.ForwardProxyApp) {
		f.Credentials = []*configv1.ProxyCredential{{Username: "carol"}}
	})}})
	wantField(t, err, "forward_proxy.credentials[0].password")
	must(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))(t)

	events, err := e.store.ReadAll(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	sawHash := false
	for _, ev := range events {
		if bytes.Contains(ev.Data, []byte(pw)) || bytes.Contains(ev.Data, []byte(pw2)) {
			t.Errorf("event %d (%s) holds a clear password", ev.Position, ev.Type)
		}
		sawHash = sawHash || bytes.Contains(ev.Data, []byte(cred.PasswordHash))
	}
	if !sawHash {
		t.Error("no event holds the password hash")
	}
	diff := must(c.DiffApp(ctx, &configv1.DiffAppRequest{AppId: app.Id}))(t)
	if strings.Contains(diff.Text+diff.PendingJson, pw) {
		t.Error("diff shows a clear password")
	}
}
