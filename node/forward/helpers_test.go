package forward_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/node/forward"
	"github.com/strata-edge/strata/pkg/passhash"

	"github.com/strata-edge/strata/node/internal/nettest"
)

// cheap are argon2id parameters that keep tests fast; the node verifies
// whatever parameters a hash names.
var cheap = passhash.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32}

const (
	testUser = "alice"
	testPass = "s3cret-pass"
)

// freePort returns a loopback TCP port nothing listens on now.
func freePort(t testing.TB) uint32 {
	t.Helper()
	ln := nettest.Listen(t)
	defer ln.Close()
	return uint32(ln.Addr().(*net.TCPAddr).Port)
}

// proxyApp is a forward-proxy app with one credential alice.
func proxyApp(id string, socks, httpPorts []uint32, egress *configv1.EgressPolicy) *configv1.App {
	return &configv1.App{Id: id, Name: id, Role: &configv1.App_ForwardProxy{ForwardProxy: &configv1.ForwardProxyApp{
		Socks5Ports: socks, HttpPorts: httpPorts,
		Credentials: []*configv1.ProxyCredential{{Username: testUser, PasswordHash: passhash.Hash(testPass, cheap)}},
		Egress:      egress,
	}}}
}

var allowPrivate = &configv1.EgressPolicy{AllowPrivate: true}

func snapshot(version uint64, apps ...*configv1.App) *syncv1.Snapshot {
	return &syncv1.Snapshot{Version: version, Apps: apps}
}

// start returns a Forwarder on loopback running snap.
func start(t testing.TB, snap *syncv1.Snapshot) *forward.Forwarder {
	t.Helper()
	f, err := forward.New(forward.Options{Host: "127.0.0.1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = f.Stop(ctx)
	})
	apply(t, f, snap)
	return f
}

func apply(t testing.TB, f *forward.Forwarder, snap *syncv1.Snapshot) {
	t.Helper()
	commit, _, err := f.Prepare(snap)
	if err != nil {
		t.Fatal(err)
	}
	commit()
}

// echoServer is a TCP echo server on loopback.
func echoServer(t testing.TB) *net.TCPAddr {
	t.Helper()
	ln := nettest.Listen(t)
	nettest.Serve(t, ln, func(c net.Conn) { _, _ = io.Copy(c, c) })
	return ln.Addr().(*net.TCPAddr)
}

func httpServer(t testing.TB) *net.TCPAddr {
	t.Helper()
	ln := nettest.Listen(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range []string{"Proxy-Authorization", "Proxy-Connection", "X-Hop"} {
			if r.Header.Get(h) != "" {
				http.Error(w, "hop-by-hop header "+h+" leaked", http.StatusInternalServerError)
				return
			}
		}
		w.Header().Set("Connection", "X-Resp-Hop")
		w.Header().Set("X-Resp-Hop", "leak")
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr)
}

func roundTrip(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != msg {
		t.Fatalf("echo: got %q, want %q", buf, msg)
	}
}

// rawSOCKS is a SOCKS5 client that shows reply codes.
type rawSOCKS struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawSOCKS {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawSOCKS{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawSOCKS) read(n int) []byte {
	r.t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r.br, b); err != nil {
		r.t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

// login greets offering username/password and authenticates; it returns
// the auth status (0 success).
func (r *rawSOCKS) login(user, pass string) byte {
	r.t.Helper()
	_, _ = r.c.Write([]byte{5, 1, 2})
	if got := r.read(2); got[0] != 5 || got[1] != 2 {
		r.t.Fatalf("method selection: %v", got)
	}
	msg := append([]byte{1, byte(len(user))}, user...)
	msg = append(append(msg, byte(len(pass))), pass...)
	_, _ = r.c.Write(msg)
	return r.read(2)[1]
}

// request sends a request with a raw address (atyp + bytes) and returns
// the reply code and the bound address.
func (r *rawSOCKS) request(cmd, atyp byte, addr []byte, port uint16) (byte, net.IP, uint16) {
	r.t.Helper()
	msg := append([]byte{5, cmd, 0, atyp}, addr...)
	msg = binary.BigEndian.AppendUint16(msg, port)
	_, _ = r.c.Write(msg)
	h := r.read(4)
	var ip net.IP
	switch h[3] {
	case 1:
		ip = net.IP(r.read(4))
	case 4:
		ip = net.IP(r.read(16))
	default:
		r.t.Fatalf("reply address type %d", h[3])
	}
	return h[1], ip, binary.BigEndian.Uint16(r.read(2))
}

func hostPort(port uint32) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))) }

// waitFor polls cond (bounded: 5 s) and fails with what when it stays false.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
