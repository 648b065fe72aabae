package cli

import (
	"time"

	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-edge/strata/internal/edge"
	"github.com/strata-edge/strata/node/join"
)

// DefaultNodeDataDir is where `strata node` keeps its identity and config.
const DefaultNodeDataDir = ".strata-node"

// `strata node` runs an edge node (internal/edge); its subcommands, the
// node API verbs, are in nodelist.go and nodecmds.go.

func newNodeCmd(g *globals) *cobra.Command {
	var o edge.RunOptions
	var lf logFlags
	var configFile string
	var tokenFile string
	cmd := &cobra.Command{
		Use:   "node [--join-token T --name N --data DIR] | node COMMAND",
		Short: "Run an edge node, or manage nodes, join tokens and sync status",
		Long: `Without a subcommand, run an edge node: it joins the control plane at --api
with a join token (from "strata node token create"), keeps its key, credentials
and config in --data, syncs the config of its partition over a NATS leaf link,
and serves it on --http-addr and --https-addr.

A node whose token needs approval waits, asking again every few seconds, until
an operator runs "strata node approve ID". Restarts reuse --data: the node keeps
its identity and serves its stored config at once, even while the control plane
is down (then the join token may be omitted).

Apps name the ports they are served on (http_ports, default 80; https_ports):
--http-port and --https-port say which ports the listeners stand for, so a node
listening on 7480 behind a forward from 80 serves apps on port 80.

--config FILE reads these flags (and --api) from a file, one "key = value" per
line (or YAML for .yaml/.yml), as cloud-init writes it for the systemd unit
infra/systemd/strata-node.service; flags on the command line win.`,
		Example: `  TOKEN=$(strata node token create --cluster fra --auto-approve)
  strata node --api http://control:7400 --join-token "$TOKEN" --name fra-1 --data /var/lib/strata-node \
      --http-addr 0.0.0.0:80 --https-addr 0.0.0.0:443
  strata node --config /etc/strata/node.conf
  strata node list`,
		Args: func(cmd *cobra.Command, a []string) error {
			if len(a) > 0 {
				return usagef("unknown command %q for %q", a[0], cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configFile != "" {
				if err := loadNodeConfig(cmd, configFile); err != nil {
					return err
				}
			}
			if cmd.Flags().NFlag() == 0 && !join.Joined(o.DataDir) {
				return cmd.Help()
			}
			log, err := lf.logger(g)
			if err != nil {
				return err
			}
			if o.JoinToken == "" {
				o.JoinToken = strings.TrimSpace(g.getenv("STRATA_JOIN_TOKEN"))
			}
			if o.JoinToken == "" && tokenFile != "" {
				if o.JoinToken, err = readJoinTokenFile(tokenFile); err != nil {
					return err
				}
			}
			if o.MetricsInterval == 0 {
				o.MetricsInterval = -1 // --metrics-interval 0: off
			}
			if o.PeerCheckInterval == 0 {
				o.PeerCheckInterval = -1 // --peer-check-interval 0: off
			}
			o.API = g.api
			o.Logger = log
			o.Banner = g.stdout
			return edge.Run(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&configFile, "config", "", "`FILE` of flags (YAML for .yaml/.yml, else key = value lines; keys are flag names, flags on the command line win), e.g. written by cloud-init")
	fs.StringVar(&o.JoinToken, "join-token", "", "join `TOKEN` made by strata node token create (env STRATA_JOIN_TOKEN); needed on the first start")
	fs.StringVar(&tokenFile, "join-token-file", "", "`FILE` holding the join token (strata node token create --out), when neither --join-token nor STRATA_JOIN_TOKEN is set")
	fs.StringVar(&o.Name, "name", defaultNodeName(), "node name, unique in its cluster")
	fs.StringVar(&o.DataDir, "data", DefaultNodeDataDir, "node data directory (key, credentials, stored config)")
	fs.StringVar(&o.HTTPAddr, "http-addr", ":7480", "proxy HTTP listen address (empty: none)")
	fs.StringVar(&o.HTTPSAddr, "https-addr", ":7443", "proxy HTTPS listen address (empty: none)")
	fs.StringVar(&o.DNSAddr, "dns-addr", "", "authoritative DNS listen address, UDP and TCP (empty: none)")
	fs.StringVar(&o.StreamHost, "stream-host", "", "IP the listeners of stream apps (TCP/UDP proxy) bind, with the apps' ports (default: the host of --http-addr)")
	fs.StringVar(&o.GeoDB, "geo-db", "", "MaxMind-format `FILE` (GeoLite2 Country/City/ASN) for DNS geo rules and the Metric SQL columns country and asn")
	fs.StringArrayVar(&o.PublicIPs, "public-ip", nil, "public address of the node, sent at join (repeat for IPv4 and IPv6); gateway DNS records answer with the healthy nodes' addresses")
	fs.StringVar(&o.TierAddr, "tier-addr", "", "HOST:PORT nodes of child clusters reach --http-addr at for tiered caching (default: the bound --http-addr, its 0.0.0.0 or :: host replaced by the first --public-ip)")
	fs.Uint32Var(&o.HTTPPort, "http-port", 80, "port apps name for the HTTP listener (0: the bound port)")
	fs.Uint32Var(&o.HTTPSPort, "https-port", 443, "port apps name for the HTTPS listener (0: the bound port)")
	fs.DurationVar(&o.MetricsInterval, "metrics-interval", time.Second, "how often the node sends its traffic, system and Metric SQL figures to the metrics service (0: off)")
	fs.DurationVar(&o.PeerCheckInterval, "peer-check-interval", 2*time.Second, "how often the node probes the tier addresses of its partition's nodes; the control plane fails a node most peers cannot reach (0: off; docs/gslb.md)")
	fs.StringArrayVar(&o.XDPIfaces, "xdp-iface", nil, "`IFACE` to run the XDP DDoS filter on (repeatable; off by default; needs root or CAP_BPF+CAP_NET_ADMIN; docs/ddos.md)")
	fs.StringVar(&o.MetricsAddr, "metrics-addr", "", "HOST:PORT serving /metrics (Prometheus) and /healthz (empty: off, so several nodes can share a host)")
	lf.register(fs)

	cmd.AddCommand(nodeListCmd(g), nodeRegisterCmd(g), nodeStagingCmd(g), nodeRemoveCmd(g),
		nodeApproveCmd(g), nodeDisableCmd(g, true), nodeDisableCmd(g, false), nodeTokenCmd(g))
	return cmd
}

// defaultNodeName is the host name when it is a valid node name.
func defaultNodeName() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	h = strings.ToLower(strings.SplitN(h, ".", 2)[0])
	return h
}
