package node_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/node/metrics"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// Rate limit accuracy and fail-open through real nodes: real HTTP, a real
// hub and leaf links (embedded NATS), the node's own limiter and its
// cluster exchange.

// clusterNode starts node id of cluster c1 linked to leafURL.
func clusterNode(t *testing.T, id, leafURL string) *node.Node {
	t.Helper()
	n, err := node.New(node.Options{DataDir: t.TempDir(), HubLeafURLs: []string{leafURL}, NodeID: id, ClusterID: "c1",
		PartitionID: partition, HTTPAddr: "127.0.0.1:0", Logger: logger(), MetricsInterval: -1, PeerCheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopNode(t, n) })
	return n
}

// limitedApp proxies every request to addr; lim (named "lim") applies to
// all of them.
func limitedApp(addr string, lim *configv1.RateLimitAction) *configv1.App {
	a := app(addr)
	lim.Name = "lim"
	a.Rules = []*configv1.Rule{{Name: "limit", Actions: []*configv1.Action{{Action: &configv1.Action_RateLimit{RateLimit: lim}}}}}
	return a
}

// client sends requests to one node over one keep-alive connection.
type client struct {
	n *node.Node
	c *http.Client
}

func newClient(t *testing.T, n *node.Node) *client {
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{n, &http.Client{Transport: tr, Timeout: 5 * time.Second}}
}

// status sends GET / with header X-Api-Key key and returns the status
// (0 when the request failed).
func (c *client) status(key string) int {
	req, _ := http.NewRequest("GET", "http://"+c.n.ProxyHTTPAddr()+"/", nil)
	req.Host = "app.example.com"
	req.Header.Set("X-Api-Key", key)
	resp, err := c.c.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// paced sends n requests at rate per second (request i at start + i/rate,
// at once when behind), the i-th to clients[i%len(clients)], and returns
// the count of each status and the time from the first request to the
// last. Bounded: it fails the test past three times the nominal time.
func paced(t *testing.T, n int, rate float64, key string, clients ...*client) (map[int]int, time.Duration) {
	t.Helper()
	counts := map[int]int{}
	start := time.Now()
	deadline := start.Add(3 * time.Duration(float64(n)/rate*float64(time.Second)))
	var last time.Time
	for i := range n {
		if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
			time.Sleep(d)
		}
		last = time.Now()
		if last.After(deadline) {
			t.Fatalf("%d of %d requests sent by the deadline: the machine is too slow for a rate of %.0f/s", i, n, rate)
		}
		counts[clients[i%len(clients)].status(key)]++
	}
	return counts, last.Sub(start)
}

// within fails unless got is within 1% of want.
func within(t *testing.T, what string, got, want float64) {
	t.Helper()
	t.Logf("%s: %.0f, expected %.1f (%.2f%% off)", what, got, want, 100*math.Abs(got-want)/want)
	if math.Abs(got-want) > 0.01*want {
		t.Fatalf("%s: %.0f, expected %.1f: more than 1%% off", what, got, want)
	}
}

// N requests at a known rate against a token bucket on one node: the
// rejections are the requests over 1 + burst + rate * elapsed.
func TestNodeRateLimitAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("paced load: seconds")
	}
	hub, leafURL := runHub(t)
	p := newPublisher(t, natstest.Connect(t, hub))
	const limit, burst, n, sendRate = 50.0, 10, 1000, 250.0
	v := p.release(limitedApp(upstream(t, "A"), &configv1.RateLimitAction{Requests: limit, Burst: burst,
		Keys: []*configv1.RateLimitKey{{Key: &configv1.RateLimitKey_Header{Header: "X-Api-Key"}}}}))
	nd := clusterNode(t, "n1", leafURL)
	c := newClient(t, nd)
	natstest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if nd.Version() != v || c.status("warm-up") != 200 {
			return fmt.Errorf("node runs version %d, want %d", nd.Version(), v)
		}
		return nil
	})
	counts, elapsed := paced(t, n, sendRate, "k", c)
	if counts[200]+counts[429] != n {
		t.Fatalf("statuses %v: want only 200 and 429", counts)
	}
	accepted := 1 + burst + limit*elapsed.Seconds()
	within(t, "rejected", float64(counts[429]), n-accepted)

	// The node's /metrics counts every rejection of the limit.
	srv := httptest.NewServer(metrics.Handler(nd, metrics.Registry(nd), logger()))
	t.Cleanup(srv.Close)
	m := scrape(t, srv.URL+"/metrics")
	if got := m[`strata_node_rate_limited_total{app_id="web",limit="lim",outcome="exceeded"}`]; got != float64(counts[429]) {
		t.Fatalf("strata_node_rate_limited_total exceeded = %v, want %d (the 429s)", got, counts[429])
	}
	if got := m["strata_node_rate_limit_keys"]; got < 2 {
		t.Fatalf("strata_node_rate_limit_keys = %v, want the 2 keys used", got)
	}
}

// The same across three nodes of a cluster with the limit's scope
// CLUSTER: the cluster as a whole lets 1 + burst + rate * elapsed through,
// not three times that.
func TestClusterRateLimitAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("paced load: seconds")
	}
	hub, leafURL := runHub(t)
	p := newPublisher(t, natstest.Connect(t, hub))
	const limit, burst, n, sendRate = 30.0, 10, 3000, 300.0
	v := p.release(limitedApp(upstream(t, "A"), &configv1.RateLimitAction{Requests: limit, Burst: burst,
		Scope: configv1.RateLimitScope_RATE_LIMIT_SCOPE_CLUSTER,
		Keys:  []*configv1.RateLimitKey{{Key: &configv1.RateLimitKey_Header{Header: "X-Api-Key"}}}}))
	var clients []*client
	for _, id := range []string{"n1", "n2", "n3"} {
		clients = append(clients, newClient(t, clusterNode(t, id, leafURL)))
	}
	waitClusterShares(t, v, clients)
	counts, elapsed := paced(t, n, sendRate, "k", clients...)
	if counts[200]+counts[429] != n {
		t.Fatalf("statuses %v: want only 200 and 429", counts)
	}
	accepted := 1 + burst + limit*elapsed.Seconds()
	within(t, "rejected", float64(counts[429]), n-accepted)
}

// waitClusterShares waits until every node runs version v and a request
// counted on one node is seen by the next (the leaf links carry the
// counters): with a probe key of the app's own limit, used up on one
// node, the next node answers 429.
func waitClusterShares(t *testing.T, v uint64, clients []*client) {
	t.Helper()
	for _, c := range clients {
		natstest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
			if got := c.n.Version(); got != v {
				return fmt.Errorf("node runs version %d, want %d", got, v)
			}
			return nil
		})
	}
	for i, c := range clients {
		other := clients[(i+1)%len(clients)]
		probe := fmt.Sprintf("probe-%d", i)
		natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
			// Exhaust the probe key's burst on c, then see other refuse it.
			for range 1000 {
				if c.status(probe) != 200 {
					break
				}
			}
			if s := other.status(probe); s != 429 {
				return fmt.Errorf("node %d does not see node %d's counts yet (status %d)", (i+1)%len(clients), i, s)
			}
			return nil
		})
	}
}

// With the hub gone (NATS cut), a cluster limit fails open to per-node
// counting: every node keeps serving and lets its own limit through.
func TestClusterRateLimitFailsOpen(t *testing.T) {
	hub, leafURL := runHub(t)
	p := newPublisher(t, natstest.Connect(t, hub))
	// 20 at once per hour, cluster-wide.
	v := p.release(limitedApp(upstream(t, "A"), &configv1.RateLimitAction{Requests: 20, PeriodSeconds: 3600, Burst: 19,
		Scope: configv1.RateLimitScope_RATE_LIMIT_SCOPE_CLUSTER,
		Keys:  []*configv1.RateLimitKey{{Key: &configv1.RateLimitKey_Header{Header: "X-Api-Key"}}}}))
	var clients []*client
	for _, id := range []string{"n1", "n2", "n3"} {
		clients = append(clients, newClient(t, clusterNode(t, id, leafURL)))
	}
	waitClusterShares(t, v, clients)
	// Linked: 10 on n1 and 10 on n2 use the cluster's 20; n3 refuses.
	for _, c := range clients[:2] {
		for i := range 10 {
			if s := c.status("linked"); s != 200 {
				t.Fatalf("linked, request %d on %s: %d", i, c.n.ProxyHTTPAddr(), s)
			}
		}
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if s := clients[2].status("linked"); s != 429 {
			return fmt.Errorf("n3 answers %d after the cluster used its limit", s)
		}
		return nil
	})

	hub.Shutdown()
	hub.WaitForShutdown()
	// Cut: each node counts alone and lets its own 20 through.
	for i, c := range clients {
		counts := map[int]int{}
		for range 25 {
			counts[c.status("cut")]++
		}
		if counts[200] != 20 || counts[429] != 5 {
			t.Fatalf("node %d with NATS cut: %v, want 20 passed and 5 rejected (its own limit)", i+1, counts)
		}
	}
}
