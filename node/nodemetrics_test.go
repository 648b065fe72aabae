package node_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/node/metrics"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// scrape GETs url (a /metrics endpoint) and returns its samples by
// `name{labels}` as the text format prints them.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// The node's /metrics counts what a user did: proxied requests by status
// class, an upstream that refuses connections, a cache MISS then HIT, a
// purge, DNS answers by rcode over UDP, and the config it runs; /healthz
// says it is healthy.
func TestNodeMetrics(t *testing.T) {
	hub, leafURL := runHub(t)
	control := natstest.Connect(t, hub)
	js, _ := jetstream.New(control)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: natsutil.PurgeStream, Subjects: []string{natsutil.PurgeSubjects}}); err != nil {
		t.Fatal(err)
	}
	p := newPublisher(t, control)
	web := app(upstream(t, "A"))
	web.Rules = []*configv1.Rule{{Name: "cache", When: "PathPrefix(`/c/`)", Actions: []*configv1.Action{
		{Action: &configv1.Action_Cache{Cache: &configv1.CacheAction{TtlS: 3600}}},
	}}}
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close() // connections to it are refused
	down := &configv1.App{Id: "down", Name: "down", Domains: []string{"down.example.com"},
		Upstreams: []*configv1.Upstream{{Id: "down-up", Name: "main", Servers: []*configv1.Server{{Address: deadAddr, Weight: 1}}}}}
	p.release(web, down)
	v := p.releaseZone(&dnsv1.Zone{Id: "z1", Name: "example.com.", Nameservers: []string{"ns1.example.com."}, Records: []*dnsv1.Record{
		{Id: "r1", Name: "www", Type: dnsv1.RecordType_RECORD_TYPE_A, Data: "192.0.2.1"},
	}})

	n := startNode(t, node.Options{DataDir: t.TempDir(), HubLeafURLs: []string{leafURL}, DNSAddr: "127.0.0.1:0"})
	waitServes(t, n, v, "A")
	srv := httptest.NewServer(metrics.Handler(n, metrics.Registry(n), logger()))
	t.Cleanup(srv.Close)

	// The purge agent holds the cache (BYPASS) until it caught up.
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if s := fetch(t, n, "app.example.com", "/c/warm"); s != "MISS" && s != "HIT" {
			return fmt.Errorf("cache %q: still held", s)
		}
		return nil
	})

	before := scrape(t, srv.URL+"/metrics")
	for range 3 {
		if _, err := get(n); err != nil {
			t.Fatal(err)
		}
	}
	if s := fetch(t, n, "app.example.com", "/c/x"); s != "MISS" {
		t.Fatalf("first /c/x: %q, want MISS", s)
	}
	if s := fetch(t, n, "app.example.com", "/c/x"); s != "HIT" {
		t.Fatalf("second /c/x: %q, want HIT", s)
	}
	fetch(t, n, "down.example.com", "/")
	for name, want := range map[string]int{"www.example.com.": mdns.RcodeSuccess, "nope.example.com.": mdns.RcodeNameError, "www.example.org.": mdns.RcodeRefused} {
		r, err := mdns.Exchange(new(mdns.Msg).SetQuestion(name, mdns.TypeA), n.DNSAddr())
		if err != nil || r.Rcode != want {
			t.Fatalf("%s: %v %v, want rcode %d", name, r, err, want)
		}
	}
	b, _ := proto.Marshal(&purgev1.PurgeCommand{PurgeId: "p-1", Kind: purgev1.PurgeKind_PURGE_KIND_URL, Values: []string{"app.example.com/c/x"}})
	if _, err := js.Publish(t.Context(), natsutil.PurgeSubject(partition), b); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n.PurgeApplied() != 1 {
			return fmt.Errorf("purge not applied yet")
		}
		return nil
	})

	after := scrape(t, srv.URL+"/metrics")
	deltas := map[string]float64{
		`strata_node_http_requests_total{app_id="web",code="2xx"}`:                        5,
		`strata_node_http_requests_total{app_id="web",code="5xx"}`:                        0,
		`strata_node_http_requests_total{app_id="down",code="5xx"}`:                       1,
		`strata_node_upstream_errors_total{app_id="down",reason="connect"}`:               1,
		`strata_node_upstream_errors_total{app_id="web",reason="connect"}`:                0,
		`strata_node_upstream_response_seconds_count{app_id="web"}`:                       4, // 3 plain + the MISS fill
		`strata_node_http_response_body_bytes_total{app_id="web"}`:                        5, // "A" each
		`strata_node_cache_requests_total{status="MISS"}`:                                 1,
		`strata_node_cache_requests_total{status="HIT"}`:                                  1,
		`strata_node_cache_requests_total{status="BYPASS"}`:                               0,
		`strata_node_cache_objects`:                                                       0, // /c/x stored, then purged
		`strata_node_purges_applied_total`:                                                1,
		`strata_node_purged_objects_total`:                                                1,
		`strata_node_purge_position`:                                                      1,
		`strata_node_dns_queries_total{proto="udp"}`:                                      3,
		`strata_node_dns_responses_total{proto="udp",rcode="NOERROR"}`:                    1,
		`strata_node_dns_responses_total{proto="udp",rcode="NXDOMAIN"}`:                   1,
		`strata_node_dns_responses_total{proto="udp",rcode="REFUSED"}`:                    1,
		`strata_node_dns_queries_total{proto="tcp"}`:                                      0,
		`strata_node_sync_apply_errors_total`:                                             0,
		`strata_node_metrics_reports_dropped_total`:                                       0,
		`strata_node_sync_version`:                                                        0,
		`strata_node_info{cluster_id="c1",node_id="n1",partition_id="p1",track="stable"}`: 0,
	}
	for k, want := range deltas {
		a, ok := after[k]
		if !ok {
			t.Errorf("%s: missing from /metrics", k)
			continue
		}
		if got := a - before[k]; got != want {
			t.Errorf("%s moved by %v, want %v (before %v, after %v)", k, got, want, before[k], a)
		}
	}
	for k, want := range map[string]float64{
		`strata_node_sync_version`:       float64(v),
		`strata_node_sync_apply_healthy`: 1,
		`strata_node_dns_answering`:      1,
		`strata_node_info{cluster_id="c1",node_id="n1",partition_id="p1",track="stable"}`: 1,
	} {
		if after[k] != want {
			t.Errorf("%s = %v, want %v", k, after[k], want)
		}
	}
	if ts := after[`strata_node_sync_last_apply_timestamp_seconds`]; ts < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last apply time %v: not within the last minute", ts)
	}
	// Names, help texts, units and counter suffixes follow Prometheus'
	// conventions (promtool's checks).
	if problems, err := testutil.CollectAndLint(metrics.New(n)); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
	if _, ok := after[`go_goroutines`]; !ok {
		t.Error("Go runtime metrics missing")
	}

	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep metrics.HealthReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil || resp.StatusCode != 200 || rep.Status != "ok" || rep.Version != v || rep.DNS != "answering" {
		t.Fatalf("/healthz: %d %+v %v", resp.StatusCode, rep, err)
	}
}

// fetch GETs host/path through the node's proxy and returns X-Cache-Status.
func fetch(t *testing.T, n *node.Node, host, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+n.ProxyHTTPAddr()+path, nil)
	req.Host = host
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Header.Get("X-Cache-Status")
}
