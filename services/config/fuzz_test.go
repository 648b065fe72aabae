package config

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
)

// checkOutcome: a command either records events or fails with field
// violations that each name a field and a reason.
func checkOutcome(t *testing.T, msgs []proto.Message, err error) {
	t.Helper()
	if err == nil {
		if len(msgs) != 1 {
			t.Fatalf("accepted with %d events", len(msgs))
		}
		return
	}
	if !apierr.IsKind(err, apierr.KindInvalid) {
		t.Fatalf("rejected with %v, want field violations", err)
	}
	vs := apierr.Violations(err)
	if len(vs) == 0 {
		t.Fatal("rejected without violations")
	}
	for _, v := range vs {
		if v.Field == "" || v.Reason == "" {
			t.Fatalf("violation without field or reason: %+v", v)
		}
	}
}

// FuzzCreateAppValidation feeds arbitrary app settings through the create
// path: it never panics, and accepted settings are normalized (validating
// them again changes nothing).
func FuzzCreateAppValidation(f *testing.F) {
	f.Add("shop", "shop.example.com,*.example.org", uint32(80), uint32(443), "team", "web")
	f.Add("", "Example.COM.,example.com", uint32(0), uint32(70000), "-k", "\x00")
	f.Add("a.b-c_d", "xn--bcher-kva.example,a..b", uint32(8080), uint32(8080), "k/v", strings.Repeat("v", 300))
	f.Add("UPPER", "1.2.3.4,[::1],host:80,*.*.com", uint32(65535), uint32(1), "", "")
	f.Fuzz(func(t *testing.T, name, domains string, httpPort, httpsPort uint32, labelKey, labelValue string) {
		s := &ev.AppSettings{Name: name, PartitionIds: []string{"part_a"}}
		if domains != "" {
			s.Domains = strings.Split(domains, ",")
		}
		if httpPort != 0 {
			s.HttpPorts = []uint32{httpPort}
		}
		if httpsPort != 0 {
			s.HttpsPorts = []uint32{httpsPort}
		}
		if labelKey != "" || labelValue != "" {
			s.Labels = map[string]string{labelKey: labelValue}
		}
		msgs, err := NewApp("app_f").Create(s)
		checkOutcome(t, msgs, err)
		if err != nil {
			return
		}
		out := msgs[0].(*ev.AppCreated).Settings
		again, vs := normalizeSettings(out)
		if len(vs) > 0 || !proto.Equal(again, out) {
			t.Fatalf("normalized settings do not validate to themselves: %v %v", vs, again)
		}
		if len(out.HttpPorts)+len(out.HttpsPorts) == 0 {
			t.Fatal("accepted an app without ports")
		}
	})
}

// FuzzUpstreamValidation: arbitrary server addresses, hash keys and health
// paths never panic, and accepted upstreams validate to themselves.
func FuzzUpstreamValidation(f *testing.F) {
	f.Add("web", "10.0.0.1:80", uint32(1), int32(1), "", "/health")
	f.Add("w", "[::1]:443", uint32(0), int32(4), "header:X-User", "health")
	f.Add("", "host", uint32(5000), int32(99), "cookie:", "")
	f.Fuzz(func(t *testing.T, name, addr string, weight uint32, policy int32, hashKey, path string) {
		u := &configv1.Upstream{Id: "ups_f", Name: name, Servers: []*configv1.Server{{Address: addr, Weight: weight}},
			Policy: configv1.BalancePolicy(policy), HashKey: hashKey, HealthCheck: &configv1.HealthCheck{Path: path}}
		a, _ := given(created)
		msgs, err := a.CreateUpstream(u)
		checkOutcome(t, msgs, err)
		if err != nil {
			return
		}
		out := msgs[0].(*ev.UpstreamCreated).Upstream
		if again, vs := normalizeUpstream("upstream", out); len(vs) > 0 || !proto.Equal(again, out) {
			t.Fatalf("accepted upstream does not validate to itself: %v", vs)
		}
	})
}

// FuzzRuleValidation: arbitrary conditions, header names, redirect URLs and
// rewrite patterns never panic.
func FuzzRuleValidation(f *testing.F) {
	f.Add("api", "PathPrefix(`/api`)", "X-Test", "https://$host$request_uri", "^/old/(.*)$", "/new/$1")
	f.Add("r", "Host(`a.example.com`) && !Method(`GET`)", "Bad Header", "", "(", "$9")
	f.Add("", "((", ":", " ", "a{1000}b{1000}c{1000}d{1000}e{1000}f{1000}", "x")
	f.Fuzz(func(t *testing.T, name, when, header, url, pathRegex, replacement string) {
		r := &configv1.Rule{Id: "rule_f", Name: name, When: when, Actions: []*configv1.Action{
			{Action: &configv1.Action_RequestHeaders{RequestHeaders: &configv1.HeaderOps{Set: map[string]string{header: "v"}}}},
			{Action: &configv1.Action_Rewrite{Rewrite: &configv1.RewriteAction{PathRegex: pathRegex, PathReplacement: replacement}}},
			{Action: &configv1.Action_Redirect{Redirect: &configv1.RedirectAction{Url: url}}},
		}}
		a, _ := given(created, webCreated)
		msgs, err := a.CreateRule(r, nil)
		checkOutcome(t, msgs, err)
	})
}

// FuzzStreamSettings feeds arbitrary stream and forward-proxy settings
// through the create path: never a panic, only field violations, and
// accepted settings are normalized (validating them again changes nothing).
func FuzzStreamSettings(f *testing.F) {
	f.Add(uint32(9000), int32(1), int32(2), "a.example.com", "echo", "10.0.0.0/8", "443", "alice")
	f.Add(uint32(0), int32(9), int32(1), "*.Example.com.", "", "10.0.0.1/8", "9000-8000", "a:b")
	f.Add(uint32(70000), int32(2), int32(5), "a..b", "Bad!", "::ffff:1.2.3.4", "+5", "")
	f.Fuzz(func(t *testing.T, port uint32, protocol, tlsMode int32, serverName, upstream, cidr, egressPort, user string) {
		stream := &configv1.StreamApp{
			Listeners: []*configv1.StreamListener{{Port: port, Protocol: configv1.StreamProtocol(protocol)}},
			Upstream:  upstream, TlsMode: configv1.StreamTlsMode(tlsMode),
			SniRoutes: []*configv1.SniRoute{{ServerName: serverName, Upstream: upstream}},
			Access:    &configv1.AccessControl{AllowCidrs: []string{cidr}},
		}
		for _, s := range []*ev.AppSettings{
			{Name: "s", PartitionIds: []string{"part_a"}, Role: &ev.AppSettings_Stream{Stream: stream}},
			{Name: "f", PartitionIds: []string{"part_a"}, Role: &ev.AppSettings_ForwardProxy{ForwardProxy: &configv1.ForwardProxyApp{
				Socks5Ports: []uint32{port},
				Credentials: []*configv1.ProxyCredential{{Username: user, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"}},
				Egress:      &configv1.EgressPolicy{AllowPorts: []string{egressPort}, AllowDomains: []string{serverName}, DenyCidrs: []string{cidr}},
			}}},
		} {
			msgs, err := NewApp("app_f").Create(s)
			checkOutcome(t, msgs, err)
			if err != nil {
				continue
			}
			out := msgs[0].(*ev.AppCreated).Settings
			if again, vs := normalizeSettings(out); len(vs) > 0 || !proto.Equal(again, out) {
				t.Fatalf("normalized settings change when validated again: %v -> %v (%v)", out, again, vs)
			}
		}
	})
}

func FuzzParsePortRange(f *testing.F) {
	for _, s := range []string{"443", "8000-8100", "0", "65536", "1-", "-1", "+1", "9-8", "1-65535"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lo, hi, err := ParsePortRange(s)
		if err == nil && (lo == 0 || hi < lo) {
			t.Fatalf("%q -> %d-%d accepted", s, lo, hi)
		}
	})
}
