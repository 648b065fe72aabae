package purge

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	ev "github.com/strata-edge/strata/gen/strata/events/purge/v1"
	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/pkg/aggtest"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/listfilter"
)

func TestCreatePushRejectsBadInput(t *testing.T) {
	domains := []string{"shop.example.com", "*.cdn.example.com"}
	ok := "https://shop.example.com/a.css"
	tests := []struct {
		name  string
		req   *purgev1.CreatePushRequest
		field string
		want  string
	}{
		{"no app", &purgev1.CreatePushRequest{Urls: []string{ok}}, "app_id", "required"},
		{"no urls", &purgev1.CreatePushRequest{AppId: "shop"}, "urls", "at least one"},
		{"too many urls", &purgev1.CreatePushRequest{AppId: "shop", Urls: slices.Repeat([]string{ok}, MaxPushURLs+1)}, "urls", "at most 10000"},
		{"long url", &purgev1.CreatePushRequest{AppId: "shop", Urls: []string{ok, ok + "?" + strings.Repeat("a", MaxPushURLLen)}}, "urls[1]", "at most 2048"},
		{"relative url", &purgev1.CreatePushRequest{AppId: "shop", Urls: []string{"shop.example.com/a.css"}}, "urls[0]", "absolute http or https"},
		{"ftp url", &purgev1.CreatePushRequest{AppId: "shop", Urls: []string{"ftp://shop.example.com/a"}}, "urls[0]", "scheme"},
		{"space", &purgev1.CreatePushRequest{AppId: "shop", Urls: []string{"https://shop.example.com/a b"}}, "urls[0]", "space"},
		{"user info", &purgev1.CreatePushRequest{AppId: "shop", Urls: []string{"https://u:p@shop.example.com/a"}}, "urls[0]", "user info"},
		{"other host", &purgev1.CreatePushRequest{AppId: "shop", Urls: []string{"https://evil.example.org/a"}}, "urls[0]", "not one of the app's domains"},
		{"wildcard apex", &purgev1.CreatePushRequest{AppId: "shop", Urls: []string{"https://cdn.example.com/a"}}, "urls[0]", "not one of the app's domains"},
		{"wildcard host", &purgev1.CreatePushRequest{AppId: "shop", Urls: []string{"https://*.cdn.example.com/a"}}, "urls[0]", "wildcard"},
		{"empty cluster", &purgev1.CreatePushRequest{AppId: "shop", Urls: []string{ok}, ClusterIds: []string{""}}, "cluster_ids[0]", "empty"},
		{"concurrency", &purgev1.CreatePushRequest{AppId: "shop", Urls: []string{ok}, Concurrency: 33}, "concurrency", "1 to 32"},
		{"negative concurrency", &purgev1.CreatePushRequest{AppId: "shop", Urls: []string{ok}, Concurrency: -1}, "concurrency", "1 to 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPush(tt.req, domains)
			for _, v := range apierr.Violations(err) {
				if v.Field == tt.field && strings.Contains(v.Reason, tt.want) {
					return
				}
			}
			t.Fatalf("got %v, want a violation on %s containing %q", err, tt.field, tt.want)
		})
	}
	good := &purgev1.CreatePushRequest{AppId: "shop", Concurrency: 32, Urls: []string{ok, "http://SHOP.example.com./x?y=1", "https://img.cdn.example.com/p.png", "https://a.b.cdn.example.com/"}}
	if err := checkPush(good, domains); err != nil {
		t.Fatalf("valid push rejected: %v", err)
	}
}

func FuzzCheckPushURL(f *testing.F) {
	f.Add("https://shop.example.com/a.css?v=1")
	f.Add("http://[::1]:80/x")
	f.Add("https://a.cdn.example.com/%zz")
	f.Fuzz(func(t *testing.T, u string) {
		err := checkPush(&purgev1.CreatePushRequest{AppId: "shop", Urls: []string{u}}, []string{"shop.example.com", "*.cdn.example.com"})
		if err != nil && len(apierr.Violations(err)) == 0 {
			t.Fatalf("error without field violations: %v", err)
		}
	})
}

// A push waits for the online nodes of its partitions, and of its clusters
// when it names some; its command carries the defaults and the expiry.
func TestPushDecision(t *testing.T) {
	now := time.Unix(1_700_000_000, 0).UTC()
	online := map[string]string{"n_edge1": "par_eu", "n_edge2": "par_eu", "n_shield": "par_eu", "n_us": "par_us", "n_asia": "par_asia"}
	cluster := map[string]string{"n_edge1": "cl_edge", "n_edge2": "cl_edge", "n_shield": "cl_shield", "n_us": "cl_us", "n_asia": "cl_asia"}
	clusterOf := func(n string) string { return cluster[n] }
	req := &purgev1.CreatePushRequest{AppId: "shop", Urls: []string{"https://shop.example.com/a"}}
	got := pushRequested("psh_1", "app_1", req, []string{"par_eu", "par_us"}, nil, online, clusterOf, now)
	aggtest.Then(t, []proto.Message{got}, nil, &ev.PushRequested{PushId: "psh_1", AppId: "app_1",
		Command: &purgev1.PurgeCommand{PurgeId: "psh_1", RequestedAt: timestamp(now), Push: &purgev1.PushCommand{
			Urls: req.Urls, Concurrency: DefaultConcurrency, UrlTimeout: durationpb.New(PushURLTimeout), ExpiresAt: timestamp(now.Add(time.Hour))}},
		PartitionIds: []string{"par_eu", "par_us"}, ExpectedNodeIds: []string{"n_edge1", "n_edge2", "n_shield", "n_us"}})

	req.Concurrency = 8
	got = pushRequested("psh_2", "app_1", req, []string{"par_eu"}, []string{"cl_edge"}, online, clusterOf, now)
	if !slices.Equal(got.GetExpectedNodeIds(), []string{"n_edge1", "n_edge2"}) || got.GetCommand().GetPush().GetConcurrency() != 8 ||
		!slices.Equal(got.GetCommand().GetPush().GetClusterIds(), []string{"cl_edge"}) {
		t.Fatalf("push to cluster cl_edge: %v", got)
	}
}

// A push's acknowledgements fold like a purge's (the first per node
// counts); its view sums the failed URLs, and lists leave the URLs out.
func TestModelFoldsPushAcks(t *testing.T) {
	at := timestamp(time.Unix(1_700_000_100, 0))
	cmd := &purgev1.PurgeCommand{PurgeId: "psh_1", Push: &purgev1.PushCommand{Urls: []string{"https://a/x", "https://a/y"}, Concurrency: 4}}
	n1 := &purgev1.NodeAck{NodeId: "n1", AckedAt: at, Push: &purgev1.PushResult{Cached: 1, Failed: 1,
		Failures: []*purgev1.PushURLResult{{Url: "https://a/y", Status: 404, Error: "status 404"}}}}
	m := givenModel(t,
		&ev.PushRequested{PushId: "psh_1", AppId: "app_1", Command: cmd, ExpectedNodeIds: []string{"n1", "n2"}},
		&ev.PurgeAcknowledged{PurgeId: "psh_1", Ack: n1, Acks: []*purgev1.NodeAck{n1}})
	p, ok := m.viewPush("psh_1", true)
	if !ok || p.GetNodesDone() != 1 || p.GetNodesTotal() != 2 || p.GetUrlsFailed() != 1 || p.GetTimeToLastAck() != nil || len(p.GetUrls()) != 2 || p.GetUrlCount() != 2 {
		t.Fatalf("after n1 (twice): %v", p)
	}
	if !m.addAck("psh_1", &purgev1.NodeAck{NodeId: "n2", AckedAt: at, Push: &purgev1.PushResult{Cached: 0, Failed: 2}}) {
		t.Fatal("n2's first ack did not count")
	}
	pg, err := listfilter.Start(pushSchema, listfilter.Request{Filter: `urls_failed > 2 AND done = true`})
	if err != nil {
		t.Fatal(err)
	}
	list, next := m.listPushes(pg)
	more := next != ""
	if more || len(list) != 1 || list[0].GetUrlsFailed() != 3 || list[0].GetTimeToLastAck() == nil || len(list[0].GetUrls()) != 0 || list[0].GetUrlCount() != 2 {
		t.Fatalf("list: %v more %v", list, more)
	}
	if p, _ := m.viewPush("psh_1", true); len(p.GetUrls()) != 2 {
		t.Fatal("a list dropped the push's URLs from the model")
	}
	if _, ok := m.view("psh_1"); ok {
		t.Fatal("a push is listed as a purge")
	}
	pg, err = listfilter.Start(pushSchema, listfilter.Request{Filter: `app_id = "app_2"`})
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := m.listPushes(pg); len(list) != 0 {
		t.Fatalf("filter app_id = app_2 listed %v", list)
	}
	if _, err := listfilter.Start(pushSchema, listfilter.Request{Filter: `colour = "red"`}); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Fatalf("unknown filter field: %v", err)
	}
}

// Acks with many failed URLs are recorded in several events, none over the
// event size limit.
func TestChunkAcks(t *testing.T) {
	var acks []*purgev1.NodeAck
	for i := range 40 {
		r := &purgev1.PushResult{Failed: 50}
		for j := range 50 {
			r.Failures = append(r.Failures, &purgev1.PushURLResult{Url: "https://shop.example.com/" + strings.Repeat("x", 2000) + string(rune('a'+j%26)), Error: "status 404"})
		}
		acks = append(acks, &purgev1.NodeAck{NodeId: "n" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Push: r})
	}
	chunks := chunkAcks(acks)
	total := 0
	for _, c := range chunks {
		total += len(c)
		msg, _ := acknowledged("psh_1", c)
		if n := proto.Size(msg); n > maxAckEventBytes+64<<10 {
			t.Fatalf("chunk of %d acks: %d bytes", len(c), n)
		}
	}
	if total != len(acks) || len(chunks) < 2 {
		t.Fatalf("%d acks in %d chunks, want all %d in several", total, len(chunks), len(acks))
	}
	if c := chunkAcks(acks[:1]); len(c) != 1 || len(c[0]) != 1 {
		t.Fatalf("one ack: %v", c)
	}
}
