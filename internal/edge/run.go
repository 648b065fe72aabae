package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/node/join"
)

// shutdownTimeout bounds the node's stop after ctx ends.
const shutdownTimeout = 10 * time.Second

// RunOptions configures Run: the node's Options (Joiner, Logger and
// Progress are Run's), the API to join at, metrics and the banner.
type RunOptions struct {
	Options
	// API is the control plane's API base URL (NodeService.Join).
	API string
	// MetricsAddr, optional, is where /metrics (Prometheus) and /healthz
	// listen. Empty means off: several nodes often share a host (tests,
	// staging beside stable), and a fixed default port would collide.
	MetricsAddr string
	// Banner receives the start banner and progress lines.
	Banner io.Writer
}

// Run runs an edge node until ctx ends: it joins the control plane at
// API with the join token (waiting for approval when the token needs it),
// keeps its key and credentials in DataDir, and serves the config it syncs
// from the hub. A restart reuses DataDir and serves the stored config at
// once, also while the control plane is down.
func Run(ctx context.Context, o RunOptions) (err error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.HTTPAddr == "" && o.HTTPSAddr == "" {
		return errors.New("--http-addr, --https-addr: give at least one listen address")
	}
	for flag, addr := range map[string]string{"--http-addr": o.HTTPAddr, "--https-addr": o.HTTPSAddr, "--dns-addr": o.DNSAddr, "--metrics-addr": o.MetricsAddr} {
		if addr == "" {
			continue
		}
		if _, _, err := SplitHostPort(flag, addr); err != nil {
			return err
		}
	}
	if _, _, err := join.SplitPublicIPs("--public-ip", o.PublicIPs); err != nil {
		return err
	}
	if h := o.StreamHost; h != "" {
		if _, err := netip.ParseAddr(h); err != nil {
			return fmt.Errorf("--stream-host: %q: want an IP address (stream listeners bind it with the apps' ports)", h)
		}
	}
	if o.TierAddr != "" {
		host, port, err := SplitHostPort("--tier-addr", o.TierAddr)
		if err != nil {
			return err
		}
		if host == "" || port <= 0 {
			return fmt.Errorf("--tier-addr: %q: want the HOST:PORT child nodes reach this node's --http-addr at (a host and a port other than 0)", o.TierAddr)
		}
	}
	for _, name := range o.XDPIfaces {
		if name == "" || len(name) > 15 || strings.ContainsAny(name, "/ \t\n") {
			return fmt.Errorf("--xdp-iface: %q is not an interface name (1-15 characters, no '/' or space)", name)
		}
	}
	o.Logger, o.Progress = log, o.Banner
	if o.JoinToken != "" && o.Joiner == nil {
		if !strings.HasPrefix(o.API, "http://") && !strings.HasPrefix(o.API, "https://") {
			return fmt.Errorf("--api: %q is not a URL; want http://host:port or https://host:port", o.API)
		}
		o.Joiner = configv1connect.NewNodeServiceClient(&http.Client{Timeout: 30 * time.Second}, strings.TrimRight(o.API, "/"))
	}
	edge, err := Start(ctx, o.Options)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if stopErr := edge.Stop(sctx); err == nil {
			err = stopErr
		}
	}()
	var metricsAddr string
	if o.MetricsAddr != "" {
		ml, err := startNodeMetrics(o.MetricsAddr, edge.Node(), log)
		if err != nil {
			return err
		}
		defer func() { // before the node stops: a last scrape still reads it
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			_ = ml.Stop(sctx)
		}()
		metricsAddr = ml.Addr()
	}
	if o.Banner != nil {
		fmt.Fprintf(o.Banner, "Strata node is running.\nnode: %s\nname: %s\ncluster: %s\npartition: %s\n",
			edge.NodeID(), edge.Name(), edge.ClusterID(), edge.PartitionID())
		for _, l := range [][2]string{{"http: http://%s\n", edge.HTTPAddr()}, {"https: https://%s\n", edge.HTTPSAddr()},
			{"dns: %s\n", edge.DNSAddr()}, {"metrics: http://%s/metrics\n", metricsAddr}} {
			if l[1] != "" {
				fmt.Fprintf(o.Banner, l[0], l[1])
			}
		}
		fmt.Fprintf(o.Banner, "data: %s\n", o.DataDir)
	}
	log.Info("strata node running; press Ctrl-C to stop", "node_id", edge.NodeID(), "version", edge.Node().Version())
	<-ctx.Done()
	log.Info("stopping")
	return nil
}

// SplitHostPort parses an address flag; port 0 and -1 both mean "any free port".
func SplitHostPort(flag, addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %q: want HOST:PORT: %w", flag, addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < -1 || port > 65535 {
		return "", 0, fmt.Errorf("%s: %q: port %q is not a number from 0 to 65535", flag, addr, portStr)
	}
	return host, port, nil
}
