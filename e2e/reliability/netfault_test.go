package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/encoding/protojson"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// Bounds of the network fault run: 100 flaps of about a second each (the
// partition a real link sees over ten minutes, compressed), one longer
// partition in the middle that outlasts the nodes' heartbeat window, and a
// release or a purge every few hundred milliseconds meanwhile.
const (
	flaps          = 100
	longPartition  = 8 * time.Second
	maxReleases    = 60
	purgeEvery     = 4 // one purge after every 4th release
	faultNodes     = 3
	convergeBudget = 90 * time.Second
)

// faultLink is a toxiproxy proxy in front of the hub's leaf listener: every
// node's leaf link to the hub passes through it.
type faultLink struct {
	p *toxiproxy.Proxy
}

func newFaultLink(t *testing.T, upstream string) *faultLink {
	t.Helper()
	zerolog.SetGlobalLevel(zerolog.Disabled) // toxics log through the global logger
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "hub-leaf", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("toxiproxy: %v", err)
	}
	t.Cleanup(p.Stop)
	return &faultLink{p: p}
}

// addr is where nodes dial (stable across down/up: the port is reused).
func (f *faultLink) addr() string { return f.p.Listen }

// down closes every link and refuses new ones; up listens again.
func (f *faultLink) down() { f.p.Stop() }

func (f *faultLink) up(t *testing.T) {
	t.Helper()
	// The port was just released; retry briefly in case the kernel still
	// holds it.
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, f.p.Start)
}

// toxic adds a toxic on both directions; clear removes all.
func (f *faultLink) toxic(t *testing.T, kind, attrs string) {
	t.Helper()
	f.toxicOn(t, "upstream", kind, attrs)
	f.toxicOn(t, "downstream", kind, attrs)
}

// toxicOn adds a toxic on one direction: upstream is node to hub.
func (f *faultLink) toxicOn(t *testing.T, stream, kind, attrs string) {
	t.Helper()
	js := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"attributes":%s}`, kind+"_"+stream, kind, stream, attrs)
	if _, err := f.p.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
		t.Fatalf("toxiproxy: add %s: %v", js, err)
	}
}

func (f *faultLink) clear() {
	for _, kind := range []string{"latency", "bandwidth", "timeout", "reset_peer"} {
		for _, stream := range []string{"upstream", "downstream"} {
			_ = f.p.Toxics.RemoveToxic(context.Background(), kind+"_"+stream) // absent: nothing to do
		}
	}
}

// freePort reserves a free TCP port on 127.0.0.1 (the hub's leaf listener
// must be known before the proxy in front of it starts).
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestNetworkFlaps: three nodes reach the hub through a fault-injecting
// proxy that goes down and up 100 times (refused, reset, black-holed,
// delayed, throttled) while releases and purges are issued. Afterwards every
// node serves the last release, applied every version of its track once and
// in order (none missed, none twice), and applied and acknowledged every
// purge exactly once.
func TestNetworkFlaps(t *testing.T) {
	root := t.TempDir()
	leafAddr := freePort(t)
	link := newFaultLink(t, leafAddr)
	d := startDev(t, filepath.Join(root, "dev"), "--no-node", "--leaf-addr", leafAddr, "--leaf-url", "nats-leaf://"+link.addr())
	c := d.cli(t)
	token := c.OK("node", "token", "create", "--cluster", "default", "--auto-approve", "--ttl", "1h")
	var nodes []*proc
	var edges []edge
	for i := range faultNodes {
		name := fmt.Sprintf("edge-%d", i+1)
		p, e := startNode(t, d.api, token, name, filepath.Join(root, name), "--log-level", "debug")
		nodes, edges = append(nodes, p), append(edges, e)
	}
	partition := nodes[0].Value(t, "partition")

	const host = "shop.example.com"
	app := c.OK("app", "create", "--name", "shop", "--domain", host)
	c.OK("rule", "create", "--app", app, "--name", "answer", "--respond", "200", "--body", "v0")
	c.OK("release", "create", "--app", app)
	waitServed(t, edges, host, "v0")

	// The partition holds: with the link down no node gets a release. (The
	// hub advertised its own leaf address, and nodes reconnected there,
	// around the proxy.) Waiting is the only way to see that nothing comes.
	link.down()
	c.OK("rule", "update", "--app", app, "--name", "answer", "--respond", "200", "--body", "partitioned")
	c.OK("release", "create", "--app", app)
	time.Sleep(4 * time.Second) // several leaf reconnect attempts (one a second)
	client := &http.Client{Timeout: 5 * time.Second}
	for _, e := range edges {
		if got, err := get(client, e, host); err != nil || got != "v0" {
			t.Fatalf("node %s answers %q (%v) while cut off from the hub, want v0: the link went around the proxy", e.Name, got, err)
		}
	}
	link.up(t)
	waitServed(t, edges, host, "partitioned")

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("STRATA_FAULT_SEED"); s != "" { // replay a logged schedule
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("STRATA_FAULT_SEED: %v", err)
		}
	}
	t.Logf("fault schedule seed %d (replay: STRATA_FAULT_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	// The workload: releases and purges until the faults end.
	faultsDone := make(chan struct{})
	var (
		wg       sync.WaitGroup
		releases int
		purges   []string
	)
	wg.Go(func() {
		for releases < maxReleases {
			select {
			case <-faultsDone:
				return
			case <-time.After(200 * time.Millisecond):
			}
			releases++
			c.OK("rule", "update", "--app", app, "--name", "answer", "--respond", "200", "--body", fmt.Sprintf("v%d", releases))
			c.OK("release", "create", "--app", app)
			if releases%purgeEvery == 0 {
				purges = append(purges, c.OK("purge", "url", fmt.Sprintf("http://%s/p%d", host, releases)))
			}
		}
	})

	// The faults: each flap takes the link away one of three ways, and
	// the link comes back delayed or throttled.
	var downFor time.Duration
	start := time.Now()
	kinds := map[string]int{}
	for i := range flaps {
		down := time.Duration(50+rng.IntN(550)) * time.Millisecond
		if i == flaps/2 {
			down = longPartition
		}
		switch k := rng.IntN(3); k {
		case 0: // refused: the hub's side is gone
			kinds["refused"]++
			link.down()
			time.Sleep(down)
			link.up(t)
		case 1: // reset: connections are reset as they carry data
			kinds["reset"]++
			link.toxic(t, "reset_peer", `{"timeout":0}`)
			time.Sleep(down)
			link.clear()
		default: // black hole: data vanishes, the link closes after down
			kinds["blackhole"]++
			link.toxic(t, "timeout", fmt.Sprintf(`{"timeout":%d}`, down.Milliseconds()))
			time.Sleep(down)
			link.clear()
		}
		downFor += down
		switch rng.IntN(3) {
		case 0:
			link.toxic(t, "latency", fmt.Sprintf(`{"latency":%d,"jitter":%d}`, 10+rng.IntN(90), rng.IntN(40)))
		case 1:
			link.toxic(t, "bandwidth", `{"rate":64}`) // KB/s
		}
		time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		link.clear()
	}
	close(faultsDone)
	wg.Wait()

	faulty := time.Since(start)
	t.Logf("%d flaps (%v) in %s, link down %s; %d releases and %d purges meanwhile",
		flaps, kinds, faulty.Round(time.Second), downFor.Round(time.Second), releases, len(purges))

	// Convergence: every node serves the last release, node list shows
	// each at the latest version, every purge is acknowledged by every node.
	healed := time.Now()
	last := fmt.Sprintf("v%d", releases)
	waitServed(t, edges, host, last)
	natstest.CheckFor(t, convergeBudget, 200*time.Millisecond, func() error { return nodesInSync(c, faultNodes) })
	for _, id := range purges {
		natstest.CheckFor(t, convergeBudget, 200*time.Millisecond, func() error { return purgeDone(c, id, faultNodes) })
	}
	converged := time.Since(healed)
	t.Logf("converged %s after the link healed", converged.Round(10*time.Millisecond))

	// Exactly once, in order: what each node's agents logged against what
	// the hub published.
	track := trackDeltas(t, d, partition)
	for i, p := range nodes {
		checkVersions(t, edges[i].Name, track, nodeLog(p))
		checkPurges(t, edges[i].Name, purges, nodeLog(p))
	}
	t.Logf("track: %d deltas; every node applied each once, in order; %d purges applied and acknowledged once per node", len(track), len(purges))
}

// nodesInSync: node list shows want nodes, each online and at the latest
// version.
func nodesInSync(c cli, want int) error {
	out := c.OK("node", "list", "-o", "json")
	res := &configv1.ListNodesResponse{}
	if err := protojson.Unmarshal([]byte(out), res); err != nil {
		return fmt.Errorf("node list -o json: %v", err)
	}
	in := 0
	for _, n := range res.GetNodes() {
		if n.GetOnline() && n.GetInSync() && n.GetAppliedVersion() == n.GetLatestVersion() {
			in++
		}
	}
	if len(res.GetNodes()) != want || in != want {
		return fmt.Errorf("node list: %d nodes, %d online at the latest version; want %d:\n%s", len(res.GetNodes()), in, want, out)
	}
	return nil
}

// purgeDone: the purge has one acknowledgement from each of want nodes.
func purgeDone(c cli, id string, want int) error {
	out := c.OK("purge", "get", id, "-o", "json")
	p := &purgev1.Purge{}
	if err := protojson.Unmarshal([]byte(out), p); err != nil {
		return fmt.Errorf("purge get -o json: %v\n%s", err, out)
	}
	byNode := map[string]int{}
	for _, a := range p.GetAcks() {
		byNode[a.GetNodeId()]++
	}
	if len(byNode) != want || len(p.GetAcks()) != want {
		return fmt.Errorf("purge %s: acks %v, want one from each of %d nodes", id, byNode, want)
	}
	return nil
}
