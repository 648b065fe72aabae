package proxy_test

import "testing"

// Prepare compiles without serving: abort keeps the running config, commit
// swaps the prepared one in, and a commit after another update compiles
// again on top of it (the newer version wins only if it is the prepared
// one).
func TestPrepareCommitAbort(t *testing.T) {
	a, b, c := newEcho(t, "a"), newEcho(t, "b"), newEcho(t, "c")
	p := startProxy(t, proxyOpts())
	mustUpdate(t, p, 1, simpleApp("x", "x.example.com", a.addr()))
	served := func() string {
		t.Helper()
		return do(t, httpClient(t), "GET", httpBase(p), "x.example.com", "/", "").echo.Server
	}

	_, abort, err := p.Prepare(snap(2, simpleApp("x", "x.example.com", b.addr())))
	if err != nil {
		t.Fatal(err)
	}
	if got := served(); got != "a" || p.Version() != 1 {
		t.Fatalf("prepared config served (%q, version %d)", got, p.Version())
	}
	abort()
	if got := served(); got != "a" || p.Version() != 1 {
		t.Fatalf("after abort: %q at version %d, want a at 1", got, p.Version())
	}

	commit, _, err := p.Prepare(snap(3, simpleApp("x", "x.example.com", b.addr())))
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, p, 4, simpleApp("x", "x.example.com", c.addr()))
	commit()
	if got := served(); got != "b" || p.Version() != 3 {
		t.Fatalf("commit after another update: %q at version %d, want b at 3", got, p.Version())
	}

	if _, _, err := p.Prepare(snap(5, simpleApp("x", "x.example.com"))); err == nil {
		t.Fatal("app without servers prepared")
	}
	if got := served(); got != "b" {
		t.Fatalf("rejected snapshot changed the config: %q", got)
	}
}
