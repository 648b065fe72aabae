package forward_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

func proxyClient(port uint32, user *url.Userinfo, tlsConf *tls.Config) *http.Client {
	pu := &url.URL{Scheme: "http", Host: hostPort(port), User: user}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyURL(pu), TLSClientConfig: tlsConf, DisableKeepAlives: true,
	}}
}

func body(t *testing.T, resp *http.Response, err error) (int, string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHTTPProxyAbsoluteForm(t *testing.T) {
	web := httpServer(t)
	port := freePort(t)
	f := start(t, snapshot(1, proxyApp("fp", nil, []uint32{port}, allowPrivate)))
	target := "http://" + web.String() + "/abs"
	c := proxyClient(port, url.UserPassword(testUser, testPass), nil)
	req, _ := http.NewRequest("GET", target, nil)
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "must not reach the origin")
	resp, err := c.Do(req)
	if err == nil && resp.Header.Get("X-Resp-Hop") != "" {
		t.Error("hop-by-hop response header X-Resp-Hop reached the client")
	}
	if code, b := body(t, resp, err); code != 200 || b != "hello /abs" {
		t.Fatalf("GET through the proxy: %d %q", code, b)
	}
	// By name: localhost is resolved on the node.
	resp, err = c.Get("http://localhost:" + strconv.Itoa(web.Port) + "/name")
	if code, b := body(t, resp, err); code != 200 || b != "hello /name" {
		t.Fatalf("GET localhost through the proxy: %d %q", code, b)
	}
	// POST bodies go through and are counted.
	resp, err = c.Post(target, "text/plain", strings.NewReader(strings.Repeat("b", 5000)))
	if code, _ := body(t, resp, err); code != 200 {
		t.Fatalf("POST: %d", code)
	}

	for _, tc := range []struct {
		name string
		user *url.Userinfo
	}{{"no credentials", nil}, {"wrong password", url.UserPassword(testUser, "nope")}} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := proxyClient(port, tc.user, nil).Get(target)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusProxyAuthRequired || !strings.HasPrefix(resp.Header.Get("Proxy-Authenticate"), "Basic ") {
				t.Fatalf("%d, Proxy-Authenticate %q; want 407 with a Basic challenge", resp.StatusCode, resp.Header.Get("Proxy-Authenticate"))
			}
		})
	}
	t.Run("origin-form is refused", func(t *testing.T) {
		resp, err := http.Get("http://" + hostPort(port) + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusProxyAuthRequired && resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	waitFor(t, "requests counted", func() bool { return f.Stats()["fp"].Open == 0 })
	st := f.Stats()["fp"]
	if st.Connections["ok"] != 3 || st.Connections["auth_failed"] < 2 || st.BytesIn < 5000 || st.BytesOut == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHTTPProxyConnect(t *testing.T) {
	web := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tls %s", r.URL.Path)
	}))
	defer web.Close()
	port := freePort(t)
	start(t, snapshot(1, proxyApp("fp", nil, []uint32{port}, allowPrivate)))
	tlsConf := web.Client().Transport.(*http.Transport).TLSClientConfig
	c := proxyClient(port, url.UserPassword(testUser, testPass), tlsConf)
	resp, err := c.Get(web.URL + "/tunnel")
	if code, b := body(t, resp, err); code != 200 || b != "tls /tunnel" {
		t.Fatalf("GET over CONNECT: %d %q", code, b)
	}
	if _, err := proxyClient(port, url.UserPassword(testUser, "bad"), tlsConf).Get(web.URL); err == nil {
		t.Fatal("CONNECT with a wrong password succeeded")
	}
}

// connect sends a raw CONNECT and returns the response.
func connect(t *testing.T, port uint32, dest, user, pass string) *http.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", hostPort(port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: Basic %s\r\n\r\n", dest, dest, auth)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestHTTPProxyEgressRefused(t *testing.T) {
	web := httpServer(t)
	port := freePort(t)
	f := start(t, snapshot(1, proxyApp("fp", nil, []uint32{port}, nil)))
	resp := connect(t, port, web.String(), testUser, testPass)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("X-Strata-Refused"), "allow_private") {
		t.Fatalf("CONNECT to loopback: %d, reason %q; want 403 naming allow_private", resp.StatusCode, resp.Header.Get("X-Strata-Refused"))
	}
	resp, err := proxyClient(port, url.UserPassword(testUser, testPass), nil).Get("http://localhost:" + strconv.Itoa(web.Port) + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Strata-Refused") == "" {
		t.Fatalf("GET loopback by name: %d, reason %q; want 403", resp.StatusCode, resp.Header.Get("X-Strata-Refused"))
	}
	if resp := connect(t, port, "no-port", testUser, testPass); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("CONNECT without a port: %d", resp.StatusCode)
	}
	waitFor(t, "requests counted", func() bool { return f.Stats()["fp"].Open == 0 })
	if n := f.Stats()["fp"].Connections["egress_refused"]; n != 2 {
		t.Fatalf("egress_refused = %d, want 2", n)
	}
}

func TestHTTPProxyCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	web := httpServer(t)
	tlsWeb := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tls ok") }))
	defer tlsWeb.Close()
	port := freePort(t)
	start(t, snapshot(1, proxyApp("fp", nil, []uint32{port}, allowPrivate)))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	px := "http://" + testUser + ":" + testPass + "@" + hostPort(port)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-x", px, "http://localhost:" + strconv.Itoa(web.Port) + "/curl"}, "hello /curl"},
		{[]string{"-x", px, "--proxytunnel", "http://" + web.String() + "/tunnel"}, "hello /tunnel"},
		{[]string{"-x", px, "-k", tlsWeb.URL}, "tls ok"},
	} {
		out, err := exec.CommandContext(ctx, curl, append([]string{"-sS", "--max-time", "10"}, tc.args...)...).CombinedOutput()
		if err != nil || string(out) != tc.want {
			t.Fatalf("curl %v: %v: %s", tc.args, err, out)
		}
	}
	out, _ := exec.CommandContext(ctx, curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-x", "http://"+hostPort(port),
		"http://"+web.String()+"/").CombinedOutput()
	if string(out) != "407" {
		t.Fatalf("curl without credentials: %s, want 407", out)
	}
}

func TestAccessControlDeniesClient(t *testing.T) {
	echo := echoServer(t)
	port := freePort(t)
	a := proxyApp("fp", []uint32{port}, nil, allowPrivate)
	a.GetForwardProxy().Access = &configv1.AccessControl{DenyCidrs: []string{"127.0.0.0/8"}}
	f := start(t, snapshot(1, a))
	if c, err := socksDialer(t, port, &proxy.Auth{User: testUser, Password: testPass}).Dial("tcp", echo.String()); err == nil {
		c.Close()
		t.Fatal("a client in access.deny_cidrs got through")
	}
	waitFor(t, "refusal counted", func() bool { return f.Stats()["fp"].Connections["client_denied"] == 1 })
}

// A keep-alive client connection keeps the config it was accepted with.
func TestHTTPProxyKeepAliveKeepsConfig(t *testing.T) {
	web := httpServer(t)
	port := freePort(t)
	f := start(t, snapshot(1, proxyApp("fp", nil, []uint32{port}, allowPrivate)))
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: hostPort(port), User: url.UserPassword(testUser, testPass)}),
	}}
	defer c.CloseIdleConnections()
	target := "http://" + web.String() + "/ka"
	resp, err := c.Get(target)
	if code, _ := body(t, resp, err); code != 200 {
		t.Fatalf("before: %d", code)
	}
	// Same port, loopback no longer allowed: the open connection runs on.
	apply(t, f, snapshot(2, proxyApp("fp", nil, []uint32{port}, nil)))
	resp, err = c.Get(target)
	if code, _ := body(t, resp, err); code != 200 {
		t.Fatalf("on the kept connection: %d", code)
	}
	resp, err = proxyClient(port, url.UserPassword(testUser, testPass), nil).Get(target)
	if code, _ := body(t, resp, err); code != http.StatusForbidden {
		t.Fatalf("a new connection: %d, want 403 under the new config", code)
	}
}
