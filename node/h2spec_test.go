package node_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/summerwind/h2spec/config"
	"github.com/summerwind/h2spec/generic"
	h2spechpack "github.com/summerwind/h2spec/hpack"
	h2spechttp2 "github.com/summerwind/h2spec/http2"
	"github.com/summerwind/h2spec/spec"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// h2specCases is the number of cases h2spec 2.2.1 runs (without --strict).
const h2specCases = 145

// Issue 11.10: h2spec 2.2.1, the HTTP/2 conformance suite (as a library),
// passes all its cases against a node's HTTPS listener. h2spec dials the
// host it sends as :authority, and an app cannot claim an IP address, so
// the app's domain resolves through the node's own DNS server: a released
// zone points h2spec.example.com at 127.0.0.1, and the test's resolver asks
// the node.
func TestH2Spec(t *testing.T) {
	hub, leafURL := runHub(t)
	p := newPublisher(t, natstest.Connect(t, hub))
	const host = "h2spec.example.com"
	a := app(upstream(t, strings.Repeat("h2spec ", 10))) // cases need a body (spec.ServerDataLength)
	a.Domains = []string{host}
	p.release(a)
	n := startNode(t, node.Options{DataDir: t.TempDir(), HubLeafURLs: []string{leafURL}, DNSAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0"})
	p.releaseZone(&dnsv1.Zone{Id: "z1", Name: "example.com.", Nameservers: []string{"ns1.example.com."}, Records: []*dnsv1.Record{
		{Id: "r1", Name: "h2spec", Type: dnsv1.RecordType_RECORD_TYPE_A, Data: "127.0.0.1"},
	}})

	old := net.DefaultResolver
	net.DefaultResolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, n.DNSAddr())
	}}
	t.Cleanup(func() { net.DefaultResolver = old })
	_, port, _ := net.SplitHostPort(n.ProxyHTTPSAddr())
	url := "https://" + net.JoinHostPort(host, port) + "/"
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the node's self-signed certificate
		ForceAttemptHTTP2: true, DisableKeepAlives: true,
	}}
	natstest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			return fmt.Errorf("GET %s: %s over %s", url, resp.Status, resp.Proto)
		}
		return nil
	})

	portN, _ := strconv.Atoi(port)
	conf := &config.Config{Host: host, Port: portN, Path: "/", Timeout: 2 * time.Second, MaxHeaderLen: 4000, TLS: true, Insecure: true}
	// h2spec exits the process when it cannot connect: check it can first.
	probe, err := spec.Dial(conf)
	if err != nil {
		t.Fatalf("h2spec cannot connect: %v", err)
	}
	_ = probe.Close()

	// h2spec prints its report on standard output: keep it for a failure.
	out, err := os.CreateTemp(t.TempDir(), "h2spec")
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = out
	groups := []*spec.TestGroup{generic.Spec(), h2spechttp2.Spec(), h2spechpack.Spec()}
	for _, g := range groups {
		g.Test(conf)
	}
	os.Stdout = stdout

	passed, failed := 0, []string{}
	var walk func(g *spec.TestGroup)
	walk = func(g *spec.TestGroup) {
		for i, tc := range g.Tests {
			switch r := tc.Result; {
			case r == nil:
			case r.Failed || r.Skipped:
				failed = append(failed, fmt.Sprintf("%s/%d %s: %v", g.ID(), i+1, tc.Desc, r.Error))
			default:
				passed++
			}
		}
		for _, sub := range g.Groups {
			walk(sub)
		}
	}
	for _, g := range groups {
		walk(g)
	}
	t.Logf("h2spec: %d of %d cases passed", passed, h2specCases)
	if passed != h2specCases || len(failed) > 0 {
		_, _ = out.Seek(0, io.SeekStart)
		report, _ := io.ReadAll(out)
		t.Logf("h2spec output:\n%s", report)
		t.Fatalf("h2spec: %d passed, want %d; failed or skipped:\n%s", passed, h2specCases, strings.Join(failed, "\n"))
	}
}
