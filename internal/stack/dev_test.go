package stack_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/gen/strata/dns/v1/dnsv1connect"
	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	"github.com/strata-edge/strata/gen/strata/metrics/v1/metricsv1connect"
	"github.com/strata-edge/strata/internal/cli"
	"github.com/strata-edge/strata/internal/edge"
	"github.com/strata-edge/strata/internal/stack"
	"github.com/strata-edge/strata/internal/testbuf"
	"github.com/strata-edge/strata/node/join"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/natsauth"
	"github.com/strata-edge/strata/pkg/natsauth/natsauthtest"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// devStack is RunDev running in-process on free ports until the test ends.
type devStack struct {
	banner *testbuf.Buffer
	done   <-chan error // what RunDev returned
	api    string
	token  string // the admin token dev wrote to its token file
}

// runDev runs RunDev with API, NATS, leaf, HTTP and HTTPS listeners (and
// what modify adds, e.g. DNSAddr) and waits until its node runs.
func runDev(t *testing.T, modify ...func(*stack.DevOptions)) *devStack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	d := &devStack{banner: &testbuf.Buffer{}, done: done}
	opts := stack.DevOptions{
		DataDir: t.TempDir(), APIAddr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0", LeafAddr: "127.0.0.1:0",
		HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler), Banner: d.banner,
	}
	for _, m := range modify {
		m(&opts)
	}
	go func() { done <- stack.RunDev(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunDev returned %v after cancel", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("RunDev did not return after cancel")
		}
	})
	d.value(t, "node")
	d.api = d.value(t, "api")
	token, err := os.ReadFile(d.value(t, "token-file"))
	if err != nil {
		t.Fatal(err)
	}
	d.token = strings.TrimSpace(string(token))
	return d
}

// withDNS adds dev's DNS listener.
func withDNS(o *stack.DevOptions) { o.DNSAddr = "127.0.0.1:0" }

// value is the banner's line key.
func (d *devStack) value(t *testing.T, key string) string {
	t.Helper()
	return bannerValue(t, d.banner, d.done, key)
}

// port is the port of the URL the banner shows as key.
func (d *devStack) port(t *testing.T, key string) int {
	t.Helper()
	u, err := url.Parse(d.value(t, key))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("banner %s: %v", key, err)
	}
	return n
}

// runControl runs RunControl with opts on a free API port and its own
// data dir until the test ends; it returns the API address and clients
// of the admin token it wrote.
func runControl(t *testing.T, opts stack.ControlOptions) (string, clients) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	banner := &testbuf.Buffer{}
	opts.APIAddr, opts.DataDir, opts.Logger, opts.Banner = "127.0.0.1:0", t.TempDir(), slog.New(slog.DiscardHandler), banner
	go func() { done <- stack.RunControl(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunControl: %v", err)
		}
	})
	api := bannerValue(t, banner, done, "api")
	token, err := os.ReadFile(filepath.Join(opts.DataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return api, clientsFor(api, strings.TrimSpace(string(token)))
}

type clients struct {
	api, token string // what made them (the CLI's STRATA_API and STRATA_TOKEN)
	config     configv1connect.ConfigServiceClient
	nodes      configv1connect.NodeServiceClient
	iam        iamv1connect.IAMServiceClient
	dns        dnsv1connect.DnsServiceClient
	certs      certv1connect.CertServiceClient
	metric     metricsv1connect.MetricsServiceClient
}

func clientsFor(api, token string) clients {
	var opts []connect.ClientOption
	if token != "" {
		opts = append(opts, connect.WithInterceptors(apiauth.BearerToken(token)))
	}
	// A hung call fails the test instead of stalling it.
	hc := &http.Client{Timeout: 15 * time.Second}
	return clients{
		api: api, token: token,
		config: configv1connect.NewConfigServiceClient(hc, api, opts...),
		nodes:  configv1connect.NewNodeServiceClient(hc, api, opts...),
		iam:    iamv1connect.NewIAMServiceClient(hc, api, opts...),
		dns:    dnsv1connect.NewDnsServiceClient(hc, api, opts...),
		certs:  certv1connect.NewCertServiceClient(hc, api, opts...),
		metric: metricsv1connect.NewMetricsServiceClient(hc, api, opts...),
	}
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

// TestDevAuthorizesWithScopedGrants: the API of strata dev authenticates
// with IAM and authorizes with grants scoped through the config and nodes
// services' resolvers.
func TestDevAuthorizesWithScopedGrants(t *testing.T) {
	dev := runDev(t)
	api, token := dev.api, dev.token
	admin := clientsFor(api, token)
	ctx := context.Background()

	must[*configv1.CreatePartitionResponse](t)(admin.config.CreatePartition(ctx, &configv1.CreatePartitionRequest{Name: "eu"}))
	must[*configv1.CreateClusterResponse](t)(admin.config.CreateCluster(ctx, &configv1.CreateClusterRequest{Name: "fra", Partition: "eu"}))
	must[*iamv1.CreateUserResponse](t)(admin.iam.CreateUser(ctx, &iamv1.CreateUserRequest{Name: "eu-bot", ServiceAccount: true}))
	must[*iamv1.CreateGrantResponse](t)(admin.iam.CreateGrant(ctx, &iamv1.CreateGrantRequest{User: "eu-bot", Role: "admin", ScopeKind: "partition", ScopeObject: "eu"}))
	tok := must[*iamv1.CreateTokenResponse](t)(admin.iam.CreateToken(ctx, &iamv1.CreateTokenRequest{User: "eu-bot"}))
	bot := clientsFor(api, tok.Secret)

	// Join tokens belong to clusters, clusters to partitions.
	if _, err := bot.nodes.CreateJoinToken(ctx, &configv1.CreateJoinTokenRequest{Cluster: "fra"}); err != nil {
		t.Errorf("admin of eu creating a join token for cluster fra (in eu): %v", err)
	}
	if _, err := bot.nodes.CreateJoinToken(ctx, &configv1.CreateJoinTokenRequest{Cluster: "default"}); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("admin of eu creating a join token for cluster default: %v, want PermissionDenied", err)
	}
	// The built-in node is in cluster default: the bot does not see it.
	if nodes := must[*configv1.ListNodesResponse](t)(bot.config.ListNodes(ctx, &configv1.ListNodesRequest{})).GetNodes(); len(nodes) != 0 {
		t.Errorf("admin of eu sees nodes of other partitions: %v", nodes)
	}
	if nodes := must[*configv1.ListNodesResponse](t)(admin.config.ListNodes(ctx, &configv1.ListNodesRequest{})).GetNodes(); len(nodes) != 1 || nodes[0].GetNode().GetName() != "dev" {
		t.Errorf("the built-in node is not listed: %v", nodes)
	}

	// A revoked token is refused, saying why.
	must[*iamv1.RevokeTokenResponse](t)(admin.iam.RevokeToken(ctx, &iamv1.RevokeTokenRequest{Id: tok.Token.Id}))
	_, err := bot.config.ListPartitions(ctx, &configv1.ListPartitionsRequest{})
	if connect.CodeOf(err) != connect.CodeUnauthenticated || !strings.Contains(err.Error(), "was revoked") {
		t.Errorf("call with a revoked token: %v, want Unauthenticated saying it was revoked", err)
	}
}

// TestEdgeWaitsForApproval: a node joining with a token that needs approval
// waits, asking again, and starts once approved; a restart needs no token.
func TestEdgeWaitsForApproval(t *testing.T) {
	dev := runDev(t)
	api, token := dev.api, dev.token
	admin := clientsFor(api, token)
	ctx := context.Background()
	jt := must[*configv1.CreateJoinTokenResponse](t)(admin.nodes.CreateJoinToken(ctx, &configv1.CreateJoinTokenRequest{Cluster: "default"}))

	dir := t.TempDir()
	progress := &testbuf.Buffer{}
	type started struct {
		edge *edge.Edge
		err  error
	}
	done := make(chan started, 1)
	go func() {
		e, err := edge.Start(ctx, edge.Options{
			Options: join.Options{DataDir: dir, Name: "edge-a", JoinToken: jt.Token, Joiner: clientsFor(api, "").nodes,
				Poll: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler), Progress: progress},
			HTTPAddr: "127.0.0.1:0",
		})
		done <- started{e, err}
	}()
	var nodeID string
	natstest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		for _, n := range must[*configv1.ListNodesResponse](t)(admin.config.ListNodes(ctx, &configv1.ListNodesRequest{})).GetNodes() {
			if n.GetNode().GetName() == "edge-a" && !n.GetNode().GetApproved() {
				nodeID = n.GetNode().GetId()
			}
		}
		if nodeID == "" || !strings.Contains(progress.String(), "Waiting for approval: node "+nodeID) {
			return fmt.Errorf("no node waiting for approval yet; progress: %q", progress.String())
		}
		return nil
	})
	select {
	case s := <-done:
		t.Fatalf("StartEdge returned before approval: %v", s.err)
	default:
	}
	must[*configv1.ApproveNodeResponse](t)(admin.nodes.ApproveNode(ctx, &configv1.ApproveNodeRequest{NodeId: nodeID}))
	var s started
	select {
	case s = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("StartEdge did not return after approval")
	}
	if s.err != nil {
		t.Fatal(s.err)
	}
	if s.edge.NodeID() != nodeID {
		t.Errorf("edge node id %s, want %s", s.edge.NodeID(), nodeID)
	}
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		for _, n := range must[*configv1.ListNodesResponse](t)(admin.config.ListNodes(ctx, &configv1.ListNodesRequest{})).GetNodes() {
			if n.GetNode().GetId() == nodeID && n.GetOnline() && n.GetInSync() {
				return nil
			}
		}
		return errors.New("approved node not online and in sync yet")
	})
	stopCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := s.edge.Stop(stopCtx); err != nil {
		t.Fatalf("stop the edge node: %v", err)
	}
	// node.kek: the partition's node KEK, sealed to the node at join.
	for _, f := range []string{join.KeyFile, join.StateFile, "node.creds", join.KEKFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %#o, want 0600", f, fi.Mode().Perm())
		}
	}

	// Restart without a token: the stored identity is enough.
	again, err := edge.Start(ctx, edge.Options{Options: join.Options{DataDir: dir, Logger: slog.New(slog.DiscardHandler)}, HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := again.Stop(stopCtx); err != nil {
			t.Errorf("stop the restarted edge node: %v", err)
		}
	}()
	if again.NodeID() != nodeID {
		t.Errorf("restarted node id %s, want %s", again.NodeID(), nodeID)
	}
}

// TestControlWithExternalHub: strata control against a hub in operator mode
// that it reaches with a credentials file; a node joins through its API,
// links to the hub with the credentials the nodes service issued and shows
// in sync.
func TestControlWithExternalHub(t *testing.T) {
	admin, ext := runExternalHubNode(t)
	ctx := context.Background()
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer scancel()
		if err := ext.Stop(sctx); err != nil {
			t.Errorf("stop edge: %v", err)
		}
	}()
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		nodes := must[*configv1.ListNodesResponse](t)(admin.config.ListNodes(ctx, &configv1.ListNodesRequest{})).GetNodes()
		if len(nodes) != 1 || !nodes[0].GetInSync() || nodes[0].GetNode().GetId() != ext.NodeID() {
			return fmt.Errorf("nodes: %v", nodes)
		}
		return nil
	})
}

// runExternalHubNode runs strata control against a hub in operator mode
// that it reaches with a credentials file, and node ext-1 joined through
// its API (auto-approved) with the credentials the nodes service issued.
func runExternalHubNode(t *testing.T, modify ...func(*stack.ControlOptions)) (clients, *edge.Edge) {
	authDir := filepath.Join(t.TempDir(), "nats-auth")
	authority, err := natsauth.LoadOrCreate(authDir)
	if err != nil {
		t.Fatal(err)
	}
	hub := natsauthtest.RunHub(t, authority)
	userJWT, seed, err := authority.ControlUser()
	if err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(t.TempDir(), "control.creds")
	if err := natsauth.WriteCredentials(creds, userJWT, seed); err != nil {
		t.Fatal(err)
	}
	o := stack.ControlOptions{NATSURL: hub.Server.ClientURL(), NATSCreds: creds, Services: stack.KnownServices,
		NATSAuthDir: authDir, LeafURLs: []string{hub.LeafURL}}
	for _, m := range modify {
		m(&o)
	}
	api, admin := runControl(t, o)
	ctx := context.Background()
	jt := must[*configv1.CreateJoinTokenResponse](t)(admin.nodes.CreateJoinToken(ctx, &configv1.CreateJoinTokenRequest{Cluster: "default", AutoApprove: true}))
	ext, err := edge.Start(ctx, edge.Options{Options: join.Options{DataDir: t.TempDir(), Name: "ext-1", JoinToken: jt.Token,
		Joiner: clientsFor(api, "").nodes, Logger: slog.New(slog.DiscardHandler)}, HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	return admin, ext
}

// TestControlConfigWithoutNodesService: a control process serving the
// config API but not NodeService still registers, stages and removes nodes:
// the nodes service runs in it for those commands only (it writes node
// streams), without a NATS authority, and NodeService is not served.
func TestControlConfigWithoutNodesService(t *testing.T) {
	ns := natstest.RunServer(t)
	_, admin := runControl(t, stack.ControlOptions{NATSURL: ns.ClientURL(), Services: []string{stack.ServiceConfig, stack.ServiceIAM}})
	ctx := context.Background()
	n := must[*configv1.RegisterNodeResponse](t)(admin.config.RegisterNode(ctx, &configv1.RegisterNodeRequest{Name: "op-1", Cluster: "default"})).GetNode()
	if _, err := admin.config.RegisterNode(ctx, &configv1.RegisterNodeRequest{Name: "op-1", Cluster: "default"}); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("second op-1: %v, want invalid_argument", err)
	}
	must[*configv1.SetNodeStagingResponse](t)(admin.config.SetNodeStaging(ctx, &configv1.SetNodeStagingRequest{NodeId: "op-1", Staging: true}))
	nodes := must[*configv1.ListNodesResponse](t)(admin.config.ListNodes(ctx, &configv1.ListNodesRequest{})).GetNodes()
	if len(nodes) != 1 || nodes[0].GetNode().GetId() != n.GetId() || !nodes[0].GetNode().GetStaging() {
		t.Fatalf("nodes: %v", nodes)
	}
	must[*configv1.RemoveNodeResponse](t)(admin.config.RemoveNode(ctx, &configv1.RemoveNodeRequest{NodeId: n.GetId()}))
	if nodes := must[*configv1.ListNodesResponse](t)(admin.config.ListNodes(ctx, &configv1.ListNodesRequest{})).GetNodes(); len(nodes) != 0 {
		t.Fatalf("nodes after RemoveNode: %v", nodes)
	}
	if _, err := admin.nodes.CreateJoinToken(ctx, &configv1.CreateJoinTokenRequest{Cluster: "default"}); connect.CodeOf(err) != connect.CodeUnimplemented && connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("NodeService on a config-only process: %v, want it not served", err)
	}
}

// TestDevNodeKeyLost: a dev data dir whose node key was deleted cannot
// rejoin under the same name; the error says how to recover.
func TestDevNodeKeyLost(t *testing.T) {
	dir := t.TempDir()
	opts := stack.DevOptions{DataDir: dir, APIAddr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0", LeafAddr: "127.0.0.1:0",
		HTTPAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	banner := &testbuf.Buffer{}
	done := make(chan error, 1)
	o := opts
	o.Banner = banner
	go func() { done <- stack.RunDev(ctx, o) }()
	bannerValue(t, banner, done, "node")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "node", join.KeyFile)); err != nil {
		t.Fatal(err)
	}
	err := stack.RunDev(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "--no-node") {
		t.Fatalf("got %v, want the name conflict with a way out", err)
	}
}

// TestDevLeafURL: a leaf listener on every interface hands nodes no usable
// address, so dev refuses it without --leaf-url and advertises --leaf-url
// when given.
func TestDevLeafURL(t *testing.T) {
	opts := stack.DevOptions{DataDir: t.TempDir(), APIAddr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0", LeafAddr: "0.0.0.0:0",
		NoNode: true, Logger: slog.New(slog.DiscardHandler)}
	err := stack.RunDev(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "--leaf-url") {
		t.Fatalf("wildcard leaf address without --leaf-url: got %v, want an error naming --leaf-url", err)
	}

	opts.DataDir = t.TempDir()
	opts.LeafURLs = []string{"nats-leaf://hub.example.test:7424"}
	ctx, cancel := context.WithCancel(context.Background())
	banner := &testbuf.Buffer{}
	opts.Banner = banner
	done := make(chan error, 1)
	go func() { done <- stack.RunDev(ctx, opts) }()
	if got := bannerValue(t, banner, done, "leaf"); got != opts.LeafURLs[0] {
		t.Errorf("banner leaf %q, want %q", got, opts.LeafURLs[0])
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// proxyApp creates app name on domain and HTTP port proxying every path to
// the server at origin, unreleased.
func proxyApp(t *testing.T, c clients, name, domain string, port uint32, origin string) *configv1.App {
	t.Helper()
	ctx := context.Background()
	app := must[*configv1.CreateAppResponse](t)(c.config.CreateApp(ctx, &configv1.CreateAppRequest{
		Name: name, Domains: []string{domain}, HttpPorts: []uint32{port}})).App
	must[*configv1.CreateUpstreamResponse](t)(c.config.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: app.Id,
		Upstream: &configv1.Upstream{Name: "web", Servers: []*configv1.Server{{Address: origin, Weight: 1}}}}))
	must[*configv1.CreateRuleResponse](t)(c.config.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: &configv1.Rule{
		Name: "all", When: `PathPrefix("/")`, Actions: []*configv1.Action{{Action: &configv1.Action_Proxy{Proxy: &configv1.ProxyAction{
			Upstreams: []*configv1.WeightedUpstream{{Upstream: "web", Weight: 1}}}}}}}}))
	return app
}

// cli runs the strata CLI against c's API with c's token and returns its
// output, trimmed; a failing command fails the test.
func (c clients) cli(t *testing.T) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		var out, errs bytes.Buffer
		env := map[string]string{"STRATA_API": c.api, "STRATA_TOKEN": c.token}
		if code := cli.Execute(context.Background(), cli.BuildInfo{Version: "test"}, args, &out, &errs, func(k string) string { return env[k] }); code != 0 {
			t.Fatalf("strata %s: exit %d\n%s", strings.Join(args, " "), code, errs.String())
		}
		return strings.TrimSpace(out.String())
	}
}
