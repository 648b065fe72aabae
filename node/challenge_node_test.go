package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/node/challenge"
	"github.com/strata-edge/strata/node/store"
	"github.com/strata-edge/strata/node/syncagent"
	"github.com/strata-edge/strata/pkg/keywrap"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// challengeKey is a key as the control plane syncs it: a random secret
// sealed for the partition's nodes.
func challengeKey(t *testing.T, control, nodeKEK *keywrap.Keyring, id string, notBefore time.Time) *wafv1.ChallengeKey {
	t.Helper()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	env, err := control.Seal(id, 1, secret)
	if err == nil {
		env, err = control.Rewrap(env, id, 1, nodeKEK)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &wafv1.ChallengeKey{Id: id, NotBefore: timestamppb.New(notBefore), NotAfter: timestamppb.New(notBefore.Add(48 * time.Hour)),
		Key: &certv1.WrappedKey{KekId: env.KEKID, WrappedDataKey: env.WrappedDataKey, Ciphertext: env.Ciphertext, KeyVersion: 1}}
}

// publishKeys releases app a with exactly keys (the others deleted).
func publishKeys(t *testing.T, p *publisher, a *configv1.App, keys []*wafv1.ChallengeKey, deleted ...string) uint64 {
	t.Helper()
	objs := []store.Object{a}
	for _, k := range keys {
		objs = append(objs, k)
	}
	d := &syncv1.Delta{PartitionId: partition, FromVersion: p.version, ToVersion: p.version + 3, Schema: natsutil.SyncSchema, Upserts: store.Upserts(objs...)}
	for _, id := range deleted {
		d.Deletes = append(d.Deletes, &syncv1.ResourceRef{Kind: "challenge_key", Id: id})
	}
	p.version = d.ToVersion
	snap := &syncv1.Snapshot{PartitionId: partition, Version: p.version, Apps: []*configv1.App{a}, ChallengeKeys: keys}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	data, _ := proto.Marshal(d)
	if _, err := p.js.Publish(ctx, natsutil.DeltaSubject(partition, false), data, jetstream.WithMsgID(fmt.Sprintf("%s.stable.%d", partition, d.ToVersion))); err != nil {
		t.Fatal(err)
	}
	data, _ = proto.Marshal(store.BundleOf(snap))
	if _, err := p.obs.Put(ctx, jetstream.ObjectMeta{Name: natsutil.SnapshotKey(false),
		Metadata: map[string]string{syncagent.SnapshotVersionMeta: strconv.FormatUint(p.version, 10)}}, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return p.version
}

var challengePage = regexp.MustCompile(`<script type="application/json" id="strata-challenge">(.*?)</script>`)

// fetchApp sends GET uri to the node's listener base with Host
// app.example.com and cookie (may be "").
func fetchApp(t *testing.T, base, uri, cookie string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+uri, nil)
	req.Host = "app.example.com"
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// clearChallenge solves the challenge of uri as a browser-less client written in Go
// and returns the clearance cookie.
func clearChallenge(t *testing.T, base, uri string) string {
	t.Helper()
	resp, body := fetchApp(t, base, uri, "")
	m := challengePage.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusForbidden || m == nil {
		t.Fatalf("GET %s: %d, want the challenge page: %s", uri, resp.StatusCode, body)
	}
	var pg struct{ Token, Verify, Return string }
	var diff struct{ Difficulty uint32 }
	_ = json.Unmarshal([]byte(m[1]), &pg)
	_ = json.Unmarshal([]byte(m[1]), &diff)
	n := challenge.Solve(pg.Token, diff.Difficulty)
	resp, body = fetchApp(t, base, pg.Verify+"?"+url.Values{"t": {pg.Token}, "n": {n}, "r": {pg.Return}}.Encode(), "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("verify: %d %s", resp.StatusCode, body)
	}
	cookie, _, _ := strings.Cut(resp.Header.Get("Set-Cookie"), ";")
	return cookie
}

// A client cleared on one node of a partition is cleared on the others
// (the keys are synced), and a key rotation keeps its cookie valid until
// the key it was signed with leaves the set.
func TestChallengeAcrossNodesAndRotation(t *testing.T) {
	hub, leafURL := runHub(t)
	line, _ := keywrap.NewKeyLine()
	control, _ := keywrap.Parse(line)
	nodeKEK, err := control.Derive("partition/" + partition)
	if err != nil {
		t.Fatal(err)
	}
	p := newPublisher(t, natstest.Connect(t, hub))
	a := app(upstream(t, "A"))
	a.Rules = []*configv1.Rule{{Name: "gate", When: "PathPrefix(`/`)", Actions: []*configv1.Action{{Action: &configv1.Action_Challenge{
		Challenge: &configv1.ChallengeAction{Difficulty: 12, ClearanceSeconds: 3600}}}}}}
	now := time.Now()
	k1 := challengeKey(t, control, nodeKEK, "ck_1", now.Add(-time.Hour))
	v := publishKeys(t, p, a, []*wafv1.ChallengeKey{k1})

	n1 := startNode(t, node.Options{DataDir: t.TempDir(), HubLeafURLs: []string{leafURL}, KEK: nodeKEK, HTTPSAddr: "127.0.0.1:0"})
	o := node.Options{DataDir: t.TempDir(), HubLeafURLs: []string{leafURL}, KEK: nodeKEK, NodeID: "n2", ClusterID: "c1", PartitionID: partition,
		HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0", Logger: logger()}
	n2, err := node.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopNode(t, n2) })
	for _, n := range []*node.Node{n1, n2} {
		natstest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
			if got := n.Version(); got != v {
				return fmt.Errorf("version %d, want %d", got, v)
			}
			return nil
		})
	}
	base1, base2 := "https://"+n1.ProxyHTTPSAddr(), "http://"+n2.ProxyHTTPAddr()
	cookie := clearChallenge(t, base1, "/page")
	if !strings.Contains(cookie, ".ck_1.") {
		t.Fatalf("cookie %q not signed with the synced key", cookie)
	}
	if resp, body := fetchApp(t, base2, "/page", cookie); resp.StatusCode != 200 || body != "A" {
		t.Fatalf("the cookie of node 1 on node 2: %d %q", resp.StatusCode, body)
	}
	if resp, _ := fetchApp(t, base2, "/page", strings.Replace(cookie, ".ck_1.", ".ck_9.", 1)); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a cookie naming an unknown key: %d", resp.StatusCode)
	}

	// Rotation: ck_2 signs, ck_1 is the previous key.
	k2 := challengeKey(t, control, nodeKEK, "ck_2", time.Now())
	v = publishKeys(t, p, a, []*wafv1.ChallengeKey{k2, k1})
	natstest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if n1.Version() != v || n2.Version() != v {
			return fmt.Errorf("versions %d %d, want %d", n1.Version(), n2.Version(), v)
		}
		return nil
	})
	if resp, body := fetchApp(t, base2, "/page", cookie); resp.StatusCode != 200 || body != "A" {
		t.Fatalf("the cookie issued before the rotation: %d %q", resp.StatusCode, body)
	}
	fresh := clearChallenge(t, base2, "/other")
	if !strings.Contains(fresh, ".ck_2.") {
		t.Fatalf("cookie %q after the rotation not signed with the new key", fresh)
	}
	if resp, _ := fetchApp(t, base1, "/other", fresh); resp.StatusCode != 200 {
		t.Fatalf("new cookie on node 1: %d", resp.StatusCode)
	}
	// The next rotation drops ck_1: its cookie ends, ck_2's stays.
	k3 := challengeKey(t, control, nodeKEK, "ck_3", time.Now())
	v = publishKeys(t, p, a, []*wafv1.ChallengeKey{k3, k2}, "ck_1")
	natstest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if n1.Version() != v {
			return fmt.Errorf("version %d, want %d", n1.Version(), v)
		}
		return nil
	})
	if resp, _ := fetchApp(t, base1, "/page", cookie); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a cookie of a key no longer synced: %d", resp.StatusCode)
	}
	if resp, _ := fetchApp(t, base1, "/page", fresh); resp.StatusCode != 200 {
		t.Fatalf("a cookie of the previous key: %d", resp.StatusCode)
	}
}

// App limits through a node: 413 and 431, and a TLS handshake flood from
// one client IP is throttled while another client still connects.
func TestAppLimitsThroughNode(t *testing.T) {
	hub, leafURL := runHub(t)
	p := newPublisher(t, natstest.Connect(t, hub))
	a := app(upstream(t, "A"))
	a.Limits = &configv1.AppLimits{MaxRequestBodyBytes: 100, MaxRequestHeaderBytes: 1024, TlsHandshakesPerSecond: 2, TlsHandshakeBurst: 3}
	v := p.release(a)
	n := startNode(t, node.Options{DataDir: t.TempDir(), HubLeafURLs: []string{leafURL}, HTTPSAddr: "127.0.0.1:0"})
	natstest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if n.Version() != v {
			return fmt.Errorf("version %d, want %d", n.Version(), v)
		}
		return nil
	})
	send := func(body string, hdr int) int {
		req, _ := http.NewRequest("POST", "http://"+n.ProxyHTTPAddr()+"/", strings.NewReader(body))
		req.Host = "app.example.com"
		req.Header.Set("X-Pad", strings.Repeat("p", hdr))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := send(strings.Repeat("b", 100), 10); st != 200 {
		t.Fatalf("within the limits: %d", st)
	}
	if st := send(strings.Repeat("b", 101), 10); st != http.StatusRequestEntityTooLarge {
		t.Fatalf("body over the limit: %d, want 413", st)
	}
	if st := send("", 1100); st != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("headers over the limit: %d, want 431", st)
	}
	dial := func(local string) error {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", n.ProxyHTTPSAddr(), &tls.Config{ServerName: "app.example.com", InsecureSkipVerify: true}) //nolint:gosec // self-signed
		if err == nil {
			c.Close()
		}
		return err
	}
	ok, start := 0, time.Now()
	for range 30 {
		if dial("127.0.0.2") == nil {
			ok++
		}
	}
	if most := 3 + int(time.Since(start).Seconds()*2) + 1; ok < 3 || ok > most {
		t.Fatalf("%d of 30 handshakes from 127.0.0.2 succeeded, want 3..%d", ok, most)
	}
	if err := dial("127.0.0.3"); err != nil {
		t.Fatalf("127.0.0.3 during the flood from 127.0.0.2: %v", err)
	}
}
