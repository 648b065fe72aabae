package reliability

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-edge/strata/e2e/e2etest"

	"connectrpc.com/connect"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/gen/strata/dns/v1/dnsv1connect"
	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/certtest"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// badEnv is the one `strata dev` every row of TestBadInputs runs against.
type badEnv struct {
	root string
	d    *dev
	a    api
	edge edge // the built-in node's HTTP listener
}

// badRow is one defect of issue 11 and the behaviour its fix guarantees.
type badRow struct {
	name    string
	defect  int
	pending string // non-empty: the fix has not landed; the row is skipped naming it
	run     func(t *testing.T, e *badEnv)
}

// TestBadInputs: every bad input of issue 11's defect list against the real
// API and edge of `strata dev`, each row asserting the fixed behaviour. The
// row of defect 1 runs last: before its fix it stops delivery for the
// partition.
func TestBadInputs(t *testing.T) {
	root := t.TempDir()
	d := startDev(t, filepath.Join(root, "dev"))
	e := &badEnv{root: root, d: d, a: newAPI(d.api, d.token), edge: edge{Name: "dev", HTTP: d.Value(t, "http")}}
	for _, r := range badRows {
		t.Run(fmt.Sprintf("%d/%s", r.defect, r.name), func(t *testing.T) {
			if r.pending != "" {
				t.Skip(r.pending)
			}
			r.run(t, e)
		})
	}
}

var badRows = []badRow{
	{name: "path-deny bypass shapes reach the upstream as the normalized path", defect: 2, run: pathDenyBypass},
	{name: "10,000 domains x 10,000 ports refused naming the field", defect: 3, run: domainsTimesPorts},
	{name: "CreateApp event over 1 MiB refused naming the field", defect: 4, run: appEventOverLimit},
	{name: "ImportZone of 13,000 TXT records works or is refused naming the field", defect: 4, run: zoneImportOverLimit},
	{name: "malformed HTTP requests refused, absolute-form routed by authority", defect: 5, run: malformedHTTP},
	{name: "kek.key open to others refused naming the file and mode", defect: 6, run: openSecretFile},
	{name: "viewer sees no key material in the audit log", defect: 7, run: viewerAuditNoKeys},
	{name: "read-only token cannot mint a token, no token outlives its creator", defect: 8, run: readOnlyTokenMint},
	{name: "node that stops says goodbye: offline at once", defect: 9, run: nodeGoodbye},
	{name: "oversized release never wedges the partition", defect: 1, run: oversizedRelease},
}

// wantViolation requires err to be invalid_argument with a field violation
// on field (or a field under it) whose reason contains reason.
func wantViolation(t *testing.T, err error, field, reason string) {
	t.Helper()
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("got %s, want invalid_argument naming %s", clip(code(err)), field)
	}
	vs := apierr.FromConnect(err)
	for _, v := range vs {
		if (v.Field == field || strings.HasPrefix(v.Field, field+".") || strings.HasPrefix(v.Field, field+"[")) && strings.Contains(v.Reason, reason) {
			return
		}
	}
	t.Fatalf("invalid_argument %s: violations %v, want field %s with %q", clip(err.Error()), vs, field, reason)
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// recorder is an upstream that records the request target of every request
// and answers "up".
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	uris []string
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.uris = append(r.uris, req.RequestURI)
		r.mu.Unlock()
		fmt.Fprint(w, "up")
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.uris
	r.uris = nil
	return u
}

// rawHTTP sends one raw request to the edge and returns the status and body.
func rawHTTP(t *testing.T, e edge, req string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(e.HTTP, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%q: read response: %v", req, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// releaseApp creates an app on host with rules, releases it and waits until
// the built-in node serves want for GET /.
func releaseApp(t *testing.T, e *badEnv, name, host, want string, ups []*configv1.Upstream, rules ...*configv1.Rule) string {
	t.Helper()
	ctx := context.Background()
	app, err := e.a.config.CreateApp(ctx, &configv1.CreateAppRequest{Name: name, Domains: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	id := app.GetApp().GetId()
	for _, u := range ups {
		if _, err := e.a.config.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: id, Upstream: u}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range rules {
		if _, err := e.a.config.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: id, Rule: r}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.a.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: id}); err != nil {
		t.Fatal(err)
	}
	waitServed(t, []edge{e.edge}, host, want)
	return id
}

func proxyTo(upstream string) *configv1.Action {
	return &configv1.Action{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{
		Upstreams: []*configv1.WeightedUpstream{{Upstream: upstream, Weight: 1}}}}}
}

func respond(status uint32, body string) *configv1.Action {
	return &configv1.Action{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: status, Body: body}}}
}

func upstreamOf(name string, srv *httptest.Server) *configv1.Upstream {
	return &configv1.Upstream{Name: name, Servers: []*configv1.Server{{Address: strings.TrimPrefix(srv.URL, "http://"), Weight: 1}}}
}

// Defect 2: PathPrefix("/admin") -> 403 in front of a proxy rule; the
// dot-segment shapes are matched and forwarded as the same normalized path,
// so the upstream never sees a path under /admin.
func pathDenyBypass(t *testing.T, e *badEnv) {
	up := newRecorder(t)
	const host = "deny.example.com"
	releaseApp(t, e, "deny", host, "up", []*configv1.Upstream{upstreamOf("web", up.Server)},
		&configv1.Rule{Name: "deny", When: "PathPrefix(`/admin`)", Actions: []*configv1.Action{respond(403, "denied")}, Last: true},
		&configv1.Rule{Name: "web", Actions: []*configv1.Action{proxyTo("web")}})
	for _, tc := range []struct{ path, want string }{
		{"/admin/../secret", "/secret"},
		{"/admin/%2e%2e/secret", "/secret"},
		{"/admin/..%2fsecret", "/secret"},
		{"/admin/%2E%2E%2Fsecret?x=1", "/secret?x=1"},
		{"/admin/x", ""},
		{"/x/../admin/", ""},
		{"//admin", ""},
	} {
		up.take()
		status, _ := rawHTTP(t, e.edge, "GET "+tc.path+" HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
		got := up.take()
		if tc.want == "" {
			if status != 403 || len(got) != 0 {
				t.Errorf("%s: status %d, upstream saw %v; want 403 from the deny rule", tc.path, status, got)
			}
			continue
		}
		if status != 200 || len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: status %d, upstream saw %v; want 200 and %s", tc.path, status, got, tc.want)
		}
	}
}

// Defect 3: ports and domains x ports per app are bounded; nothing is stored.
func domainsTimesPorts(t *testing.T, e *badEnv) {
	ctx := context.Background()
	domains := make([]string, 10_000)
	for i := range domains {
		domains[i] = fmt.Sprintf("d%d.many.example.com", i)
	}
	ports := make([]uint32, 10_000)
	for i := range ports {
		ports[i] = uint32(10_000 + i)
	}
	_, err := e.a.config.CreateApp(ctx, &configv1.CreateAppRequest{Name: "many", Domains: domains, HttpPorts: ports})
	wantViolation(t, err, "http_ports", "more than 64")
	_, err = e.a.config.CreateApp(ctx, &configv1.CreateAppRequest{Name: "many", Domains: domains, HttpPorts: ports[:64]})
	wantViolation(t, err, "domains", "more than 100000 per app")
	noApp(t, e, "many")
}

// noApp requires that no app named name was stored.
func noApp(t *testing.T, e *badEnv, name string) {
	t.Helper()
	list, err := e.a.config.ListApps(context.Background(), &configv1.ListAppsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list.GetApps() {
		if a.GetName() == name {
			t.Fatalf("refused app %q was stored: %s", name, a.GetId())
		}
	}
}

// Defect 4: CreateApp with 10,000 domains of 240 characters is an event
// over the 1 MiB NATS payload: refused up front, not internal.
func appEventOverLimit(t *testing.T, e *badEnv) {
	label := strings.Repeat("a", 60)
	domains := make([]string, 10_000)
	for i := range domains {
		d := fmt.Sprintf("%s.%s.%s.x%06d.big.example.com", label, label, label, i)
		domains[i] = d + strings.Repeat("b", 240-len(d)-len(".example.com")) + ".example.com"
	}
	if len(domains[0]) != 240 {
		t.Fatalf("domain of %d characters", len(domains[0]))
	}
	_, err := e.a.config.CreateApp(context.Background(), &configv1.CreateAppRequest{Name: "big", Domains: domains})
	wantViolation(t, err, "domains", "more than the limit of 262144 per app")
	noApp(t, e, "big")
	// A rule over the limit on its own is refused too.
	small, err := e.a.config.CreateApp(context.Background(), &configv1.CreateAppRequest{Name: "bigrule", Domains: []string{"bigrule.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.a.config.CreateRule(context.Background(), &configv1.CreateRuleRequest{AppId: small.GetApp().GetId(),
		Rule: &configv1.Rule{Name: "huge", Actions: []*configv1.Action{respond(200, strings.Repeat("x", 3<<20/2))}}})
	wantViolation(t, err, "rule", "more than 65536")
}

// Defect 4: a zone import of 13,000 TXT records (one event over 1 MiB
// before the fix) either works, every record stored, or is refused naming
// the field; never internal.
func zoneImportOverLimit(t *testing.T, e *badEnv) {
	ctx := context.Background()
	dc := dnsv1connect.NewDnsServiceClient(rpcClient, e.d.api, connect.WithInterceptors(apiauth.BearerToken(e.d.token)))
	if _, err := dc.CreateZone(ctx, &dnsv1.CreateZoneRequest{Name: "big.test", Nameservers: []string{"ns1.big.test"}}); err != nil {
		t.Fatal(err)
	}
	var zf strings.Builder
	txt := strings.Repeat("t", 80)
	for i := range 13_000 {
		fmt.Fprintf(&zf, "r%d 300 IN TXT \"%s-%d\"\n", i, txt, i)
	}
	res, err := dc.ImportZone(ctx, &dnsv1.ImportZoneRequest{Zone: "big.test", ZoneFile: zf.String()})
	if err != nil {
		wantViolation(t, err, "zone_file", "more than the limit of 524288 bytes")
		return
	}
	if res.GetRecords() < 13_000 {
		t.Fatalf("import stored %d records, want 13000", res.GetRecords())
	}
	recs, err := dc.ListRecords(ctx, &dnsv1.ListRecordsRequest{Zone: "big.test"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(recs.GetRecords()); n < 13_000 {
		t.Fatalf("zone lists %d records after the import, want 13000", n)
	}
}

// Defect 5: malformed requests get nginx's answers and never reach the
// upstream; an absolute-form target picks the app by its authority.
func malformedHTTP(t *testing.T, e *badEnv) {
	up := newRecorder(t)
	const host = "strict.example.com"
	releaseApp(t, e, "strict", host, "up", []*configv1.Upstream{upstreamOf("web", up.Server)},
		&configv1.Rule{Name: "web", Actions: []*configv1.Action{proxyTo("web")}})
	releaseApp(t, e, "other", "other.example.com", "other", nil,
		&configv1.Rule{Name: "r", Actions: []*configv1.Action{respond(200, "other")}})
	for _, tc := range []struct {
		req    string
		status int
	}{
		{"GET / HTTP/1.1\r\nHost: " + host + "\r\nContent Length: 5\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: " + host + "\r\nX-A\x01: 1\r\n\r\n", 400},
		{"CONNECT " + host + ":443 HTTP/1.1\r\nHost: " + host + ":443\r\n\r\n", 400},
		{"OPTIONS * HTTP/1.1\r\nHost: " + host + "\r\n\r\n", 400},
		{"GET / HTTP/2.0\r\nHost: " + host + "\r\n\r\n", 505},
	} {
		up.take()
		status, _ := rawHTTP(t, e.edge, tc.req)
		if got := up.take(); status != tc.status || len(got) != 0 {
			t.Errorf("%q: status %d, upstream saw %v; want %d and no upstream request", tc.req, status, got, tc.status)
		}
	}
	// Underscore-spelled hop headers are dropped, not forwarded.
	hdr := make(chan http.Header, 1)
	up.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr <- r.Header.Clone()
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	status, body := rawHTTP(t, e.edge, "POST / HTTP/1.1\r\nHost: "+host+"\r\nContent-Length: 2\r\nTransfer_Encoding: chunked\r\nX_Api_Key: k\r\nConnection: close\r\n\r\nhi")
	if status != 200 || body != "hi" {
		t.Fatalf("underscore headers: status %d body %q, want 200 hi", status, body)
	}
	for k := range <-hdr {
		if strings.Contains(k, "_") {
			t.Errorf("upstream got header %q", k)
		}
	}
	// Absolute form: the URI's authority chooses the app, not Host.
	if status, body := rawHTTP(t, e.edge, "GET http://other.example.com/ HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n"); status != 200 || body != "other" {
		t.Errorf("absolute-form to other.example.com with Host %s: status %d body %q, want other's answer", host, status, body)
	}
}

// Defect 6: a data dir whose kek.key group or others may read is refused at
// start, naming the file and the mode.
func openSecretFile(t *testing.T, e *badEnv) {
	dir := filepath.Join(e.root, "kek")
	d := startDev(t, dir)
	d.Interrupt(t, 20*time.Second)
	kek := filepath.Join(dir, "kek.key")
	if err := os.Chmod(kek, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e2etest.Binary, devArgs(dir)...)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("strata dev started with kek.key at 0644:\n%s", out)
	}
	if !strings.Contains(string(out), kek) || !strings.Contains(string(out), "mode 0644") {
		t.Errorf("refusal does not name %s and mode 0644:\n%s", kek, out)
	}
}

// Defect 7: a viewer lists the audit log of an uploaded certificate and
// sees no key field, wrapped or not.
func viewerAuditNoKeys(t *testing.T, e *badEnv) {
	ctx := context.Background()
	leaf, chain := certtest.NewSet(t).Leaf(t, certtest.Options{DNSNames: []string{"keys.example.com"}})
	cc := certv1connect.NewCertServiceClient(rpcClient, e.d.api, connect.WithInterceptors(apiauth.BearerToken(e.d.token)))
	if _, err := cc.UploadCertificate(ctx, &certv1.UploadCertificateRequest{Name: "keys", ChainPem: chain, KeyPem: leaf.KeyPEM(t)}); err != nil {
		t.Fatal(err)
	}
	viewer := e.serviceAccount(t, "audit-viewer", "viewer", 24*3600)
	res, err := viewer.iam.ListAuditEvents(ctx, &iamv1.ListAuditEventsRequest{Type: "cert", PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetEvents()) == 0 {
		t.Fatal("viewer sees no cert events: nothing checked")
	}
	for _, ev := range res.GetEvents() {
		var v any
		if err := json.Unmarshal([]byte(ev.GetDataJson()), &v); err != nil {
			t.Fatalf("%s: data_json: %v", ev.GetType(), err)
		}
		if path := keyField(v, ""); path != "" {
			t.Errorf("%s shows the viewer %s: %s", ev.GetType(), path, clip(ev.GetDataJson()))
		}
		if strings.Contains(ev.GetDataJson(), "PRIVATE KEY") {
			t.Errorf("%s shows a PEM private key", ev.GetType())
		}
	}
}

// keyField returns the path of the first field that carries key material.
func keyField(v any, path string) string {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			lk := strings.ToLower(k)
			if s, ok := x.(string); ok && s != "" && (lk == "key" || strings.Contains(lk, "wrapped") || lk == "ciphertext") {
				return path + "." + k
			}
			if m, ok := x.(map[string]any); ok && lk == "key" && len(m) > 0 {
				return path + "." + k
			}
			if p := keyField(x, path+"."+k); p != "" {
				return p
			}
		}
	case []any:
		for i, x := range v {
			if p := keyField(x, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	}
	return ""
}

// serviceAccount creates a service account with role over everything and
// a token of ttl seconds, and returns its API client.
func (e *badEnv) serviceAccount(t *testing.T, name, role string, ttl uint64) api {
	t.Helper()
	ctx := context.Background()
	if _, err := e.a.iam.CreateUser(ctx, &iamv1.CreateUserRequest{Name: name, ServiceAccount: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.iam.CreateGrant(ctx, &iamv1.CreateGrantRequest{User: name, Role: role, ScopeKind: "all"}); err != nil {
		t.Fatal(err)
	}
	tok, err := e.a.iam.CreateToken(ctx, &iamv1.CreateTokenRequest{User: name, TtlSeconds: ttl, Description: name})
	if err != nil {
		t.Fatal(err)
	}
	return newAPI(e.d.api, tok.GetSecret())
}

// Defect 8: a viewer service account with a 1-day token mints no token;
// a token never outlives the one that creates it.
func readOnlyTokenMint(t *testing.T, e *badEnv) {
	ctx := context.Background()
	const day = 24 * 3600
	viewer := e.serviceAccount(t, "ro-bot", "viewer", day)
	for _, ttl := range []uint64{0, 3600} {
		_, err := viewer.iam.CreateToken(ctx, &iamv1.CreateTokenRequest{Description: "x", TtlSeconds: ttl})
		if connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("viewer CreateToken ttl %d: %s, want permission_denied", ttl, code(err))
		}
	}
	super := e.serviceAccount(t, "super-bot", "super_admin", day)
	for _, ttl := range []uint64{0, 2 * day} {
		_, err := super.iam.CreateToken(ctx, &iamv1.CreateTokenRequest{Description: "x", TtlSeconds: ttl})
		wantViolation(t, err, "ttl_seconds", "may not outlive it")
	}
	toks, err := e.a.iam.ListTokens(ctx, &iamv1.ListTokensRequest{User: "ro-bot"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(toks.GetTokens()); n != 1 {
		t.Errorf("ro-bot holds %d tokens, want only the one the admin made", n)
	}
}

// Defect 9: a node stopped with SIGINT says goodbye: the first node list
// after its exit shows it offline (before the fix: online for 9-12 s more).
func nodeGoodbye(t *testing.T, e *badEnv) {
	ctx := context.Background()
	join := e.d.cli(t).OK("node", "token", "create", "--cluster", "default", "--auto-approve", "--ttl", "1h")
	p, _ := startNode(t, e.d.api, join, "bye-1", filepath.Join(e.root, "bye-1"))
	online := func() (bool, error) {
		res, err := e.a.config.ListNodes(ctx, &configv1.ListNodesRequest{})
		if err != nil {
			return false, err
		}
		for _, n := range res.GetNodes() {
			if n.GetNode().GetName() == "bye-1" {
				return n.GetOnline(), nil
			}
		}
		return false, fmt.Errorf("bye-1 not in node list")
	}
	natstest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		if on, err := online(); err != nil || !on {
			return fmt.Errorf("bye-1 online %v: %v", on, err)
		}
		return nil
	})
	p.Interrupt(t, 20*time.Second)
	if on, err := online(); err != nil || on {
		t.Fatalf("right after bye-1 stopped: online %v (%v), want offline", on, err)
	}
}

// Defect 1: an app of 20 rules with 60,000-byte bodies is refused (at write
// or release, naming the field and the limit) or delivered; either way
// another app's release still reaches the node afterwards.
func oversizedRelease(t *testing.T, e *badEnv) {
	ctx := context.Background()
	app, err := e.a.config.CreateApp(ctx, &configv1.CreateAppRequest{Name: "heavy", Domains: []string{"heavy.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	id := app.GetApp().GetId()
	body := strings.Repeat("h", 60_000)
	refused := false
	for i := range 20 {
		_, err := e.a.config.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: id,
			Rule: &configv1.Rule{Name: fmt.Sprintf("r%d", i), When: fmt.Sprintf("Path(`/%d`)", i), Actions: []*configv1.Action{respond(200, body)}}})
		if err != nil {
			wantViolation(t, err, "rule", "")
			refused = true
			break
		}
	}
	if !refused {
		if _, err := e.a.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: id}); err != nil {
			wantViolation(t, err, "app", "")
			refused = true
		}
	}
	releaseApp(t, e, "after-heavy", "after-heavy.example.com", "after", nil,
		&configv1.Rule{Name: "r", Actions: []*configv1.Action{respond(200, "after")}})
	t.Logf("oversized app refused at write or release: %v", refused)
	if !refused { // delivered: the node serves the heavy app too
		natstest.CheckFor(t, 90*time.Second, 100*time.Millisecond, func() error {
			status, got := rawHTTP(t, e.edge, "GET /7 HTTP/1.1\r\nHost: heavy.example.com\r\nConnection: close\r\n\r\n")
			if status != 200 || got != body {
				return fmt.Errorf("heavy /7: status %d, %d bytes; want 200 and the 60,000-byte body", status, len(got))
			}
			return nil
		})
	}
	e.a.waitInSync(t, 1)
}
