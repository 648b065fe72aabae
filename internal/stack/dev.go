package stack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// DevOptions configures RunDev.
type DevOptions struct {
	// DataDir holds everything that persists: nats/ (JetStream files) and
	// admin.token.
	DataDir string
	// APIAddr and NATSAddr are listen addresses; port 0 (or -1) picks a free port.
	APIAddr  string
	NATSAddr string
	// Reserved for the edge node that dev will run; shown in the banner only.
	HTTPAddr, HTTPSAddr, DNSAddr string
	// NATSLog shows nats-server's own log lines.
	NATSLog bool
	Logger  *slog.Logger
	// Banner receives the human- and machine-readable start banner.
	Banner io.Writer
}

// RunDev runs everything in one process until ctx ends, then stops every part
// in reverse order. State lives in DataDir, so a restart keeps it.
func RunDev(ctx context.Context, o DevOptions) (err error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	apiAddr, err := normalizeAddr("--api-addr", o.APIAddr)
	if err != nil {
		return err
	}
	natsHost, natsPort, err := splitHostPort("--nats-addr", o.NATSAddr)
	if err != nil {
		return err
	}
	if natsPort == 0 {
		natsPort = -1 // nats-server reads 0 as its default port 4222
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("--data: create %q: %w", o.DataDir, err)
	}

	var st stops
	defer func() {
		if stopErr := st.run(log); err == nil {
			err = stopErr
		}
	}()

	ns, err := natsutil.StartServer(natsutil.ServerOptions{
		Host:            natsHost,
		Port:            natsPort,
		StoreDir:        filepath.Join(o.DataDir, "nats"),
		JetStreamDomain: natsutil.HubDomain,
		SyncAlways:      true,
		ServerName:      "strata-dev",
		NoLog:           !o.NATSLog,
	})
	if err != nil {
		return fmt.Errorf("start nats: %w", err)
	}
	st.add("nats", func(context.Context) error {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil
	})
	nc, err := natsutil.ConnectInProcess(ns, nats.Name("strata-dev"))
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

	api, err := startAPI(ctx, apiParts{
		addr: apiAddr, dataDir: o.DataDir, services: KnownServices,
		store: store, js: js, log: log,
	}, &st)
	if err != nil {
		return err
	}

	if o.Banner != nil {
		printDevBanner(o.Banner, o, api, ns.ClientURL())
	}
	log.Info("strata dev running; press Ctrl-C to stop", "data", o.DataDir)
	<-ctx.Done()
	log.Info("stopping")
	return nil
}

func printDevBanner(w io.Writer, o DevOptions, api apiInfo, natsURL string) {
	tokenFile := api.tokenFile
	if abs, err := filepath.Abs(tokenFile); err == nil {
		tokenFile = abs
	}
	// The "key: value" lines are stable: scripts and the e2e test parse them.
	fmt.Fprintf(w, `Strata dev is running.
api: %s
nats: %s
token-file: %s
data: %s
edge node: not part of this build yet; --http-addr %s, --https-addr %s, --dns-addr %s are reserved for it

Use the CLI from another shell:
export STRATA_API=%s STRATA_TOKEN=$(cat %s)
`, api.url, natsURL, tokenFile, o.DataDir, o.HTTPAddr, o.HTTPSAddr, o.DNSAddr, api.url, tokenFile)
}
