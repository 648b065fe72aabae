package proxy_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node/proxy"
)

func TestReleaseKeepsUpstreamConnections(t *testing.T) {
	u := newEcho(t, "u")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, simpleApp("a", "a.example.com", u.addr()))
	c := httpClient(t)
	for i := 0; i < 3; i++ {
		do(t, c, "GET", httpBase(p), "a.example.com", "/", "")
	}
	if n := u.conns.Load(); n != 1 {
		t.Fatalf("%d upstream connections for 3 sequential requests, want 1 kept alive", n)
	}
	// A release that changes a rule but not the upstream keeps its pool.
	app := simpleApp("a", "a.example.com", u.addr())
	app.Rules = []*configv1.Rule{{Name: "tag", Actions: []*configv1.Action{reqHeaders(&configv1.HeaderOps{Set: map[string]string{"X-Release": "2"}})}}}
	mustUpdate(t, p, 2, app)
	r := do(t, c, "GET", httpBase(p), "a.example.com", "/", "")
	if r.echo.Header.Get("X-Release") != "2" {
		t.Fatalf("new rule not applied")
	}
	if n := u.conns.Load(); n != 1 {
		t.Fatalf("%d upstream connections after a release that kept the upstream, want 1", n)
	}
	// Changing the upstream (its timeouts) builds a new pool. (A snapshot's
	// objects are never changed once applied: a new version has new ones.)
	app = proto.CloneOf(app)
	app.Upstreams[0].Timeouts = &configv1.Timeouts{ReadMs: 30000}
	mustUpdate(t, p, 3, app)
	do(t, c, "GET", httpBase(p), "a.example.com", "/", "")
	if n := u.conns.Load(); n != 2 {
		t.Fatalf("%d upstream connections after the upstream changed, want 2", n)
	}
}

func TestUpdateSkipsEqualVersion(t *testing.T) {
	a, b := newEcho(t, "a"), newEcho(t, "b")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 7, simpleApp("x", "x.example.com", a.addr()))
	mustUpdate(t, p, 7, simpleApp("x", "x.example.com", b.addr()))
	if r := do(t, httpClient(t), "GET", httpBase(p), "x.example.com", "/", ""); r.echo.Server != "a" {
		t.Fatalf("a snapshot with the running version was applied (served by %q)", r.echo.Server)
	}
	if p.Version() != 7 {
		t.Fatalf("version %d", p.Version())
	}
}

func TestStatsAndAccessLog(t *testing.T) {
	u := newEcho(t, "u")
	var mu sync.Mutex
	var logBuf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logBuf}, nil))
	p := startProxy(t, proxy.Options{AccessLog: true, Logger: logger})
	app := simpleApp("a", "a.example.com", u.addr())
	app.Rules = []*configv1.Rule{{Name: "gone", When: "Path(`/gone`)", Actions: []*configv1.Action{{Action: &configv1.Action_Respond{
		Respond: &configv1.RespondAction{Status: 410, Body: "gone"}}}}}}
	mustUpdate(t, p, 1, app)
	c := httpClient(t)
	both(t, p, func(t *testing.T, base string) {
		do(t, c, "POST", base, "a.example.com", "/", "12345")
		do(t, c, "GET", base, "a.example.com", "/gone", "")
	})
	st := p.Stats()["a"]
	if st.Requests != 4 || st.Status[1] != 2 || st.Status[3] != 2 {
		t.Fatalf("stats %+v, want 4 requests: two 2xx, two 4xx", st)
	}
	if st.BytesIn != 10 || st.BytesOut == 0 || st.UpstreamLatencyCount != 2 || st.UpstreamLatencySum <= 0 {
		t.Fatalf("stats %+v", st)
	}
	var inBuckets uint64
	for _, n := range st.UpstreamLatencyBuckets {
		inBuckets += n
	}
	if inBuckets != 2 {
		t.Fatalf("histogram holds %d observations, want 2", inBuckets)
	}
	mu.Lock()
	lines := strings.Count(logBuf.String(), `"msg":"access"`)
	text := logBuf.String()
	mu.Unlock()
	if lines != 4 || !strings.Contains(text, `"status":410`) || !strings.Contains(text, `"upstream":"main"`) {
		t.Fatalf("%d access lines:\n%s", lines, text)
	}
	// An app leaving the config leaves the stats.
	mustUpdate(t, p, 2, simpleApp("b", "b.example.com", u.addr()))
	if _, ok := p.Stats()["a"]; ok {
		t.Fatal("stats of a removed app remain")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
