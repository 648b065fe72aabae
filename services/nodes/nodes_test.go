package nodes_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsauth"
	"github.com/strata-edge/strata/pkg/natsauth/natsauthtest"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	"github.com/strata-edge/strata/services/nodes"
)

const (
	adminToken  = "test-admin-token"
	clusterID   = "clu_edge1"
	clusterName = "edge-1"
	partitionID = "part_main"
)

// clock is a test clock; the service reads it through Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	hub   *natsauthtest.Hub
	auth  *natsauth.Authority
	store eventstore.Store
	hubJS jetstream.JetStream
	// control is the service's own connection (Options.Conn).
	control *nats.Conn
	clock   *clock
	svc     *nodes.Service
	admin   configv1connect.NodeServiceClient // Connect protocol, with an API token
	anon    configv1connect.NodeServiceClient // Connect protocol, no API token
	grpc    configv1connect.NodeServiceClient // gRPC protocol, no API token
	server  *httptest.Server
}

func newEnv(t testing.TB, opts ...func(*nodes.Options)) *env {
	t.Helper()
	auth, err := natsauth.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{auth: auth, hub: natsauthtest.RunHub(t, auth), clock: &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}}
	control := e.hub.ControlConn(t)
	e.control = control
	if e.hubJS, err = jetstream.New(control); err != nil {
		t.Fatal(err)
	}
	store, err := eventstore.NewJetStream(t.Context(), e.hubJS, eventstore.JetStreamOptions{})
	if err != nil {
		t.Fatalf("event store: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	e.store = store
	// The config service records clusters; here the test does.
	appendEvent(t, store, "cluster."+clusterID, "config.cluster.created",
		&ev.ClusterCreated{Cluster: &configv1.Cluster{Id: clusterID, Name: clusterName, PartitionId: partitionID}})

	o := nodes.Options{
		Store:     store,
		Authority: auth,
		Hub:       e.hub.Server,
		Conn:      control,
		LeafURLs:  []string{e.hub.LeafURL},
		Now:       e.clock.Now,
		Logger:    slog.New(slog.DiscardHandler),
	}
	for _, f := range opts {
		f(&o)
	}
	e.svc, err = nodes.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = e.svc.Stop(context.Background()) })

	authn := apiauth.AuthenticatorFunc(func(_ context.Context, token string) (apiauth.Principal, error) {
		if token == adminToken {
			return apiauth.Principal{Name: "admin", Kind: "bootstrap"}, nil
		}
		return apiauth.Principal{}, apiauth.ErrInvalidToken
	})
	mux := http.NewServeMux()
	mux.Handle(e.svc.Handler(connect.WithInterceptors(apiauth.NewInterceptor(authn, apiauth.WithPublicProcedures(nodes.JoinProcedure)))))
	e.server = httptest.NewUnstartedServer(mux)
	e.server.EnableHTTP2 = true
	e.server.StartTLS()
	t.Cleanup(e.server.Close)
	bearer := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+adminToken)
			return next(ctx, req)
		}
	})
	e.admin = configv1connect.NewNodeServiceClient(e.server.Client(), e.server.URL, connect.WithInterceptors(bearer))
	e.anon = configv1connect.NewNodeServiceClient(e.server.Client(), e.server.URL)
	e.grpc = configv1connect.NewNodeServiceClient(e.server.Client(), e.server.URL, connect.WithGRPC())
	return e
}

func appendEvent(t testing.TB, store eventstore.Store, stream, typeID string, msg proto.Message) {
	t.Helper()
	data, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(t.Context(), stream, eventstore.AnyVersion, eventstore.Event{
		ID: fmt.Sprintf("evt_test_%d", time.Now().UnixNano()), Type: typeID, Data: data,
		Metadata: eventstore.Metadata{Actor: "test"},
	}); err != nil {
		t.Fatalf("append %s: %v", typeID, err)
	}
}

func (e *env) createToken(t testing.TB, req *configv1.CreateJoinTokenRequest) *configv1.CreateJoinTokenResponse {
	t.Helper()
	if req.Cluster == "" {
		req.Cluster = clusterName
	}
	resp, err := e.admin.CreateJoinToken(t.Context(), req)
	if err != nil {
		t.Fatalf("CreateJoinToken: %v", err)
	}
	return resp
}

type nodeKey struct {
	kp  nkeys.KeyPair
	pub string
}

func newKey(t testing.TB) nodeKey {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return nodeKey{kp, pub}
}

func TestJoinWithAutoApproveGivesWorkingCredentials(t *testing.T) {
	e := newEnv(t)
	tok := e.createToken(t, &configv1.CreateJoinTokenRequest{AutoApprove: true, Description: "rack 4"})
	if tok.GetJoinToken().GetClusterId() != clusterID {
		t.Fatalf("token cluster = %q, want %q (resolved from name)", tok.GetJoinToken().GetClusterId(), clusterID)
	}
	if want := e.clock.Now().Add(24 * time.Hour); !tok.GetJoinToken().GetExpiresAt().AsTime().Equal(want) {
		t.Fatalf("expires_at = %s, want %s (24h default)", tok.GetJoinToken().GetExpiresAt().AsTime(), want)
	}
	key := newKey(t)
	// Join travels without an API token, over gRPC here.
	resp, err := e.grpc.Join(t.Context(), &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: "edge-a", PublicKey: key.pub})
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	n := resp.GetNode()
	if !resp.GetApproved() || !n.GetApproved() || resp.GetUserJwt() == "" {
		t.Fatalf("auto-approved join: approved=%v jwt=%d bytes", resp.GetApproved(), len(resp.GetUserJwt()))
	}
	if n.GetName() != "edge-a" || n.GetClusterId() != clusterID || n.GetPublicKey() != key.pub || n.GetStaging() {
		t.Fatalf("node = %v", n)
	}
	if resp.GetPartitionId() != partitionID || len(resp.GetLeafUrls()) != 1 || resp.GetLeafUrls()[0] != e.hub.LeafURL {
		t.Fatalf("partition %q leaf urls %v", resp.GetPartitionId(), resp.GetLeafUrls())
	}

	// The events name who did what, and never hold the secret.
	evs, err := e.store.ReadStream(t.Context(), "node."+n.GetId(), 0)
	if err != nil || len(evs) != 1 || evs[0].Type != "config.node.registered" {
		t.Fatalf("node stream: %v %v", evs, err)
	}
	tokID := tok.GetJoinToken().GetId()
	if evs[0].Metadata.Actor != "join_token:"+tokID {
		t.Fatalf("join actor = %q", evs[0].Metadata.Actor)
	}
	tevs, err := e.store.ReadStream(t.Context(), "jointoken."+tokID, 0)
	if err != nil || len(tevs) != 1 {
		t.Fatalf("token stream: %v %v", tevs, err)
	}
	if tevs[0].Metadata.Actor != "admin" || tevs[0].Metadata.RequestID == "" {
		t.Fatalf("token event metadata = %+v", tevs[0].Metadata)
	}
	secret := strings.SplitN(tok.GetToken(), ".", 2)[1]
	if strings.Contains(string(tevs[0].Data), secret) {
		t.Fatal("the token secret is stored in the event")
	}

	// The credentials open a leaf link that can read the partition's deltas.
	if _, err := e.hubJS.CreateStream(t.Context(), jetstream.StreamConfig{Name: natsutil.SyncStream, Subjects: []string{natsutil.SyncSubjects}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.hubJS.Publish(t.Context(), natsutil.DeltaSubject(partitionID, false), []byte("delta-1")); err != nil {
		t.Fatal(err)
	}
	leaf := natsauthtest.RunLeaf(t, resp.GetLeafUrls()[0], resp.GetUserJwt(), key.kp)
	nc := natsauthtest.NodeConn(t, leaf, n.GetId())
	js, _ := jetstream.NewWithDomain(nc, natsutil.HubDomain)
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		cons, err := js.OrderedConsumer(ctx, natsutil.SyncStream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{natsutil.DeltaSubject(partitionID, false)},
		})
		if err != nil {
			return err
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		if string(msg.Data()) != "delta-1" {
			return fmt.Errorf("delta = %q", msg.Data())
		}
		return nil
	})

	// Heartbeats sent by the node show it online and healthy.
	hb, _ := proto.Marshal(&syncv1.NodeStatus{NodeId: n.GetId(), Version: 42, Healthy: true, Time: timestamppb.Now()})
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if err := nc.Publish(natsutil.NodeStatusSubject(n.GetId()), hb); err != nil {
			return err
		}
		st, ok := e.svc.Statuses()[n.GetId()]
		if !ok {
			return errors.New("no status yet")
		}
		if !st.Online || !st.Healthy || st.Status.GetVersion() != 42 || !st.ReceivedAt.Equal(e.clock.Now()) {
			return fmt.Errorf("status = %+v", st)
		}
		return nil
	})
	// A last, distinct heartbeat: once it is recorded, the retries above
	// (same connection, in order) are all in and none can land after the
	// clock moves.
	last, _ := proto.Marshal(&syncv1.NodeStatus{NodeId: n.GetId(), Version: 43, Healthy: true})
	if err := nc.Publish(natsutil.NodeStatusSubject(n.GetId()), last); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if v := e.svc.Statuses()[n.GetId()].Status.GetVersion(); v != 43 {
			return fmt.Errorf("version %d", v)
		}
		return nil
	})
	e.clock.Advance(3*nodes.DefaultHeartbeatInterval + time.Second)
	if st := e.svc.Statuses()[n.GetId()]; st.Online || st.Healthy {
		t.Fatalf("status after 3 missed heartbeats: online=%v healthy=%v", st.Online, st.Healthy)
	}
}

func TestJoinNeedingApproval(t *testing.T) {
	e := newEnv(t)
	tok := e.createToken(t, &configv1.CreateJoinTokenRequest{Cluster: clusterID, Staging: true})
	key := newKey(t)
	join := func() *configv1.JoinResponse {
		t.Helper()
		resp, err := e.anon.Join(t.Context(), &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: "edge-b", PublicKey: key.pub})
		if err != nil {
			t.Fatalf("Join: %v", err)
		}
		return resp
	}
	first := join()
	if first.GetApproved() || first.GetUserJwt() != "" || len(first.GetLeafUrls()) != 0 {
		t.Fatalf("unapproved join returned credentials: %v", first)
	}
	if !first.GetNode().GetStaging() {
		t.Fatal("node of a staging token is not staging")
	}
	// Waiting nodes call again: same node, nothing new recorded.
	again := join()
	if again.GetNode().GetId() != first.GetNode().GetId() || again.GetUserJwt() != "" {
		t.Fatalf("re-join: %v", again)
	}
	id := first.GetNode().GetId()

	if _, err := e.anon.ApproveNode(t.Context(), &configv1.ApproveNodeRequest{NodeId: id}); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("ApproveNode without API token: %v, want Unauthenticated", err)
	}
	approved, err := e.admin.ApproveNode(t.Context(), &configv1.ApproveNodeRequest{NodeId: "edge-b"}) // by name
	if err != nil || !approved.GetNode().GetApproved() {
		t.Fatalf("ApproveNode: %v %v", approved, err)
	}
	if _, err := e.admin.ApproveNode(t.Context(), &configv1.ApproveNodeRequest{NodeId: id}); err != nil {
		t.Fatalf("second ApproveNode: %v", err)
	}
	evs, _ := e.store.ReadStream(t.Context(), "node."+id, 0)
	if len(evs) != 2 || evs[1].Type != "config.node.approved" || evs[1].Metadata.Actor != "admin" {
		t.Fatalf("node events = %v", evs)
	}

	final := join()
	if !final.GetApproved() || final.GetUserJwt() == "" || final.GetNode().GetId() != id {
		t.Fatalf("join after approval: %v", final)
	}
	natsauthtest.RunLeaf(t, final.GetLeafUrls()[0], final.GetUserJwt(), key.kp)

	if _, err := e.admin.ApproveNode(t.Context(), &configv1.ApproveNodeRequest{NodeId: "node_missing"}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("ApproveNode unknown: %v, want NotFound", err)
	}
	if _, err := e.admin.ApproveNode(t.Context(), &configv1.ApproveNodeRequest{}); connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "node_id") {
		t.Fatalf("ApproveNode without id: %v, want InvalidArgument naming node_id", err)
	}
}

func TestJoinRejects(t *testing.T) {
	e := newEnv(t)
	good := e.createToken(t, &configv1.CreateJoinTokenRequest{AutoApprove: true})
	short := e.createToken(t, &configv1.CreateJoinTokenRequest{AutoApprove: true, TtlSeconds: 60})
	revoked := e.createToken(t, &configv1.CreateJoinTokenRequest{AutoApprove: true})
	if _, err := e.admin.RevokeJoinToken(t.Context(), &configv1.RevokeJoinTokenRequest{TokenId: revoked.GetJoinToken().GetId()}); err != nil {
		t.Fatal(err)
	}
	taken := newKey(t)
	if _, err := e.anon.Join(t.Context(), &configv1.JoinRequest{JoinToken: good.GetToken(), Name: "taken", PublicKey: taken.pub}); err != nil {
		t.Fatal(err)
	}
	// A node an operator registered by name (ConfigService.RegisterNode), without a key.
	if _, err := e.svc.RegisterNode(t.Context(), &configv1.RegisterNodeRequest{Name: "prereg", Cluster: clusterName}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute) // expires "short" only

	id, secret, _ := strings.Cut(good.GetToken(), ".")
	otherSecret := strings.SplitN(short.GetToken(), ".", 2)[1]
	acc, _ := nkeys.CreateAccount()
	accPub, _ := acc.PublicKey()
	fresh := newKey(t).pub
	tests := []struct {
		name       string
		req        *configv1.JoinRequest
		code       connect.Code
		wantInErr  string
		wantFields []string
	}{
		{"wrong secret", &configv1.JoinRequest{JoinToken: id + "." + otherSecret, Name: "n", PublicKey: fresh}, connect.CodeUnauthenticated, "join_token: not valid", nil},
		{"unknown token id", &configv1.JoinRequest{JoinToken: "jtok_aaaaaaaaaaaaaaaa." + secret, Name: "n", PublicKey: fresh}, connect.CodeUnauthenticated, "join_token: not valid", nil},
		{"malformed token", &configv1.JoinRequest{JoinToken: "garbage", Name: "n", PublicKey: fresh}, connect.CodeUnauthenticated, "join_token: malformed", nil},
		{"missing token", &configv1.JoinRequest{Name: "n", PublicKey: fresh}, connect.CodeUnauthenticated, "join_token: malformed", nil},
		{"expired token", &configv1.JoinRequest{JoinToken: short.GetToken(), Name: "n", PublicKey: fresh}, connect.CodeUnauthenticated, "expired at", nil},
		{"revoked token", &configv1.JoinRequest{JoinToken: revoked.GetToken(), Name: "n", PublicKey: fresh}, connect.CodeUnauthenticated, "was revoked", nil},
		{"bad name and key", &configv1.JoinRequest{JoinToken: good.GetToken(), Name: "Edge A", PublicKey: accPub}, connect.CodeInvalidArgument, "", []string{"name", "public_key"}},
		{"bad addresses", &configv1.JoinRequest{JoinToken: good.GetToken(), Name: "n", PublicKey: fresh, PublicIpv4: "2001:db8::1", PublicIpv6: "not-an-ip"}, connect.CodeInvalidArgument, "is not an IPv4 address", []string{"public_ipv4", "public_ipv6"}},
		{"unspecified address", &configv1.JoinRequest{JoinToken: good.GetToken(), Name: "n", PublicKey: fresh, PublicIpv4: "0.0.0.0"}, connect.CodeInvalidArgument, "not a unicast address", []string{"public_ipv4"}},
		{"empty name", &configv1.JoinRequest{JoinToken: good.GetToken(), PublicKey: fresh}, connect.CodeInvalidArgument, "name: is required", []string{"name"}},
		{"taken name, other key", &configv1.JoinRequest{JoinToken: good.GetToken(), Name: "taken", PublicKey: fresh}, connect.CodeAlreadyExists, "name: node \"taken\" already exists", nil},
		{"name registered without key", &configv1.JoinRequest{JoinToken: good.GetToken(), Name: "prereg", PublicKey: fresh}, connect.CodeAlreadyExists, "registered without a key", nil},
		{"taken key, other name", &configv1.JoinRequest{JoinToken: good.GetToken(), Name: "other", PublicKey: taken.pub}, connect.CodeAlreadyExists, "public_key: already belongs", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.anon.Join(t.Context(), tt.req)
			if connect.CodeOf(err) != tt.code {
				t.Fatalf("err = %v, want code %v", err, tt.code)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantInErr)
			}
			for _, f := range tt.wantFields {
				if !strings.Contains(err.Error(), f+":") {
					t.Fatalf("err = %v, want a violation of field %q", err, f)
				}
			}
		})
	}
	// Nothing was registered by the rejected calls.
	head, _ := e.store.Head(t.Context())
	all, _ := e.store.ReadAll(t.Context(), 0, int(head))
	registered := 0
	for _, ev := range all {
		if ev.Type == "config.node.registered" {
			registered++
		}
	}
	if registered != 2 {
		t.Fatalf("%d nodes registered, want 2 (taken, prereg)", registered)
	}
}

func TestJoinTokenAdministration(t *testing.T) {
	e := newEnv(t)
	if _, err := e.anon.CreateJoinToken(t.Context(), &configv1.CreateJoinTokenRequest{Cluster: clusterName}); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("CreateJoinToken without API token: %v", err)
	}
	bad := []struct {
		name string
		req  *configv1.CreateJoinTokenRequest
		code connect.Code
		want string
	}{
		{"no cluster", &configv1.CreateJoinTokenRequest{}, connect.CodeInvalidArgument, "cluster: is required"},
		{"unknown cluster", &configv1.CreateJoinTokenRequest{Cluster: "nowhere"}, connect.CodeNotFound, `cluster "nowhere" not found`},
		{"ttl over 30 days", &configv1.CreateJoinTokenRequest{Cluster: clusterName, TtlSeconds: 31 * 24 * 3600}, connect.CodeInvalidArgument, "ttl_seconds: 2678400 is more than 2592000"},
		{"control character", &configv1.CreateJoinTokenRequest{Cluster: clusterName, Description: "a\nb"}, connect.CodeInvalidArgument, "description: contains the control character"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.admin.CreateJoinToken(t.Context(), tt.req)
			if connect.CodeOf(err) != tt.code || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.code, tt.want)
			}
		})
	}

	a := e.createToken(t, &configv1.CreateJoinTokenRequest{TtlSeconds: 30 * 24 * 3600, Description: "first"})
	b := e.createToken(t, &configv1.CreateJoinTokenRequest{Cluster: clusterID, AutoApprove: true})
	if _, err := e.admin.RevokeJoinToken(t.Context(), &configv1.RevokeJoinTokenRequest{TokenId: a.GetJoinToken().GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.RevokeJoinToken(t.Context(), &configv1.RevokeJoinTokenRequest{TokenId: a.GetJoinToken().GetId()}); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	if _, err := e.admin.RevokeJoinToken(t.Context(), &configv1.RevokeJoinTokenRequest{TokenId: "jtok_nope"}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("revoke unknown: %v", err)
	}
	list, err := e.admin.ListJoinTokens(t.Context(), &configv1.ListJoinTokensRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := list.GetJoinTokens()
	if len(got) != 2 || got[0].GetId() != a.GetJoinToken().GetId() || !got[0].GetRevoked() ||
		got[1].GetId() != b.GetJoinToken().GetId() || got[1].GetRevoked() || !got[1].GetAutoApprove() || got[0].GetDescription() != "first" {
		t.Fatalf("tokens = %v", got)
	}
	evs, _ := e.store.ReadStream(t.Context(), "jointoken."+a.GetJoinToken().GetId(), 0)
	if len(evs) != 2 {
		t.Fatalf("revoking twice recorded %d events, want 2", len(evs))
	}
}

func TestRemovedNodeLosesItsCredentials(t *testing.T) {
	e := newEnv(t)
	tok := e.createToken(t, &configv1.CreateJoinTokenRequest{AutoApprove: true})
	key := newKey(t)
	resp, err := e.anon.Join(t.Context(), &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: "edge-c", PublicKey: key.pub})
	if err != nil {
		t.Fatal(err)
	}
	leaf := natsauthtest.RunLeaf(t, resp.GetLeafUrls()[0], resp.GetUserJwt(), key.kp)

	// ConfigService.RemoveNode runs here.
	id := resp.GetNode().GetId()
	if _, err := e.svc.RemoveNode(t.Context(), &configv1.RemoveNodeRequest{NodeId: id}); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if leaf.NumLeafNodes() != 0 {
			return errors.New("leaf link of the removed node is still up")
		}
		return nil
	})
	if !e.auth.IsRevoked(key.pub) {
		t.Fatal("key not revoked")
	}
	// The key cannot come back, under any name; the name is free again.
	_, err = e.anon.Join(t.Context(), &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: "edge-c", PublicKey: key.pub})
	if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "public_key: was revoked") {
		t.Fatalf("re-join with revoked key: %v", err)
	}
	again, err := e.anon.Join(t.Context(), &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: "edge-c", PublicKey: newKey(t).pub})
	if err != nil || again.GetNode().GetId() == id {
		t.Fatalf("re-join with a new key: %v %v", again, err)
	}
}

func TestDisabledNodeIsOfflineButKeepsCredentials(t *testing.T) {
	e := newEnv(t)
	tok := e.createToken(t, &configv1.CreateJoinTokenRequest{AutoApprove: true})
	key := newKey(t)
	resp, err := e.anon.Join(t.Context(), &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: "edge-d", PublicKey: key.pub})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetNode().GetId()
	leaf := natsauthtest.RunLeaf(t, resp.GetLeafUrls()[0], resp.GetUserJwt(), key.kp)
	nc := natsauthtest.NodeConn(t, leaf, id)

	set, err := e.admin.SetNodeDisabled(t.Context(), &configv1.SetNodeDisabledRequest{NodeId: id, Disabled: true})
	if err != nil || !set.GetNode().GetDisabled() {
		t.Fatalf("SetNodeDisabled: %v %v", set, err)
	}
	hb, _ := proto.Marshal(&syncv1.NodeStatus{NodeId: id, Healthy: true})
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if err := nc.Publish(natsutil.NodeStatusSubject(id), hb); err != nil {
			return err
		}
		st, ok := e.svc.Statuses()[id]
		if !ok {
			return errors.New("no status yet")
		}
		if st.Online || st.Healthy {
			return fmt.Errorf("disabled node shown online: %+v", st)
		}
		return nil
	})
	if leaf.NumLeafNodes() != 1 {
		t.Fatal("disabling a node closed its link")
	}
	again, err := e.anon.Join(t.Context(), &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: "edge-d", PublicKey: key.pub})
	if err != nil || again.GetUserJwt() == "" || !again.GetNode().GetDisabled() {
		t.Fatalf("re-join of disabled node: %v %v", again, err)
	}
	back, err := e.admin.SetNodeDisabled(t.Context(), &configv1.SetNodeDisabledRequest{NodeId: id, Disabled: false})
	if err != nil || back.GetNode().GetDisabled() {
		t.Fatalf("re-enable: %v %v", back, err)
	}
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if err := nc.Publish(natsutil.NodeStatusSubject(id), hb); err != nil {
			return err
		}
		if st := e.svc.Statuses()[id]; !st.Online {
			return fmt.Errorf("re-enabled node offline: %+v", st)
		}
		return nil
	})
}

func TestHeartbeatsOfUnknownOrMismatchedNodesAreDropped(t *testing.T) {
	e := newEnv(t)
	tok := e.createToken(t, &configv1.CreateJoinTokenRequest{AutoApprove: true})
	join := func(name string, key nodeKey) *configv1.JoinResponse {
		resp, err := e.anon.Join(t.Context(), &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: name, PublicKey: key.pub})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	attackerKey := newKey(t)
	attacker := join("edge-attacker", attackerKey)
	id := join("edge-e", newKey(t)).GetNode().GetId()
	marker := join("edge-marker", newKey(t)).GetNode().GetId()
	nc := e.hub.ControlConn(t)
	send := func(subj string, st proto.Message) {
		t.Helper()
		data := []byte("not protobuf \xff\xff")
		if st != nil {
			data, _ = proto.Marshal(st)
		}
		if err := nc.Publish(subj, data); err != nil {
			t.Fatal(err)
		}
	}
	waitVersion := func(node string, v uint64) {
		t.Helper()
		natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
			if got := e.svc.Statuses()[node].Status.GetVersion(); got != v {
				return fmt.Errorf("node %s version %d, want %d", node, got, v)
			}
			return nil
		})
	}
	send(natsutil.NodeStatusSubject(id), &syncv1.NodeStatus{NodeId: id, Version: 3, Healthy: true})
	waitVersion(id, 3)

	send(natsutil.NodeStatusSubject(id), &syncv1.NodeStatus{NodeId: "node_other", Version: 10})
	send(natsutil.NodeStatusSubject(id), &syncv1.NodeStatus{Version: 11})
	send(natsutil.NodeStatusSubject(id), nil)
	send(natsutil.NodeStatusSubject("node_unknown"), &syncv1.NodeStatus{NodeId: "node_unknown", Version: 13})

	// A node may point a push consumer of its own partition's deltas at
	// another node's status subject. Worst case: a delta whose bytes read as
	// that node's heartbeat.
	if _, err := e.hubJS.CreateStream(t.Context(), jetstream.StreamConfig{Name: natsutil.SyncStream, Subjects: []string{natsutil.SyncSubjects}}); err != nil {
		t.Fatal(err)
	}
	forged, _ := proto.Marshal(&syncv1.NodeStatus{NodeId: id, Version: 12, Healthy: true})
	if _, err := e.hubJS.Publish(t.Context(), natsutil.DeltaSubject(partitionID, false), forged); err != nil {
		t.Fatal(err)
	}
	// The barrier shares the service's connection: once it has the
	// redirected message, the service's subscription has it queued too.
	barrier, err := e.control.SubscribeSync(natsutil.NodeStatusSubject(id))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.control.Flush(); err != nil {
		t.Fatal(err)
	}
	leaf := natsauthtest.RunLeaf(t, attacker.GetLeafUrls()[0], attacker.GetUserJwt(), attackerKey.kp)
	anc := natsauthtest.NodeConn(t, leaf, attacker.GetNode().GetId())
	filter := natsutil.DeltaSubject(partitionID, false)
	req := fmt.Sprintf(`{"stream_name":%q,"config":{"name":"redirect","deliver_subject":%q,"filter_subject":%q,"deliver_policy":"all","ack_policy":"none"}}`,
		natsutil.SyncStream, natsutil.NodeStatusSubject(id), filter)
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		_, err := anc.Request("$JS.hub.API.CONSUMER.CREATE."+natsutil.SyncStream+".redirect."+filter, []byte(req), time.Second)
		return err
	})
	if _, err := barrier.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("redirected delivery: %v", err)
	}

	// One subscription handles messages in order: once the marker is in,
	// every message before it was handled.
	send(natsutil.NodeStatusSubject(marker), &syncv1.NodeStatus{NodeId: marker, Version: 1})
	waitVersion(marker, 1)

	if got := e.svc.Statuses()[id].Status.GetVersion(); got != 3 {
		t.Fatalf("status of %s took version %d from a dropped heartbeat", id, got)
	}
	if _, ok := e.svc.Statuses()["node_unknown"]; ok {
		t.Fatal("status of an unknown node recorded")
	}
}

func TestRestartRebuildsFromTheLog(t *testing.T) {
	e := newEnv(t)
	tok := e.createToken(t, &configv1.CreateJoinTokenRequest{})
	key := newKey(t)
	first, err := e.anon.Join(t.Context(), &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: "edge-f", PublicKey: key.pub})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	svc, err := nodes.New(nodes.Options{Store: e.store, Authority: e.auth, Hub: e.hub.Server, Now: e.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(context.Background())
	again, err := svc.Join(t.Context(), &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: "edge-f", PublicKey: key.pub})
	if err != nil {
		t.Fatalf("Join after restart: %v", err)
	}
	if again.GetNode().GetId() != first.GetNode().GetId() || again.GetApproved() {
		t.Fatalf("after restart: %v, want the same waiting node", again)
	}
	list, _ := svc.ListJoinTokens(t.Context(), &configv1.ListJoinTokensRequest{})
	if len(list.GetJoinTokens()) != 1 {
		t.Fatalf("tokens after restart: %v", list.GetJoinTokens())
	}
}

func TestConcurrentJoinsWithOneNameRegisterOneNode(t *testing.T) {
	e := newEnv(t)
	tok := e.createToken(t, &configv1.CreateJoinTokenRequest{AutoApprove: true})
	const callers = 20
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			// In-process calls: no HTTP connection setup spreads them out.
			_, err := e.svc.Join(t.Context(), &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: "same", PublicKey: newKey(t).pub})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok, exists := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case connect.CodeOf(err) == connect.CodeAlreadyExists:
			exists++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 || exists != callers-1 {
		t.Fatalf("%d joins succeeded and %d were refused, want 1 and %d", ok, exists, callers-1)
	}
}

func TestResolveJoinTokenForAuthorization(t *testing.T) {
	e := newEnv(t)
	tok := e.createToken(t, &configv1.CreateJoinTokenRequest{})
	id := tok.GetJoinToken().GetId()
	got, err := e.svc.ResolveObject(t.Context(), authz.KindJoinToken, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != id || len(got.Parents) != 1 || got.Parents[0] != (authz.Object{Kind: authz.KindCluster, ID: clusterID}) {
		t.Fatalf("resolved = %+v", got)
	}
	if _, err := e.svc.ResolveObject(t.Context(), authz.KindJoinToken, "jtok_missing"); !errors.Is(err, authz.ErrUnknownObject) {
		t.Fatalf("unknown token: %v", err)
	}
}

// BenchmarkRejoin measures an approved node's repeated Join, in-process: the
// read model catch-up (one log head request), the token check and a fresh
// user JWT.
func BenchmarkRejoin(b *testing.B) {
	e := newEnv(b)
	tok := e.createToken(b, &configv1.CreateJoinTokenRequest{AutoApprove: true})
	req := &configv1.JoinRequest{JoinToken: tok.GetToken(), Name: "edge-bench", PublicKey: newKey(b).pub}
	if _, err := e.svc.Join(b.Context(), req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.svc.Join(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}
