package stack_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// TestDevLargeReleaseReachesNode (issue 11.1): an app of rules answering
// 60,000-byte bodies grows until the app size limit refuses a rule with
// invalid_argument naming the field and the limit; what was accepted
// releases as one delta far over a quarter of NATS's 1 MiB max payload,
// which reaches the node by reference; another app's release follows it.
// Before, all 20 rules were accepted and the 1.2 MB delta wedged the
// partition: no later release reached any node.
func TestDevLargeReleaseReachesNode(t *testing.T) {
	dev := runDev(t)
	api, token := dev.api, dev.token
	httpURL, port := dev.value(t, "http"), dev.port(t, "http")
	c := clientsFor(api, token)
	ctx := context.Background()

	big := must[*configv1.CreateAppResponse](t)(c.config.CreateApp(ctx, &configv1.CreateAppRequest{
		Name: "big", Domains: []string{"big.example.com"}, HttpPorts: []uint32{uint32(port)}})).App
	accepted := 0
	for i := range 20 {
		body := strings.Repeat(strconv.Itoa(i%10), 60_000)
		_, err := c.config.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: big.Id, Rule: &configv1.Rule{
			Name: fmt.Sprintf("r%d", i), When: fmt.Sprintf(`Path("/%d")`, i),
			Actions: []*configv1.Action{{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: 200, Body: body}}}}}})
		if err == nil {
			accepted++
			continue
		}
		vs := apierr.FromConnect(err)
		if connect.CodeOf(err) != connect.CodeInvalidArgument || len(vs) != 1 || vs[0].Field != "rule" ||
			!strings.Contains(vs[0].Reason, "786432 bytes per app") {
			t.Fatalf("rule %d: %v %v, want invalid_argument on field rule naming the limit", i, err, vs)
		}
		break
	}
	if accepted < 5 || accepted == 20 {
		t.Fatalf("%d rules of 60,000 bytes accepted, want the app size limit to stop them short of 20", accepted)
	}
	must[*configv1.CreateReleaseResponse](t)(c.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: big.Id}))
	get := func(host, path string) (int, string, error) {
		req, _ := http.NewRequest("GET", httpURL+path, nil)
		req.Host = host
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	last := accepted - 1
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		code, body, err := get("big.example.com", fmt.Sprintf("/%d", last))
		if err != nil || code != 200 || body != strings.Repeat(strconv.Itoa(last%10), 60_000) {
			return fmt.Errorf("big.example.com: %d, %d bytes, %v", code, len(body), err)
		}
		return nil
	})

	small := must[*configv1.CreateAppResponse](t)(c.config.CreateApp(ctx, &configv1.CreateAppRequest{
		Name: "small", Domains: []string{"small.example.com"}, HttpPorts: []uint32{uint32(port)}})).App
	must[*configv1.CreateRuleResponse](t)(c.config.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: small.Id, Rule: &configv1.Rule{
		Name: "hi", When: `PathPrefix("/")`,
		Actions: []*configv1.Action{{Action: &configv1.Action_Respond{Respond: &configv1.RespondAction{Status: 200, Body: "small"}}}}}}))
	must[*configv1.CreateReleaseResponse](t)(c.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: small.Id}))
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if code, body, err := get("small.example.com", "/"); err != nil || code != 200 || body != "small" {
			return fmt.Errorf("small.example.com: %d %q %v", code, body, err)
		}
		nodes := must[*configv1.ListNodesResponse](t)(c.config.ListNodes(ctx, &configv1.ListNodesRequest{})).GetNodes()
		if len(nodes) != 1 || !nodes[0].GetInSync() || nodes[0].GetPublishError() != "" {
			return fmt.Errorf("nodes: %v", nodes)
		}
		return nil
	})
}
