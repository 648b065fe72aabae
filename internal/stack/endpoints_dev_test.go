package stack_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// TestDevEndpointsFollowWithoutRelease: through strata dev (control plane,
// NATS sync, a real node), an upstream naming a server set serves the
// set's ready endpoints; changing the set moves the node's traffic with no
// release, and a missing set answers 502 naming it.
func TestDevEndpointsFollowWithoutRelease(t *testing.T) {
	dev := runDev(t)
	httpURL, port := dev.value(t, "http"), dev.port(t, "http")
	origin := func(name string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
		t.Cleanup(s.Close)
		return s.Listener.Addr().String()
	}
	a, b := origin("a"), origin("b")
	ctx := context.Background()
	c := clientsFor(dev.api, dev.token)
	const set = "k8s.east.shop.web.8080"
	app := must[*configv1.CreateAppResponse](t)(c.config.CreateApp(ctx, &configv1.CreateAppRequest{
		Name: "shop", Domains: []string{"shop.example.com"}, HttpPorts: []uint32{uint32(port)}})).App
	must[*configv1.CreateUpstreamResponse](t)(c.config.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: app.Id,
		Upstream: &configv1.Upstream{Name: "web", Endpoints: set}}))
	must[*configv1.CreateReleaseResponse](t)(c.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))

	get := func() (int, string) {
		req, _ := http.NewRequest("GET", httpURL+"/", nil)
		req.Host = "shop.example.com"
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if code, body := get(); code != 502 || !strings.Contains(body, set) {
			return fmt.Errorf("before the set exists: %d %q, want 502 naming the set", code, body)
		}
		return nil
	})
	for i, step := range []struct {
		ready []string
		want  string
	}{{[]string{a}, "a"}, {[]string{b}, "b"}, {[]string{a}, "a"}, {nil, ""}} {
		eps := []*configv1.Endpoint{{Address: a, Ready: slices.Contains(step.ready, a)}, {Address: b, Ready: slices.Contains(step.ready, b)}}
		must[*configv1.SetEndpointsResponse](t)(c.config.SetEndpoints(ctx, &configv1.SetEndpointsRequest{Endpoints: &configv1.UpstreamEndpoints{
			Id: set, PartitionIds: []string{"default"}, Endpoints: eps}}))
		changed := time.Now()
		natstest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
			code, body := get()
			if step.want == "" && code == 502 || code == 200 && body == step.want {
				return nil
			}
			return fmt.Errorf("change %d: %d %q, want %q", i, code, body, step.want)
		})
		t.Logf("change %d: the node's traffic followed %s after SetEndpoints returned", i, time.Since(changed))
	}
	if rs := must[*configv1.ListReleasesResponse](t)(c.config.ListReleases(ctx, &configv1.ListReleasesRequest{AppId: app.Id})).Releases; len(rs) != 1 {
		t.Fatalf("%d releases after endpoint changes, want the first one only", len(rs))
	}
}
