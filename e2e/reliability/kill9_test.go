package reliability

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// kill9Rounds is how many times TestKill9UnderLoad kills the control plane.
const kill9Rounds = 5

// ledger records every write the API acknowledged: marker -> event type.
type ledger struct {
	mu       sync.Mutex
	writes   map[string]string // marker -> event type that carries it
	releases map[uint64]string // release number -> note
	round    int               // acknowledgements in the current round
	refused  map[string]int    // unacknowledged writes by Connect code
}

func (l *ledger) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := code(err)
	if strings.HasPrefix(c, "transport: ") {
		c = "transport"
	}
	l.refused[c]++
}

func (l *ledger) ack(marker, typ string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes[marker] = typ
	l.round++
}

func (l *ledger) ackRelease(n uint64, note string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.releases[n] = note
	l.writes[note] = "config.app.released"
	l.round++
}

// TestKill9UnderLoad: three writers (rule updates, new upstreams, releases)
// run against `strata dev` with two joined nodes; the control plane is killed
// with SIGKILL mid-load and restarted on the same data dir, kill9Rounds
// times. After every restart each acknowledged write is in the event log
// exactly once, every acknowledged release is listed with its note, and every
// node (the built-in one and two `strata node` processes) serves the newest
// release, which is at least the last acknowledged one.
func TestKill9UnderLoad(t *testing.T) {
	root := t.TempDir()
	dataDir := filepath.Join(root, "dev")
	// Fixed API and leaf addresses: the nodes reconnect to them after a restart.
	fixed := []string{"--api-addr", freeAddr(t), "--leaf-addr", freeAddr(t)}
	d := startDev(t, dataDir, fixed...)
	a := newAPI(d.api, d.token)
	ctx := context.Background()

	join := d.cli(t).OK("node", "token", "create", "--cluster", "default", "--auto-approve", "--ttl", "1h")
	_, e1 := startNode(t, d.api, join, "edge-1", filepath.Join(root, "edge-1"))
	_, e2 := startNode(t, d.api, join, "edge-2", filepath.Join(root, "edge-2"))

	const host = "shop.example.com"
	app, err := a.config.CreateApp(ctx, &configv1.CreateAppRequest{Name: "shop", Domains: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	id := app.GetApp().GetId()
	if _, err := a.config.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: id, Rule: respondRule("v0")}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: id, Note: "v0"}); err != nil {
		t.Fatal(err)
	}
	waitServed(t, []edge{{Name: "dev", HTTP: d.Value(t, "http")}, e1, e2}, host, "v0")

	l := &ledger{writes: map[string]string{}, releases: map[uint64]string{}, refused: map[string]int{}}
	var lastAcked uint64
	var converge []time.Duration
	for round := 1; round <= kill9Rounds; round++ {
		lctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		// Each writer loops until the kill; an error (the server gone, or a
		// conflict between writers) is an unacknowledged write, not a failure.
		loop := func(write func(i int) error) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 1; lctx.Err() == nil && i <= 500; i++ {
					if err := write(i); err != nil {
						l.fail(err)
						time.Sleep(20 * time.Millisecond)
					}
				}
			}()
		}
		loop(func(i int) error {
			m := fmt.Sprintf("w-%d-%d", round, i)
			_, err := a.config.UpdateRule(lctx, &configv1.UpdateRuleRequest{AppId: id, Rule: respondRule(m)})
			if err == nil {
				l.ack(m, "config.rule.updated")
			}
			return err
		})
		loop(func(i int) error {
			m := fmt.Sprintf("u-%d-%d", round, i)
			_, err := a.config.CreateUpstream(lctx, &configv1.CreateUpstreamRequest{AppId: id, Upstream: &configv1.Upstream{
				Name: m, Servers: []*configv1.Server{{Address: "127.0.0.1:9", Weight: 1}}}})
			if err == nil {
				l.ack(m, "config.upstream.created")
			}
			return err
		})
		loop(func(i int) error {
			m := fmt.Sprintf("rel-%d-%d", round, i)
			res, err := a.config.CreateRelease(lctx, &configv1.CreateReleaseRequest{AppId: id, Note: m})
			if err == nil {
				l.ackRelease(res.GetRelease().GetNumber(), m)
			}
			return err
		})
		// Kill once the round has some acknowledged writes (bounded wait),
		// at a moment that varies with the round.
		natstest.CheckFor(t, 60*time.Second, 10*time.Millisecond, func() error {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.round < 10+5*round {
				return fmt.Errorf("round %d: %d writes acknowledged before the kill", round, l.round)
			}
			return nil
		})
		d.Kill(t)
		killed := time.Now()
		stop()
		wg.Wait()
		l.mu.Lock()
		l.round = 0
		for n := range l.releases {
			lastAcked = max(lastAcked, n)
		}
		l.mu.Unlock()

		d = startDev(t, dataDir, fixed...)
		a = newAPI(d.api, d.token)
		checkLedger(t, a, id, l)

		got, err := a.config.GetApp(ctx, &configv1.GetAppRequest{AppId: id})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetLatestRelease() < lastAcked {
			t.Fatalf("round %d: latest release %d after the restart, below the last acknowledged %d", round, got.GetLatestRelease(), lastAcked)
		}
		body := got.GetReleased().GetRules()[0].GetActions()[0].GetRespond().GetBody()
		waitServed(t, []edge{{Name: "dev", HTTP: d.Value(t, "http")}, e1, e2}, host, body)
		a.waitInSync(t, 3)
		took := time.Since(killed)
		converge = append(converge, took)
		t.Logf("round %d: kill -9 to every node serving release %d (last acknowledged %d) and in sync: %s; %d writes acknowledged so far",
			round, got.GetLatestRelease(), lastAcked, took.Round(10*time.Millisecond), len(l.writes))
	}
	byType := map[string]int{}
	for _, typ := range l.writes {
		byType[typ]++
	}
	t.Logf("kill -9 x%d: %d acknowledged writes %v all in the log once; unacknowledged by code %v; time to converge after kill -9: %v",
		kill9Rounds, len(l.writes), byType, l.refused, converge)
	d.Interrupt(t, 20*time.Second)
}

func respondRule(body string) *configv1.Rule {
	return &configv1.Rule{Name: "r", Actions: []*configv1.Action{{Action: &configv1.Action_Respond{
		Respond: &configv1.RespondAction{Status: 200, Body: body}}}}}
}

// checkLedger requires every acknowledged write in the app's event log
// exactly once, in an event of its type, and every acknowledged release in
// the release list with its note.
func checkLedger(t *testing.T, a api, id string, l *ledger) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	count := map[string]int{}
	for _, ev := range a.auditEvents(context.Background(), t, "app."+id) {
		for m, typ := range l.writes {
			if ev.GetType() == typ && strings.Contains(ev.GetDataJson(), `"`+m+`"`) {
				count[m]++
			}
		}
	}
	for m, typ := range l.writes {
		if count[m] != 1 {
			t.Errorf("acknowledged write %s (%s) is %d times in the event log, want once", m, typ, count[m])
		}
	}
	rels, err := a.config.ListReleases(context.Background(), &configv1.ListReleasesRequest{AppId: id})
	if err != nil {
		t.Fatal(err)
	}
	notes := map[uint64]string{}
	for _, r := range rels.GetReleases() {
		notes[r.GetNumber()] = r.GetNote()
	}
	for n, note := range l.releases {
		if notes[n] != note {
			t.Errorf("acknowledged release %d (%q) is listed as %q", n, note, notes[n])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}
