package infra_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-edge/strata/e2e/e2etest"
	"github.com/strata-edge/strata/internal/testbuf"
	"github.com/strata-edge/strata/pkg/natsutil"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	"github.com/strata-edge/strata/pkg/testenv"
)

// TestComposeTopology runs docker-compose.yml's topology without a
// container engine: every service's command, translated (container paths
// to directories of a temp dir, host names and ports to 127.0.0.1 and free
// ports), as a process: 3 clustered nats-servers, the control services as
// separate strata control processes (config and cert twice), the init
// steps, 4 strata nodes. PostgreSQL is the machine's ($STRATA_TEST_POSTGRES,
// in a schema of this run's, dropped at the end): the test writes the URL
// file the postgres-secret init step writes. nginx (the API gateway) is a Go
// proxy with the same routes; Pebble does not run (ACME is off); the origin
// is the test's.
// A release reaches all 4 nodes, and another one does after one NATS server
// and one config replica are stopped.
func TestComposeTopology(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs 14 processes")
	}
	pg := testPostgres(t)
	dir, err := e2etest.Build("compose")
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err != nil {
		t.Fatal(err)
	}
	// The nats-server go.mod requires (the embedded hub's version): the
	// JetStream event store needs 2.12+ (atomic batch publish), newer than
	// distributions ship (Debian 12: 2.9).
	natsServer := filepath.Join(dir, "nats-server")
	if out, err := exec.Command("go", "build", "-o", natsServer, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, out)
	}
	tp := &topology{t: t, p: loadCompose(t), tmp: t.TempDir(), natsServer: natsServer, pg: pg,
		ports: map[string]int{}, procs: map[string]*proc{}}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("STRATA_COMPOSE_LOGS") != "" {
			for name, p := range tp.procs {
				t.Logf("--- %s:\n%s", name, p.out)
			}
		}
	})
	tp.up()

	blue, green := origin(t, "blue"), origin(t, "green")
	c := e2etest.CLI{T: t, Env: []string{"STRATA_API=" + tp.gatewayURL(), "STRATA_TOKEN_FILE=" + filepath.Join(tp.volume("strata-data"), "admin.token")}}
	const host = "shop.example.com"
	app := c.OK("app", "create", "--name", "shop", "--domain", host)
	c.OK("upstream", "create", "--app", app, "--name", "web", "--server", strings.TrimPrefix(blue.URL, "http://"))
	c.OK("rule", "create", "--app", app, "--upstream", "web")
	c.OK("release", "create", "--app", app, "--note", "blue")
	edges := tp.edges()
	if len(edges) != 4 {
		t.Fatalf("%d edge nodes run, want 4", len(edges))
	}
	e2etest.WaitServed(t, 30*time.Second, edges, host, "blue")
	for _, e := range edges { // healthy once they run a release
		tp.waitHealthy(tp.procs[e.Name])
	}

	tp.checkReplicas(3)
	tp.checkEventStore()
	tp.checkMetricsStore(len(edges))

	// One NATS server and one config replica down: the R3 stream keeps its
	// quorum, nodes and control services reconnect, the gateway uses the
	// other config replica.
	tp.procs["nats-2"].stop(t)
	tp.procs["config-1"].stop(t)
	c.OK("upstream", "update", "--app", app, "--name", "web", "--server", strings.TrimPrefix(green.URL, "http://"))
	c.OK("release", "create", "--app", app, "--note", "green")
	e2etest.WaitServed(t, 30*time.Second, edges, host, "green")

	// A second "docker compose up" runs the init services again: they must
	// succeed on the state they made (the clusters exist).
	for name, s := range tp.p.Services {
		if s.Restart == "no" {
			tp.run(name)
		}
	}
}

// checkReplicas requires every stream (event log, sync deltas, snapshot and
// key-value buckets) to have n replicas: an R1 one stops with its server.
func (tp *topology) checkReplicas(n int) {
	t := tp.t
	nc, err := nats.Connect("nats://127.0.0.1:"+strconv.Itoa(tp.port("nats-1", 4222)),
		nats.UserCredentials(filepath.Join(tp.volume("strata-data"), "control.creds")))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var names []string
	for info := range js.ListStreams(ctx).Info() {
		names = append(names, info.Config.Name)
		if info.Config.Replicas != n {
			t.Errorf("stream %s has %d replicas, want %d", info.Config.Name, info.Config.Replicas, n)
		}
	}
	if len(names) < 2 {
		t.Errorf("streams %v: want the sync and snapshot streams at least", names)
	}
}

// checkMetricsStore waits for reports of every edge node in the metrics
// service's PostgreSQL schema (two replicas share it).
func (tp *topology) checkMetricsStore(nodes int) {
	natstest.CheckFor(tp.t, 30*time.Second, 200*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var n int
		if err := tp.pg.pool.QueryRow(ctx, "SELECT count(DISTINCT node_id) FROM "+tp.pg.metricsSchema()+".reports").Scan(&n); err != nil {
			return fmt.Errorf("metrics reports in PostgreSQL: %w", err)
		}
		if n != nodes {
			return fmt.Errorf("reports of %d nodes in PostgreSQL, want %d", n, nodes)
		}
		return nil
	})
}

// checkEventStore requires the events in PostgreSQL, none in JetStream.
func (tp *topology) checkEventStore() {
	t := tp.t
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	if err := tp.pg.pool.QueryRow(ctx, "SELECT count(*) FROM "+tp.pg.schema+".events").Scan(&n); err != nil {
		t.Fatalf("events in PostgreSQL: %v", err)
	}
	if n == 0 {
		t.Error("no events in PostgreSQL: the control services use another event store")
	}
	nc, err := nats.Connect("nats://127.0.0.1:"+strconv.Itoa(tp.port("nats-1", 4222)),
		nats.UserCredentials(filepath.Join(tp.volume("strata-data"), "control.creds")))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(ctx, natsutil.EventsStream); err == nil {
		t.Errorf("stream %s exists: the events went to JetStream too", natsutil.EventsStream)
	}
}

// testPostgres is the machine's PostgreSQL with a schema of this run's,
// dropped when the test ends (after its processes stop).
type postgres struct {
	dsn, schema string
	pool        *pgxpool.Pool
}

func testPostgres(t *testing.T) postgres {
	dsn := testenv.PostgresDSN(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	pg := postgres{dsn: dsn, schema: fmt.Sprintf("strata_compose_%d", time.Now().UnixNano()), pool: pool}
	t.Cleanup(func() {
		defer pool.Close()
		for _, s := range []string{pg.schema, pg.metricsSchema()} {
			if _, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+s+" CASCADE"); err != nil {
				t.Errorf("drop schema %s: %v", s, err)
			}
		}
	})
	return pg
}

// metricsSchema holds this run's metrics store.
func (pg postgres) metricsSchema() string { return pg.schema + "_metrics" }

func origin(t *testing.T, name string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, name) }))
	t.Cleanup(srv.Close)
	return srv
}

type topology struct {
	t          *testing.T
	p          *types.Project
	tmp        string
	natsServer string
	pg         postgres
	mu         sync.Mutex
	ports      map[string]int // "instance:containerPort" -> host port
	procs      map[string]*proc
	instances  map[string][]string // service -> its instances (replicas)
}

// up starts the services in depends_on order, a wave at a time, each wave
// waiting for the conditions the next one depends on.
func (tp *topology) up() {
	tp.instances = map[string][]string{}
	for name, s := range tp.p.Services {
		n := 1
		if s.Deploy != nil && s.Deploy.Replicas != nil {
			n = *s.Deploy.Replicas
		}
		for i := 1; i <= n; i++ {
			inst := name
			if n > 1 {
				inst = fmt.Sprintf("%s-%d", name, i)
			}
			tp.instances[name] = append(tp.instances[name], inst)
		}
	}
	done := map[string]bool{}
	for len(done) < len(tp.p.Services) {
		var wave []string
		for name, s := range tp.p.Services {
			if done[name] {
				continue
			}
			if !slices.ContainsFunc(s.GetDependencies(), func(d string) bool { return !done[d] }) {
				wave = append(wave, name)
			}
		}
		if len(wave) == 0 {
			tp.t.Fatal("depends_on has a cycle")
		}
		slices.Sort(wave)
		var wg sync.WaitGroup
		for _, name := range wave {
			wg.Add(1)
			go func() { defer wg.Done(); tp.run(name) }()
		}
		wg.Wait()
		if tp.t.Failed() {
			tp.t.FailNow()
		}
		for _, name := range wave {
			done[name] = true
		}
	}
}

// run starts every instance of one service and waits until it is what its
// dependents wait for: completed (one-shot) or healthy.
func (tp *topology) run(name string) {
	s := tp.p.Services[name]
	switch {
	case name == "pebble", name == "origin":
		return // not run: ACME is off, the test has its origins
	case name == "gateway":
		tp.startGateway(s)
		return
	case name == "postgres":
		return // the machine's
	case name == "postgres-secret":
		// What the init step writes: the URL of the server, mode 0600.
		must(tp.t, os.WriteFile(filepath.Join(tp.volume(name), "strata.dsn"), []byte(tp.pg.dsn+"\n"), 0o600))
		return
	}
	for _, inst := range tp.instances[name] {
		root := tp.root(inst, s)
		argv := make([]string, len(s.Command))
		for i, a := range s.Command {
			argv[i] = tp.translate(inst, s, root, a)
		}
		bin := e2etest.Binary
		switch argv[0] {
		case "nats-server":
			bin, argv = tp.natsServer, argv[1:]
		case "control": // the shared database: this run's schemas
			argv = append(argv, "--postgres-schema", tp.pg.schema)
			if slices.Contains(argv, "--metrics-postgres-dsn-file") {
				argv = append(argv, "--metrics-postgres-schema", tp.pg.metricsSchema())
			}
		}
		env := append(e2etest.CleanEnv(), "STRATA_ACME_DIRECTORY=off")
		for k, v := range s.Environment {
			if v != nil && k != "STRATA_ACME_DIRECTORY" && k != "SSL_CERT_FILE" { // pebble does not run
				env = append(env, k+"="+tp.translate(inst, s, root, *v))
			}
		}
		if s.Restart == "no" {
			cmd := exec.Command(bin, argv...)
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				tp.t.Errorf("%s: %s %q: %v\n%s", inst, bin, argv, err, out)
			}
			continue
		}
		p := startProc(tp.t, inst, env, bin, argv...)
		tp.mu.Lock()
		tp.procs[inst] = p
		tp.mu.Unlock()
		if s.HealthCheck != nil {
			for _, a := range s.HealthCheck.Test[1:] { // after CMD
				p.probe = append(p.probe, tp.translate(inst, s, root, a))
			}
			if tp.awaited(name) {
				tp.waitHealthy(p)
			}
		}
	}
}

// root is the instance's file system: its volumes (shared directories of
// the temp dir, linked at their mount points) and its configs.
func (tp *topology) root(inst string, s types.ServiceConfig) string {
	root := filepath.Join(tp.tmp, "root", inst)
	for _, v := range s.Volumes {
		at := filepath.Join(root, v.Target)
		must(tp.t, os.MkdirAll(filepath.Dir(at), 0o700))
		if _, err := os.Lstat(at); err != nil {
			must(tp.t, os.Symlink(tp.volume(v.Source), at))
		}
	}
	for _, c := range s.Configs {
		at := filepath.Join(root, c.Target)
		must(tp.t, os.MkdirAll(filepath.Dir(at), 0o700))
		must(tp.t, os.WriteFile(at, []byte(tp.translate(inst, s, root, tp.p.Configs[c.Source].Content)), 0o644))
	}
	return root
}

func (tp *topology) volume(name string) string {
	dir := filepath.Join(tp.tmp, "volumes", name)
	must(tp.t, os.MkdirAll(dir, 0o700))
	return dir
}

var (
	hostPort = regexp.MustCompile(`([A-Za-z0-9.-]+):(\d{2,5})\b`)
	barePort = regexp.MustCompile(`port: (\d+)`)
)

// translate maps a container's view to this machine: NAME:PORT of a
// service, and 0.0.0.0:PORT or 127.0.0.1:PORT of its own, to 127.0.0.1 and
// the port chosen for that instance; "port: N" in a config likewise; paths
// under a mount point to the instance's root.
func (tp *topology) translate(inst string, s types.ServiceConfig, root, v string) string {
	v = hostPort.ReplaceAllStringFunc(v, func(m string) string {
		sub := hostPort.FindStringSubmatch(m)
		port, _ := strconv.Atoi(sub[2])
		switch {
		case sub[1] == "0.0.0.0" || sub[1] == "127.0.0.1":
			return "127.0.0.1:" + strconv.Itoa(tp.port(inst, port))
		case len(tp.instances[sub[1]]) > 0:
			return "127.0.0.1:" + strconv.Itoa(tp.port(tp.instances[sub[1]][0], port))
		}
		return m
	})
	v = barePort.ReplaceAllStringFunc(v, func(m string) string {
		port, _ := strconv.Atoi(barePort.FindStringSubmatch(m)[1])
		return "port: " + strconv.Itoa(tp.port(inst, port))
	})
	var mounts []string
	for _, m := range s.Volumes {
		mounts = append(mounts, m.Target)
	}
	for _, c := range s.Configs {
		mounts = append(mounts, c.Target)
	}
	for _, m := range mounts {
		if v == m || strings.HasPrefix(v, m+"/") {
			return root + v
		}
		v = strings.ReplaceAll(v, ": "+m+",", ": "+root+m+",")
	}
	return v
}

// port is the free host port standing for an instance's container port.
func (tp *topology) port(inst string, containerPort int) int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	key := inst + ":" + strconv.Itoa(containerPort)
	if p, ok := tp.ports[key]; ok {
		return p
	}
	p := freeFixedPort(tp.t, tp.ports)
	tp.ports[key] = p
	return p
}

// freeFixedPort is a port free on every address, below the kernel's
// ephemeral range: a port the kernel handed out (port 0) is free only until
// some outgoing connection gets it as its local port, and the topology's
// processes bind theirs a while later, on 0.0.0.0.
func freeFixedPort(t testing.TB, taken map[string]int) int {
	used := map[int]bool{}
	for _, p := range taken {
		used[p] = true
	}
	for range 1000 {
		p := 20000 + rand.IntN(12000) // 20000-31999; Linux's ephemeral range starts at 32768
		if used[p] {
			continue
		}
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		_ = ln.Close()
		return p
	}
	t.Fatal("no free port in 20000-31999")
	return 0
}

// awaited reports whether a service waits for name to be healthy.
func (tp *topology) awaited(name string) bool {
	for _, s := range tp.p.Services {
		if d, ok := s.DependsOn[name]; ok && d.Condition == types.ServiceConditionHealthy {
			return true
		}
	}
	return false
}

// waitHealthy runs the instance's health check until it passes: the
// strata binary's own (strata healthcheck URL), or a GET of the URL that
// wget fetches in the nats and nginx images.
func (tp *topology) waitHealthy(p *proc) {
	client := &http.Client{Timeout: 2 * time.Second}
	check := func() error {
		if p.probe[0] == "/strata" {
			out, err := exec.Command(e2etest.Binary, p.probe[1:]...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		}
		res, err := client.Get(p.probe[len(p.probe)-1])
		if err != nil {
			return err
		}
		_ = res.Body.Close()
		if res.StatusCode/100 != 2 {
			return fmt.Errorf("status %s", res.Status)
		}
		return nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if p.exited() || time.Now().After(deadline) {
			tp.t.Errorf("%s: not healthy (%q: %v)\n%s", p.name, p.probe, err, p.out)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (tp *topology) gatewayURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(tp.port("gateway", 7400))
}

// edges are the running strata node processes as clients reach them.
func (tp *topology) edges() []e2etest.Edge {
	var out []e2etest.Edge
	for name, s := range tp.p.Services {
		if len(s.Command) > 0 && s.Command[0] == "node" && s.Restart != "no" {
			out = append(out, e2etest.Edge{Name: name, HTTP: "http://127.0.0.1:" + strconv.Itoa(tp.port(name, 8080))})
		}
	}
	return out
}

var nginxRoute = regexp.MustCompile(`location (/\S+/)\s*\{\s*proxy_pass http://([a-z0-9-]+);`)

// startGateway stands in for nginx: the routes of its config, each to the
// instances of a service, the next one when one refuses (as nginx's
// proxy_next_upstream does).
func (tp *topology) startGateway(s types.ServiceConfig) {
	routes := map[string][]string{}
	for _, c := range s.Configs {
		for _, m := range nginxRoute.FindAllStringSubmatch(tp.p.Configs[c.Source].Content, -1) {
			routes[m[1]] = tp.instances[m[2]]
		}
	}
	if len(routes) == 0 {
		tp.t.Fatal("gateway: no routes in its config")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(tp.port("gateway", 7400)))
	if err != nil {
		tp.t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		prefix := r.URL.Path[:strings.LastIndex(r.URL.Path, "/")+1]
		body, _ := io.ReadAll(r.Body)
		var lastErr error
		for _, inst := range routes[prefix] {
			u := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(tp.port(inst, 7400)), Path: r.URL.Path, RawQuery: r.URL.RawQuery}
			req, _ := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
			req.Header = r.Header.Clone()
			res, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				lastErr = err
				continue
			}
			for k, v := range res.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(res.StatusCode)
			_, _ = io.Copy(w, res.Body)
			_ = res.Body.Close()
			return
		}
		http.Error(w, fmt.Sprintf("gateway: no instance for %s: %v", r.URL.Path, lastErr), http.StatusBadGateway)
	})}
	go func() { _ = srv.Serve(ln) }()
	tp.t.Cleanup(func() { _ = srv.Close() })
}

// proc is one running process of the topology.
type proc struct {
	name  string
	probe []string // the health check's command, translated
	cmd   *exec.Cmd
	out   *testbuf.Buffer
	done  chan struct{}
}

func startProc(t *testing.T, name string, env []string, bin string, argv ...string) *proc {
	p := &proc{name: name, cmd: exec.Command(bin, argv...), out: &testbuf.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM (as docker stop does), then SIGKILL after 10s.
func (p *proc) stop(t *testing.T) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Logf("%s: still running 10s after SIGTERM; killed", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
