package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
)

// listAppsProjection holds n apps app-0000..: domains shopN.example.com and
// wwwN.shop.example.net, label env=prod on even ones, released when N%3 == 0,
// partition "bench" (the first 10 also "other").
func listAppsProjection(t testing.TB, n int) *projection {
	p, f := benchProjection(t, false)
	f.feed(partitionStream("part_other"), &ev.PartitionCreated{Partition: &configv1.Partition{Id: "part_other", Name: "other"}})
	for i := range n {
		id := fmt.Sprintf("app_%07d", i)
		s := &ev.AppSettings{Name: fmt.Sprintf("app-%04d", i), PartitionIds: []string{benchPartition},
			Domains: []string{fmt.Sprintf("shop%d.example.com", i), fmt.Sprintf("www%d.shop.example.net", i)}}
		if i%2 == 0 {
			s.Labels = map[string]string{"env": "prod"}
		}
		if i < 10 {
			s.PartitionIds = append(s.PartitionIds, "part_other")
		}
		f.feed(appStream(id), &ev.AppCreated{AppId: id, Settings: s})
		if i%3 == 0 {
			f.feed(appStream(id), &ev.AppReleased{AppId: id, Release: 1})
		}
	}
	return p
}

func listAll(t *testing.T, p *projection, filter string, size int32) []*configv1.AppSummary {
	t.Helper()
	var all []*configv1.AppSummary
	tok := ""
	for range 10_000 {
		res, err := p.listApps(&configv1.ListAppsRequest{Filter: filter, PageSize: size, PageToken: tok})
		if err != nil {
			t.Fatalf("filter %q: %v", filter, err)
		}
		if len(res.Apps) > int(max(size, 0)) && size > 0 {
			t.Fatalf("page of %d > %d", len(res.Apps), size)
		}
		all = append(all, res.Apps...)
		if tok = res.NextPageToken; tok == "" {
			return all
		}
	}
	t.Fatal("pages never end")
	return nil
}

func TestListAppsPagesAndFilters(t *testing.T) {
	p := listAppsProjection(t, 1000)
	all := listAll(t, p, "", 0)
	if len(all) != 1000 {
		t.Fatalf("%d apps", len(all))
	}
	for i, a := range all {
		if a.Name != fmt.Sprintf("app-%04d", i) {
			t.Fatalf("apps[%d] = %s: not in name order", i, a.Name)
		}
	}
	if a := all[2]; a.Labels["env"] != "prod" || a.UpdatedAt == nil || a.CreatedAt == nil || a.CreatedAt.AsTime().After(a.UpdatedAt.AsTime()) ||
		a.Role != "http" || len(a.Domains) != 2 {
		t.Fatalf("summary %v", a)
	}
	if n, m := len(listAll(t, p, `role = "http" AND created_at < "2999-01-01T00:00:00Z"`, 0)), len(listAll(t, p, `role = "stream"`, 0)); n != 1000 || m != 0 {
		t.Fatalf("role filters: %d http apps, %d stream apps", n, m)
	}
	res, err := p.listApps(&configv1.ListAppsRequest{})
	if err != nil || len(res.Apps) != 100 || res.NextPageToken == "" {
		t.Fatalf("default page: %d apps, token %q, %v", len(res.Apps), res.NextPageToken, err)
	}
	tests := []struct {
		filter string
		want   int
		first  string
	}{
		{`domains:"shop123.example.com"`, 1, "app-0123"},
		{`domains = "shop123.example.com"`, 1, "app-0123"},
		{`domains:"shop1234.example.com"`, 0, ""},
		{`domains:"*.shop.example.net"`, 1000, "app-0000"},
		{`domains:"*99.shop.example.net"`, 10, "app-0099"},
		{`domains:"*op12*"`, 11, "app-0012"},
		{`domains:"shop7.example.com" OR domains:"shop8.example.com"`, 2, "app-0007"},
		{`labels.env = "prod"`, 500, "app-0000"},
		{`labels.env = "prod" AND domains:"*9.example.com"`, 0, ""},
		{`labels.env = "prod" AND domains:"*8.example.com"`, 100, "app-0008"},
		{`unreleased = true`, 666, "app-0001"},
		{`unreleased = false`, 334, "app-0000"},
		{`partition = "other"`, 10, "app-0000"},
		{`partition = "part_other" AND NOT labels.env = "prod"`, 5, "app-0001"},
		{`updated_at > "2020-01-01T00:00:00Z"`, 1000, "app-0000"},
		{`updated_at < "2020-01-01T00:00:00Z"`, 0, ""},
		{`name = "app-05*"`, 100, "app-0500"},
		{`latest_release >= 1`, 334, "app-0000"},
	}
	for _, tt := range tests {
		for _, size := range []int32{7, 1000} {
			t.Run(fmt.Sprintf("%s/%d", tt.filter, size), func(t *testing.T) {
				got := listAll(t, p, tt.filter, size)
				if len(got) != tt.want {
					t.Fatalf("%d apps, want %d", len(got), tt.want)
				}
				if tt.want > 0 && got[0].Name != tt.first {
					t.Fatalf("first %s, want %s", got[0].Name, tt.first)
				}
				for i := 1; i < len(got); i++ {
					if got[i-1].Name >= got[i].Name {
						t.Fatalf("out of order at %d", i)
					}
				}
			})
		}
	}
}

func TestListAppsRefusals(t *testing.T) {
	p := listAppsProjection(t, 20)
	res, err := p.listApps(&configv1.ListAppsRequest{PageSize: 5, Filter: `labels.env = "prod"`})
	if err != nil || res.NextPageToken == "" {
		t.Fatal(res, err)
	}
	for _, tt := range []struct {
		req          *configv1.ListAppsRequest
		field, words string
	}{
		{&configv1.ListAppsRequest{PageToken: res.NextPageToken}, "page_token", "another filter"},
		{&configv1.ListAppsRequest{PageToken: "zz"}, "page_token", "not a token"},
		{&configv1.ListAppsRequest{PageSize: 1001}, "page_size", "at most 1000"},
		{&configv1.ListAppsRequest{PageSize: -1}, "page_size", "negative"},
		{&configv1.ListAppsRequest{Filter: `colour = "red"`}, "filter", `unknown field "colour"`},
		{&configv1.ListAppsRequest{Filter: `name = "x" AND (`}, "filter", "position 17"},
	} {
		_, err := p.listApps(tt.req)
		vs := apierr.Violations(err)
		if len(vs) != 1 || vs[0].Field != tt.field || !strings.Contains(vs[0].Reason, tt.words) {
			t.Errorf("%v: %v", tt.req, err)
		}
	}
}

// An app renamed or deleted moves in (or leaves) the index; a domain
// change leaves the old domain unsearchable.
func TestListAppsIndexFollowsChanges(t *testing.T) {
	p, f := benchProjection(t, false)
	f.feed(appStream("app_1"), &ev.AppCreated{AppId: "app_1", Settings: &ev.AppSettings{Name: "zeta", Domains: []string{"a.example.com"}}})
	f.feed(appStream("app_2"), &ev.AppCreated{AppId: "app_2", Settings: &ev.AppSettings{Name: "beta", Domains: []string{"b.example.com"}}})
	f.feed(appStream("app_1"), &ev.AppUpdated{AppId: "app_1", Settings: &ev.AppSettings{Name: "alpha", Domains: []string{"c.example.com"}}})
	names := func(filter string) string {
		res, err := p.listApps(&configv1.ListAppsRequest{Filter: filter})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range res.Apps {
			out = append(out, a.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names(""); got != "alpha,beta" {
		t.Fatalf("order %q", got)
	}
	if got := names(`domains:"a.example.com"`); got != "" {
		t.Fatalf("old domain still found: %q", got)
	}
	if got := names(`domains:"*.example.com"`); got != "alpha,beta" {
		t.Fatalf("suffix %q", got)
	}
	f.feed(appStream("app_2"), &ev.AppDeleted{AppId: "app_2"})
	if got := names(`deleted = true`); got != "beta" {
		t.Fatalf("deleted %q", got)
	}
}

// BenchmarkListApps1M folds 1,000,000 apps (AppCreated events, two domains
// each, through the projection's Handle) and measures ListApps pages with
// a domain search, a suffix search, a label filter and no filter; it
// reports p50/p99 per query and the heap the read model holds.
// go test ./config -run '^$' -bench BenchmarkListApps1M -benchtime 1x
func BenchmarkListApps1M(b *testing.B) {
	const n = 1_000_000
	before := heapInUse()
	t0 := time.Now()
	p := listAppsProjection(b, n)
	b.Logf("folded %d apps in %s", n, time.Since(t0).Round(time.Millisecond))
	b.ReportMetric(float64(heapInUse()-before)/n, "heap-B/app")
	queries := []struct{ name, filter string }{
		{"domain", `domains:"shop%d.example.com"`},
		{"domain_suffix", `domains:"*%d.shop.example.net"`},
		{"domain_and_label", `domains:"shop%d.example.com" AND labels.env = "prod"`},
		{"name_prefix", `name = "app-%d*"`},
		{"unreleased_page", `unreleased = true`},
		{"label_page", `labels.env = "prod"`},
		{"first_page", ``},
		{"partition_rare", `partition = "other"`},
	}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			var lat []time.Duration
			i := 0
			for b.Loop() {
				f := q.filter
				if strings.Contains(f, "%d") {
					f = fmt.Sprintf(f, (i*7919)%n)
				}
				i++
				s := time.Now()
				res, err := p.listApps(&configv1.ListAppsRequest{Filter: f, PageSize: 100})
				lat = append(lat, time.Since(s))
				if err != nil || (strings.HasPrefix(q.name, "domain") && len(res.Apps) == 0 && !strings.Contains(q.name, "label")) {
					b.Fatalf("%s: %d apps, %v", f, len(res.GetApps()), err)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
