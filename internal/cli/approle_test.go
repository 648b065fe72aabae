package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// TestStreamAppFlags: app create/update build a stream app from flags,
// update keeps what is not mentioned, get and list show the role, and an
// upstream takes a TCP health check without a path.
func TestStreamAppFlags(t *testing.T) {
	s := newCLI(t, startAPI(t))
	id := s.ok("app", "create", "--name", "echo", "--stream-listen", "tcp/9000", "--stream-listen", "udp/9053",
		"--stream-upstream", "echo", "--send-proxy-protocol", "v2", "--proxy-protocol-from", "10.1.0.0/16",
		"--allow", "10.0.0.0/8", "--deny", "10.9.0.0/16", "--conn-rate", "50", "--conn-burst", "100", "--max-conns-per-ip", "20",
		"--via-parent", "--connect-timeout", "2s", "--idle-timeout", "5m", "--max-connections", "1000",
		"--drain-timeout", "10s", "--udp-idle", "30s")
	s.ok("upstream", "create", "--app", "echo", "--name", "echo", "--server", "10.0.0.5:7", "--health-check", "--health-interval", "2s")
	get := func() *configv1.App {
		res := &configv1.GetAppResponse{}
		s.json(res, "app", "get", id)
		return res.GetApp()
	}
	a := get()
	st := a.GetStream()
	if len(a.GetHttpPorts()) != 0 || len(st.GetListeners()) != 2 || st.GetListeners()[1].GetProtocol() != configv1.StreamProtocol_STREAM_PROTOCOL_UDP ||
		st.GetSendProxyProtocol() != configv1.ProxyProtocolVersion_PROXY_PROTOCOL_VERSION_V2 || !st.GetViaParent() ||
		st.GetConnectTimeoutMs() != 2000 || st.GetIdleTimeoutMs() != 300_000 || st.GetMaxConnections() != 1000 ||
		st.GetDrainTimeoutMs() != 10_000 || st.GetUdpSessionIdleMs() != 30_000 ||
		st.GetAccess().GetConnectionsPerSecond() != 50 || st.GetAccess().GetBurst() != 100 || st.GetAccess().GetMaxConnectionsPerIp() != 20 ||
		st.GetAccess().GetDenyCidrs()[0] != "10.9.0.0/16" {
		t.Fatalf("after create: %v", a)
	}
	if hc := a.GetUpstreams()[0].GetHealthCheck(); !hc.GetEnabled() || hc.GetPath() != "" || hc.GetIntervalMs() != 2000 {
		t.Errorf("TCP health check: %v", hc)
	}
	s.ok("release", "create", "--app", "echo")

	s.ok("app", "update", "echo", "--stream-listen", "tcp/9001", "--label", "team=net")
	a = get()
	if l := a.GetStream().GetListeners(); len(l) != 1 || l[0].GetPort() != 9001 || a.GetStream().GetAccess().GetConnectionsPerSecond() != 50 || a.GetLabels()["team"] != "net" {
		t.Errorf("after update: %v", a)
	}
	text := s.ok("app", "get", "echo")
	for _, want := range []string{"role:", "stream", "tcp/9001", "send v2; trusted from 10.1.0.0/16", "health tcp"} {
		if !strings.Contains(text, want) {
			t.Errorf("app get lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "rules (") || strings.Contains(text, "http ports") {
		t.Errorf("app get of a stream app shows HTTP settings:\n%s", text)
	}
	if list := s.ok("app", "list"); !strings.Contains(list, "ROLE") || !strings.Contains(list, "stream") {
		t.Errorf("app list:\n%s", list)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"app", "update", "echo", "--socks5-port", "1080"}, "the app is a stream app"},
		{[]string{"app", "create", "--name", "x", "--stream-listen", "tcp/1", "--socks5-port", "2"}, "cannot be mixed"},
		{[]string{"app", "create", "--name", "x", "--stream-listen", "sctp/1"}, "--stream-listen: "},
		{[]string{"app", "create", "--name", "x", "--allow", "10.0.0.0/8"}, "are for stream apps"},
		{[]string{"app", "create", "--name", "x", "--stream-listen", "tcp/9100", "--stream-upstream", "e", "--tls-mode", "sideways"}, "--tls-mode"},
		{[]string{"app", "create", "--name", "x", "--stream-listen", "tcp/9001", "--stream-upstream", "e"}, `--stream-listen: port tcp/9001 is already used by app "echo"`},
		{[]string{"app", "create", "--name", "x", "--stream-listen", "udp/9100", "--stream-upstream", "e", "--tls-mode", "terminate"}, "--stream-listen: tls_mode"},
		{[]string{"rule", "create", "--app", "echo", "--respond", "200"}, "page rules are for HTTP apps only"},
	} {
		_, errs, code := s.run(tt.args...)
		if code == 0 || !strings.Contains(errs, tt.want) {
			t.Errorf("strata %s: exit %d, stderr lacks %q:\n%s", strings.Join(tt.args, " "), code, tt.want, errs)
		}
	}
}

// TestForwardAppFlags: credentials from flags and a file, hashed by the
// service; update with a user alone keeps that user's password.
func TestForwardAppFlags(t *testing.T) {
	s := newCLI(t, startAPI(t))
	file := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(file, []byte("# users\nbob:b0b-pass\n\ncarol:c4rol\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.ok("app", "create", "--name", "egress", "--socks5-port", "1080", "--http-proxy-port", "3128",
		"--credential", "alice:s3cret", "--credential-file", file,
		"--egress-allow-cidr", "203.0.113.0/24", "--egress-allow-domain", "*.example.com", "--egress-allow-port", "443",
		"--egress-allow-port", "8000-8100", "--egress-allow-private", "--egress-deny-cidr", "203.0.113.7")
	get := func() *configv1.ForwardProxyApp {
		res := &configv1.GetAppResponse{}
		s.json(res, "app", "get", "egress")
		return res.GetApp().GetForwardProxy()
	}
	fp := get()
	if len(fp.GetCredentials()) != 3 || fp.GetCredentials()[1].GetUsername() != "bob" || fp.GetEgress().GetDenyCidrs()[0] != "203.0.113.7/32" ||
		!fp.GetEgress().GetAllowPrivate() || len(fp.GetEgress().GetAllowPorts()) != 2 {
		t.Fatalf("after create: %v", fp)
	}
	for _, c := range fp.GetCredentials() {
		if c.GetPassword() != "" || !strings.HasPrefix(c.GetPasswordHash(), "$argon2id$") {
			t.Errorf("credential %v", c)
		}
	}
	aliceHash := fp.GetCredentials()[0].GetPasswordHash()
	s.ok("app", "update", "egress", "--credential", "alice", "--credential", "dave:d4ve")
	fp = get()
	if len(fp.GetCredentials()) != 2 || fp.GetCredentials()[0].GetPasswordHash() != aliceHash {
		t.Errorf("after update: %v", fp)
	}
	s.ok("app", "update", "egress", "--idle-timeout", "1m") // the hashes go back unchanged
	if got := get(); got.GetIdleTimeoutMs() != 60_000 || got.GetCredentials()[0].GetPasswordHash() != aliceHash {
		t.Errorf("after --idle-timeout: %v", got)
	}
	text := s.ok("app", "get", "egress")
	for _, want := range []string{"forward", "socks5 ports:", "1080", "credentials:", "2 (alice, dave)", "ports 443,8000-8100"} {
		if !strings.Contains(text, want) {
			t.Errorf("app get lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "argon2id") || strings.Contains(text, "upstreams (") {
		t.Errorf("app get shows hashes or upstreams:\n%s", text)
	}
	_, errs, code := s.run("app", "create", "--name", "x", "--socks5-port", "1081", "--credential", "erin")
	if code == 0 || !strings.Contains(errs, "--credential: ") || !strings.Contains(errs, "required for a new credential") {
		t.Errorf("credential without a password: exit %d\n%s", code, errs)
	}
}
