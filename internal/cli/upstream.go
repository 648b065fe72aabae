package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

// upstreamFlags are an upstream's settings, shared by create and update.
type upstreamFlags struct {
	app, name                  string
	servers, backups           []string
	endpoints                  string
	policy, hashKey            string
	connectTO, readTO, writeTO time.Duration
	retries                    uint32
	tls, tlsVerify             bool
	tlsSNI                     string
	healthPath, healthHost     string
	healthCheck                bool
	healthInterval, healthTO   time.Duration
	healthyThr, unhealthyThr   uint32
	healthStatuses             []uint
	maxFails                   uint32
	failTimeout                time.Duration
	ev                         clientx.ExpectVersion
}

func (f *upstreamFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.app, "app", "", "app id or name (required)")
	fs.StringVar(&f.name, "name", "", "upstream name, unique in the app (required)")
	fs.StringArrayVar(&f.servers, "server", nil, "server HOST:PORT[=WEIGHT] (repeatable; weight defaults to 1)")
	fs.StringArrayVar(&f.backups, "backup", nil, "backup server HOST:PORT[=WEIGHT], used when every server is down (repeatable)")
	fs.StringVar(&f.endpoints, "endpoints", "", "take the servers from a dynamic server set (see strata upstream endpoints), kept current without a release; instead of --server")
	fs.StringVar(&f.policy, "policy", "round_robin", "balancing: round_robin, weighted, least_conn or hash")
	fs.StringVar(&f.hashKey, "hash-key", "", "key of --policy hash: client_ip, uri, path, header:NAME, cookie:NAME, query:NAME")
	fs.DurationVar(&f.connectTO, "connect-timeout", 0, "connect timeout, e.g. 2s (0 = node default)")
	fs.DurationVar(&f.readTO, "read-timeout", 0, "read timeout, e.g. 30s (0 = node default)")
	fs.DurationVar(&f.writeTO, "write-timeout", 0, "write timeout (0 = node default)")
	fs.Uint32Var(&f.retries, "retries", 0, "extra attempts on another server when connecting fails")
	fs.BoolVar(&f.tls, "tls", false, "connect to the servers with TLS")
	fs.StringVar(&f.tlsSNI, "tls-sni", "", "TLS server name (default: the server host)")
	fs.BoolVar(&f.tlsVerify, "tls-verify", false, "verify the servers' certificates")
	fs.StringVar(&f.healthPath, "health-path", "", "enable active health checks: HTTP path to probe, e.g. /healthz")
	fs.StringVar(&f.healthHost, "health-host", "", "Host header of health probes")
	fs.BoolVar(&f.healthCheck, "health-check", false, "enable active health checks without --health-path: for upstreams of stream apps a TCP connect probe (--health-check=false turns probes off)")
	fs.DurationVar(&f.healthInterval, "health-interval", 5*time.Second, "time between health probes")
	fs.DurationVar(&f.healthTO, "health-timeout", defaultHealthTimeout, "health probe timeout (when not given: at most half of --health-interval)")
	fs.Uint32Var(&f.healthyThr, "healthy-threshold", 2, "successful probes before a server is healthy again")
	fs.Uint32Var(&f.unhealthyThr, "unhealthy-threshold", 3, "failed probes before a server is taken out")
	fs.UintSliceVar(&f.healthStatuses, "health-status", nil, "statuses that count as healthy (repeatable; default 200-399)")
	fs.Uint32Var(&f.maxFails, "max-fails", 0, "passive health: take a server out after this many consecutive failures (0 = off)")
	fs.DurationVar(&f.failTimeout, "fail-timeout", 10*time.Second, "how long a server taken out by --max-fails stays out")
	f.ev.Register(fs, "app")
}

// apply sets on u every setting whose flag was given (all of them for a new
// upstream), so that update keeps what the user did not mention.
func (f *upstreamFlags) apply(fs *pflag.FlagSet, u *configv1.Upstream, isNew bool) error {
	given := func(name string) bool { return isNew || fs.Changed(name) }
	u.Name = f.name
	if fs.Changed("server") || fs.Changed("backup") {
		servers, err := parseServers(f.servers, f.backups)
		if err != nil {
			return err
		}
		u.Servers = servers
	}
	if fs.Changed("endpoints") {
		u.Endpoints = f.endpoints
		if f.endpoints != "" && !fs.Changed("server") && !fs.Changed("backup") {
			u.Servers = nil // the set replaces them
		}
	}
	if isNew && len(u.Servers) == 0 && u.Endpoints == "" {
		return usagef("give --server (or --endpoints SET)")
	}
	if given("policy") {
		p, err := parsePolicy(f.policy)
		if err != nil {
			return err
		}
		u.Policy = p
	}
	if given("hash-key") {
		u.HashKey = f.hashKey
	}
	if u.Timeouts == nil {
		u.Timeouts = &configv1.Timeouts{}
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
		dst  *uint32
	}{
		{"connect-timeout", f.connectTO, &u.Timeouts.ConnectMs},
		{"read-timeout", f.readTO, &u.Timeouts.ReadMs},
		{"write-timeout", f.writeTO, &u.Timeouts.WriteMs},
	} {
		if given(d.flag) {
			ms, err := millis("--"+d.flag, d.v)
			if err != nil {
				return err
			}
			*d.dst = ms
		}
	}
	if proto.Equal(u.Timeouts, &configv1.Timeouts{}) {
		u.Timeouts = nil
	}
	if given("retries") {
		u.Retries = f.retries
	}
	if given("tls") || given("tls-sni") || given("tls-verify") {
		t := u.GetTls()
		if t == nil {
			t = &configv1.UpstreamTLS{}
		}
		if given("tls") {
			t.Enabled = f.tls
		}
		if given("tls-sni") {
			t.Sni = f.tlsSNI
		}
		if given("tls-verify") {
			t.Verify = f.tlsVerify
		}
		if (t.Sni != "" || t.Verify) && !t.Enabled {
			return usagef("--tls-sni and --tls-verify need --tls")
		}
		u.Tls = t
		if proto.Equal(t, &configv1.UpstreamTLS{}) {
			u.Tls = nil
		}
	}
	return f.applyHealth(fs, u, isNew)
}

// defaultHealthTimeout is --health-timeout when not given and shorter than
// half the interval.
const defaultHealthTimeout = 2 * time.Second

func (f *upstreamFlags) applyHealth(fs *pflag.FlagSet, u *configv1.Upstream, isNew bool) error {
	names := []string{"health-check", "health-path", "health-host", "health-interval", "health-timeout", "healthy-threshold", "unhealthy-threshold", "health-status", "max-fails", "fail-timeout"}
	changed := false
	for _, n := range names {
		changed = changed || fs.Changed(n)
	}
	if !changed && !(isNew && (f.healthPath != "" || f.healthCheck || f.maxFails > 0)) {
		return nil
	}
	h := u.GetHealthCheck()
	if h == nil || isNew {
		h = &configv1.HealthCheck{}
		isNew = true // a new health check takes every default
	}
	given := func(name string) bool { return isNew || fs.Changed(name) }
	if given("health-path") {
		h.Path = f.healthPath
		h.Enabled = f.healthPath != ""
	}
	if fs.Changed("health-check") {
		h.Enabled = f.healthCheck
	}
	if given("health-host") {
		h.Host = f.healthHost
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
		dst  *uint32
	}{
		{"health-interval", f.healthInterval, &h.IntervalMs},
		{"health-timeout", f.healthTO, &h.TimeoutMs},
		{"fail-timeout", f.failTimeout, &h.FailTimeoutMs},
	} {
		if given(d.flag) {
			ms, err := millis("--"+d.flag, d.v)
			if err != nil {
				return err
			}
			*d.dst = ms
		}
	}
	if !fs.Changed("health-timeout") && h.IntervalMs != 0 && h.TimeoutMs >= h.IntervalMs {
		// The default timeout follows the interval the user set: below it.
		h.TimeoutMs = min(uint32(defaultHealthTimeout/time.Millisecond), h.IntervalMs/2)
	}
	if given("healthy-threshold") {
		h.HealthyThreshold = f.healthyThr
	}
	if given("unhealthy-threshold") {
		h.UnhealthyThreshold = f.unhealthyThr
	}
	if given("health-status") {
		h.ExpectedStatuses = nil
		for _, s := range f.healthStatuses {
			if s < 100 || s > 599 {
				return usagef("--health-status: %d is not an HTTP status (100-599)", s)
			}
			h.ExpectedStatuses = append(h.ExpectedStatuses, uint32(s))
		}
	}
	if given("max-fails") {
		h.MaxFails = f.maxFails
	}
	u.HealthCheck = h
	return nil
}

func newUpstreamCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "upstream", Short: "An app's upstreams: the servers requests are proxied to"}
	cmd.AddCommand(newEndpointsCmd(g), newUpstreamCreateCmd(g), newUpstreamUpdateCmd(g), newAppObjectDeleteCmd(g, "upstream", "Remove an upstream from an app", func(ctx context.Context, c configv1connect.ConfigServiceClient, app, name string, ev *uint64) (*configv1.DeleteUpstreamResponse, error) {
		return c.DeleteUpstream(ctx, &configv1.DeleteUpstreamRequest{AppId: app, ExpectedVersion: ev, Upstream: name})
	}), newAppPartListCmd(g, "List an app's upstreams (working copy)", func(a *configv1.App) (*configv1.App, [][]string) {
		rows := [][]string{{"NAME", "POLICY", "SERVERS", "TLS", "HEALTH"}}
		for _, u := range a.GetUpstreams() {
			health := "-"
			if h := u.GetHealthCheck(); h.GetEnabled() {
				health = cmp.Or(h.GetPath(), "tcp")
			}
			rows = append(rows, []string{u.GetName(), policyName(u.GetPolicy()), upstreamServers(u), clientx.YesNo(u.GetTls().GetEnabled()), health})
		}
		return &configv1.App{Upstreams: a.GetUpstreams()}, rows
	}))
	return cmd
}

func newUpstreamCreateCmd(g *globals) *cobra.Command {
	var f upstreamFlags
	cmd := &cobra.Command{
		Use:   "create --app APP --name N (--server HOST:PORT[=WEIGHT] ... | --endpoints SET) [flags]",
		Short: "Add an upstream to an app (prints its name)",
		Example: `  strata upstream create --app $APP --name web --server 10.0.0.1:8080 --server 10.0.0.2:8080=2
  strata upstream create --app $APP --name api --server api.internal:443 --tls --tls-verify \
      --policy least_conn --connect-timeout 2s --read-timeout 30s --health-path /healthz`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			u := &configv1.Upstream{}
			if err := f.apply(cmd.Flags(), u, true); err != nil {
				return err
			}
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.CreateUpstream, &configv1.CreateUpstreamRequest{AppId: f.app, ExpectedVersion: f.ev.Get(cmd), Upstream: u}), func(w io.Writer, res *configv1.CreateUpstreamResponse) error {
				return clientx.Line(w, "%s", res.GetUpstream().GetName())
			})
		},
	}
	f.register(cmd.Flags())
	_ = cmd.MarkFlagRequired("app")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newUpstreamUpdateCmd(g *globals) *cobra.Command {
	var f upstreamFlags
	cmd := &cobra.Command{
		Use:   "update --app APP --name N [--server HOST:PORT[=WEIGHT] ...] [flags]",
		Short: "Change an upstream; settings whose flags are not given are kept",
		Long: `Change an upstream. --server and --backup together replace the whole server
list; every other setting is kept unless its flag is given.`,
		Example: `  strata upstream update --app $APP --name web --server 10.0.0.3:8080 --server 10.0.0.4:8080
  strata upstream update --app $APP --name web --read-timeout 60s`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.UpdateUpstreamResponse, error) {
				cur, err := getApp(ctx, c, f.app)
				if err != nil {
					return nil, err
				}
				var u *configv1.Upstream
				for _, x := range cur.GetApp().GetUpstreams() {
					if x.GetName() == f.name {
						u = proto.Clone(x).(*configv1.Upstream)
					}
				}
				if u == nil {
					return nil, fmt.Errorf("--name: app %s has no upstream %q (see `strata upstream list --app %s`)", f.app, f.name, f.app)
				}
				if err := f.apply(cmd.Flags(), u, false); err != nil {
					return nil, err
				}
				return c.UpdateUpstream(ctx, &configv1.UpdateUpstreamRequest{AppId: f.app, ExpectedVersion: f.ev.OrRead(cmd, cur.GetVersion()), Upstream: u})
			}, func(w io.Writer, res *configv1.UpdateUpstreamResponse) error {
				return clientx.Line(w, "updated upstream %s (app version %d)", res.GetUpstream().GetName(), res.GetVersion())
			})
		},
	}
	f.register(cmd.Flags())
	_ = cmd.MarkFlagRequired("app")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func serverList(servers []*configv1.Server) string {
	parts := make([]string, len(servers))
	for i, s := range servers {
		parts[i] = s.GetAddress() + "=" + strconv.FormatUint(uint64(s.GetWeight()), 10)
		if s.GetBackup() {
			parts[i] += "(backup)"
		}
	}
	return strings.Join(parts, ",")
}

// upstreamServers is the server list, or "endpoints SET" for an upstream
// whose servers come from a set.
func upstreamServers(u *configv1.Upstream) string {
	if e := u.GetEndpoints(); e != "" {
		return "endpoints " + e
	}
	return serverList(u.GetServers())
}

// describeUpstream is one line about an upstream.
func describeUpstream(u *configv1.Upstream) string {
	s := fmt.Sprintf("%s  %s  %s", u.GetName(), policyName(u.GetPolicy()), upstreamServers(u))
	if u.GetTls().GetEnabled() {
		s += "  tls"
	}
	if h := u.GetHealthCheck(); h.GetEnabled() {
		s += "  health " + cmp.Or(h.GetPath(), "tcp")
	}
	return s
}
