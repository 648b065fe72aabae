package stack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-edge/strata/internal/edge"
	nodemetrics "github.com/strata-edge/strata/node/metrics"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsauth"
	"github.com/strata-edge/strata/pkg/natsutil"
	metricstore "github.com/strata-edge/strata/services/metrics/store"
)

// Files and directories under DevOptions.DataDir.
const (
	devNATSDir     = "nats"          // JetStream files
	devAuthDir     = "nats-auth"     // operator, account and signing keys
	devNodeDir     = "node"          // the built-in edge node
	devControlCred = "control.creds" // control-user credentials for tools
)

// DevOptions configures RunDev.
type DevOptions struct {
	// DataDir holds everything that persists: nats/ (JetStream files),
	// nats-auth/ (NATS operator and account keys), node/ (the edge node's
	// identity and stored config) and admin.token.
	DataDir string
	// APIAddr, NATSAddr and LeafAddr are listen addresses; port 0 (or -1)
	// picks a free port.
	APIAddr  string
	NATSAddr string
	LeafAddr string
	// LeafURLs are the hub leaf URLs handed to joining nodes; empty: the
	// bound leaf address, which must then not be a wildcard (0.0.0.0, ::).
	LeafURLs []string
	// HTTPAddr and HTTPSAddr are the edge node's proxy listeners.
	HTTPAddr, HTTPSAddr string
	// HTTPPort and HTTPSPort are the ports apps name for those listeners
	// (http_ports, https_ports); 0 means the bound ports.
	HTTPPort, HTTPSPort uint32
	// DNSAddr is the edge node's authoritative DNS address (UDP and TCP);
	// empty: no DNS.
	DNSAddr string
	// XDPIfaces are the interfaces of the edge node's XDP DDoS filter
	// (strata node --xdp-iface); none: off.
	XDPIfaces []string
	// MetricsRetention is how long the metrics store keeps 1 s, 1 min and
	// 1 h rows (zero fields: 1 h, 7 days, 365 days).
	MetricsRetention metricstore.Retention
	// NoNode runs the control plane without the built-in edge node.
	NoNode bool
	// NATSLog shows nats-server's own log lines.
	NATSLog bool
	Logger  *slog.Logger
	// Banner receives the human- and machine-readable start banner.
	Banner io.Writer
}

// RunDev runs everything in one process until ctx ends, then stops every part
// in reverse order. State lives in DataDir, so a restart keeps it.
//
// The embedded hub runs in NATS operator mode: every connection needs
// credentials from the Authority in DataDir/nats-auth. The control plane
// connects in-process as a control user; the built-in edge node joins with an
// auto-approve join token like any other node and links to the hub's leaf
// listener with its own credentials.
func RunDev(ctx context.Context, o DevOptions) (err error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	apiAddr, err := normalizeAddr("--api-addr", o.APIAddr)
	if err != nil {
		return err
	}
	natsHost, natsPort, err := edge.SplitHostPort("--nats-addr", o.NATSAddr)
	if err != nil {
		return err
	}
	if natsPort == 0 {
		natsPort = -1 // nats-server reads 0 as its default port 4222
	}
	leafHost, leafPort, err := edge.SplitHostPort("--leaf-addr", o.LeafAddr)
	if err != nil {
		return err
	}
	if leafPort == 0 {
		leafPort = -1 // 0 would mean "no leaf listener"
	}
	if !o.NoNode {
		for flag, addr := range map[string]string{"--http-addr": o.HTTPAddr, "--https-addr": o.HTTPSAddr, "--dns-addr": o.DNSAddr} {
			if addr == "" {
				continue
			}
			if _, err := normalizeAddr(flag, addr); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("--data: create %q: %w", o.DataDir, err)
	}
	// A token file others can read stops us before anything listens.
	if _, _, err := apiauth.LoadOrCreateBootstrapToken(o.DataDir); err != nil {
		return fmt.Errorf("admin token: %w", err)
	}

	var st stops
	running := false
	defer func() {
		if stopErr := st.run(log); err == nil {
			err = stopErr
		}
		if running && err == nil && o.Banner != nil {
			// The one line that says the stop was clean (exit code 0 follows).
			fmt.Fprintln(o.Banner, "Strata dev stopped.")
		}
	}()

	authority, err := natsauth.LoadOrCreate(filepath.Join(o.DataDir, devAuthDir))
	if err != nil {
		return fmt.Errorf("nats authority: %w", err)
	}
	var cfgErr error
	ns, err := natsutil.StartServer(natsutil.ServerOptions{
		Host:            natsHost,
		Port:            natsPort,
		StoreDir:        filepath.Join(o.DataDir, devNATSDir),
		JetStreamDomain: natsutil.HubDomain,
		SyncAlways:      true,
		ServerName:      "strata-dev",
		NoLog:           !o.NATSLog,
		LeafPort:        leafPort,
		Configure: func(so *server.Options) {
			cfgErr = authority.Configure(so)
			so.LeafNode.Host = leafHost
			// Nodes dial the --leaf-url given (a proxy, a load balancer,
			// a NAT): the hub must not advertise its bound address, which
			// nodes would add to their list and reconnect to directly.
			so.LeafNode.NoAdvertise = len(o.LeafURLs) > 0
		},
	})
	if err == nil && cfgErr != nil {
		ns.Shutdown()
		err = cfgErr
	}
	if err != nil {
		return fmt.Errorf("start nats: %w", err)
	}
	st.add("nats", func(context.Context) error {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil
	})
	leafURL, err := natsutil.LeafURL(ns)
	if err != nil {
		return err
	}
	leafURLs := []string{leafURL}
	if len(o.LeafURLs) > 0 {
		leafURLs, leafURL = o.LeafURLs, o.LeafURLs[0]
	} else if ip := net.ParseIP(leafHost); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("--leaf-addr %s listens on every interface: give --leaf-url with an address nodes reach (bound: %s)", o.LeafAddr, leafURL)
	}
	userJWT, seed, err := authority.ControlUser()
	if err != nil {
		return err
	}
	credsFile := filepath.Join(o.DataDir, devControlCred)
	if err := natsauth.WriteCredentials(credsFile, userJWT, seed); err != nil {
		return fmt.Errorf("write %s: %w", credsFile, err)
	}
	nc, err := natsutil.ConnectInProcess(ns, nats.Name("strata-dev"), nats.UserJWTAndSeed(userJWT, string(seed)))
	if err != nil {
		return err
	}
	st.add("nats connection", func(context.Context) error { nc.Close(); return nil })
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	store, err := eventstore.NewJetStream(ctx, js, eventstore.JetStreamOptions{})
	if err != nil {
		return fmt.Errorf("event store: %w", err)
	}
	st.add("event store", func(context.Context) error { return store.Close() })

	devDNS := &devDNSAddr{}
	api, err := startAPI(ctx, apiParts{
		addr: apiAddr, dataDir: o.DataDir, services: KnownServices,
		store: store, js: js,
		authority: authority, hub: ns, conn: nc, leafURLs: leafURLs,
		log: log, devDNS: devDNS, metricsRetention: o.MetricsRetention,
	}, &st)
	if err != nil {
		return err
	}

	var devNode *edge.Edge
	if !o.NoNode {
		devNode, err = startDevNode(ctx, api.nodes, o, log)
		if err != nil {
			return err
		}
		st.add("edge node", devNode.Stop)
		devDNS.set(devNode.DNSAddr())
		// One process, one /metrics: the API server's shows the node too.
		api.metrics.MustRegister(nodemetrics.New(devNode.Node()))
	}

	if o.Banner != nil {
		printDevBanner(o.Banner, o, api, ns.ClientURL(), leafURL, credsFile, devNode)
	}
	log.Info("strata dev running; press Ctrl-C to stop", "data", o.DataDir)
	running = true
	<-ctx.Done()
	log.Info("stopping")
	return nil
}

func printDevBanner(w io.Writer, o DevOptions, api apiInfo, natsURL, leafURL, credsFile string, devNode *edge.Edge) {
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	tokenFile := abs(api.tokenFile)
	// The "key: value" lines are stable: scripts and the e2e test parse them.
	fmt.Fprintf(w, "Strata dev is running.\napi: %s\nconsole: %s/\nnats: %s\nnats-creds: %s\nleaf: %s\ntoken-file: %s\ndata: %s\n",
		api.url, api.url, natsURL, abs(credsFile), leafURL, tokenFile, o.DataDir)
	if devNode != nil {
		if a := devNode.HTTPAddr(); a != "" {
			fmt.Fprintf(w, "http: http://%s\n", a)
		}
		if a := devNode.HTTPSAddr(); a != "" {
			fmt.Fprintf(w, "https: https://%s\n", a)
		}
		if a := devNode.DNSAddr(); a != "" {
			fmt.Fprintf(w, "dns: %s\n", a)
		}
		fmt.Fprintf(w, "node: %s\n", devNode.NodeID())
	}
	fmt.Fprintf(w, `
Open the web console at %s/ and sign in with "API token": paste the admin token,
cat %s

Use the CLI from another shell:
export STRATA_API=%s STRATA_TOKEN=$(cat %s)
`, api.url, tokenFile, api.url, tokenFile)
}
