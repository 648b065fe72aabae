package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
)

// newAppPartListCmd is `strata KIND list --app APP`: part of the app's working
// copy (its upstreams or rules) as a table, or with -o json as an App holding
// only that part.
func newAppPartListCmd(g *globals, short string, part func(*configv1.App) (*configv1.App, [][]string)) *cobra.Command {
	var app string
	cmd := &cobra.Command{
		Use:   "list --app APP",
		Short: short,
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := call(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.GetApp, &configv1.GetAppRequest{AppId: app}))
			if err != nil {
				return err
			}
			msg, rows := part(res.GetApp())
			return clientx.Emit(g, msg, func(w io.Writer) error { return clientx.Table(w, rows) })
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "app id or name (required)")
	_ = cmd.MarkFlagRequired("app")
	return cmd
}

// newAppObjectDeleteCmd is `strata KIND delete --app APP --name N` for the
// objects of an app (upstreams, rules): del sends the request.
func newAppObjectDeleteCmd[R interface {
	proto.Message
	GetVersion() uint64
}](g *globals, kind, short string, del func(ctx context.Context, c configv1connect.ConfigServiceClient, app, name string, ev *uint64) (R, error)) *cobra.Command {
	var app, name string
	var ev clientx.ExpectVersion
	cmd := &cobra.Command{
		Use:   "delete --app APP --name N",
		Short: short,
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (R, error) {
				return del(ctx, c, app, name, ev.Get(cmd))
			}, func(w io.Writer, res R) error {
				return clientx.Line(w, "deleted %s %s (app version %d)", kind, name, res.GetVersion())
			})
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "app id or name (required)")
	cmd.Flags().StringVar(&name, "name", "", kind+" name or id (required)")
	ev.Register(cmd.Flags(), "app")
	_ = cmd.MarkFlagRequired("app")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

// getApp reads an app's working copy (for commands that modify part of it).
func getApp(ctx context.Context, c configv1connect.ConfigServiceClient, id string) (*configv1.GetAppResponse, error) {
	return c.GetApp(ctx, &configv1.GetAppRequest{AppId: id})
}

// appFlags are the settings of an app, shared by create and update.
type appFlags struct {
	name       string
	domains    []string
	httpPorts  []uint
	httpsPorts []uint
	partitions []string
	labels     []string

	httpsRedirect bool
	hstsMaxAge    uint32
	hstsSubdoms   bool
	hstsPreload   bool

	role   roleFlags
	limits limitFlags
}

func (f *appFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "app name")
	fs.StringArrayVar(&f.domains, "domain", nil, "domain the app serves, exact or *.wildcard (repeatable)")
	fs.UintSliceVar(&f.httpPorts, "http-port", nil, "HTTP port (repeatable; default 80 when no port is given)")
	fs.UintSliceVar(&f.httpsPorts, "https-port", nil, "HTTPS port (repeatable)")
	fs.StringArrayVar(&f.partitions, "partition", nil, "partition id or name (repeatable; default: default)")
	fs.StringArrayVar(&f.labels, "label", nil, "label KEY=VALUE (repeatable)")
	fs.BoolVar(&f.httpsRedirect, "https-redirect", false, "redirect plain HTTP to HTTPS (301, 308 for other methods than GET/HEAD); --https-redirect=false turns it off")
	fs.Uint32Var(&f.hstsMaxAge, "hsts-max-age", 0, "send Strict-Transport-Security with this max-age in seconds on HTTPS responses (e.g. 31536000; 0 = no HSTS)")
	fs.BoolVar(&f.hstsSubdoms, "hsts-include-subdomains", false, "HSTS: add includeSubDomains")
	fs.BoolVar(&f.hstsPreload, "hsts-preload", false, "HSTS: add preload (needs --hsts-include-subdomains and a max-age of at least 31536000)")
	f.role.register(fs)
	f.limits.register(fs)
}

// hstsFlags are the flags that set HSTS.
var hstsFlags = []string{"hsts-max-age", "hsts-include-subdomains", "hsts-preload"}

// hsts returns the HSTS setting the flags give over cur (the app's current
// one, nil for none): flags not given keep cur's values; --hsts-max-age 0
// turns HSTS off. Without a max-age the server refuses it, naming
// hsts.max_age_seconds.
func (f *appFlags) hsts(fs *pflag.FlagSet, cur *configv1.Hsts) *configv1.Hsts {
	if !slices.ContainsFunc(hstsFlags, fs.Changed) {
		return cur
	}
	if fs.Changed("hsts-max-age") && f.hstsMaxAge == 0 {
		return nil
	}
	h := &configv1.Hsts{}
	if cur != nil {
		h = proto.Clone(cur).(*configv1.Hsts)
	}
	if fs.Changed("hsts-max-age") {
		h.MaxAgeSeconds = f.hstsMaxAge
	}
	if fs.Changed("hsts-include-subdomains") {
		h.IncludeSubdomains = f.hstsSubdoms
	}
	if fs.Changed("hsts-preload") {
		h.Preload = f.hstsPreload
	}
	return h
}

// parsed returns the checked port and label flags.
func (f *appFlags) parsed() (ports, tlsPorts []uint32, labels map[string]string, err error) {
	if ports, err = parsePorts("--http-port", f.httpPorts); err != nil {
		return nil, nil, nil, err
	}
	if tlsPorts, err = parsePorts("--https-port", f.httpsPorts); err != nil {
		return nil, nil, nil, err
	}
	labels, err = parseKVs("--label", f.labels)
	return ports, tlsPorts, labels, err
}

func newAppCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "app", Short: "Applications: HTTP(S) apps (domains, upstreams, rules), stream apps (TCP/UDP, TLS, SNI proxy) and forward proxies (SOCKS5, HTTP)"}
	cmd.AddCommand(newAppCreateCmd(g), newAppListCmd(g), newAppGetCmd(g), newAppUpdateCmd(g), newAppDeleteCmd(g), newAppDiffCmd(g))
	return cmd
}

func newAppCreateCmd(g *globals) *cobra.Command {
	var f appFlags
	cmd := &cobra.Command{
		Use:   "create --name N --domain D [--domain D2] [--http-port 80] [--https-port 443] [--https-redirect] [--hsts-max-age S] [--partition P] [--label k=v] | --stream-listen tcp/PORT ... | --socks5-port P --credential U:P ...",
		Short: "Create an app (prints its id): HTTP by default, a stream app with --stream-listen, a forward proxy with --socks5-port or --http-proxy-port",
		Example: `  strata app create --name shop --domain shop.example.com --domain www.shop.example.com
  APP=$(strata app create --name api --domain api.example.com --https-port 443 --label team=core)
  strata app create --name www --domain www.example.com --http-port 80 --https-port 443 --https-redirect --hsts-max-age 31536000
  strata app create --name upload --domain up.example.com --max-body 10MiB --max-header 16KiB --max-conns-per-ip 100 --tls-handshake-rate 20/s
  # TCP and UDP proxy (then: strata upstream create --app echo --name echo --server 10.0.0.5:7 --health-check)
  strata app create --name echo --stream-listen tcp/9000 --stream-listen udp/9053 --stream-upstream echo --allow 10.0.0.0/8 --conn-rate 50
  # SNI proxy: route TLS by server name without terminating it
  strata app create --name sni --stream-listen tcp/8443 --tls-mode passthrough --sni-route a.example.com=a --sni-route '*.b.example.com=b'
  # SOCKS5 and HTTP forward proxy with passwords (hashed by the service)
  strata app create --name egress --socks5-port 1080 --http-proxy-port 3128 --credential alice:s3cret --egress-allow-port 443`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			httpPorts, httpsPorts, labels, err := f.parsed()
			if err != nil {
				return err
			}
			stream, forward, err := f.role.role(cmd.Flags(), "", nil, nil)
			if err != nil {
				return err
			}
			var limits *configv1.AppLimits
			if stream == nil && forward == nil {
				if limits, err = f.limits.limits(cmd.Flags(), f.role.maxConnsPerIP, nil); err != nil {
					return err
				}
			} else if anyChanged(cmd.Flags(), limitFlagNames) {
				return usagef("--max-body, --max-header and --tls-handshake-rate are for HTTP apps")
			}
			req := &configv1.CreateAppRequest{
				Name: f.name, Domains: f.domains, HttpPorts: httpPorts, HttpsPorts: httpsPorts,
				Partitions: f.partitions, Labels: labels,
				HttpsRedirect: f.httpsRedirect, Hsts: f.hsts(cmd.Flags(), nil), Limits: limits,
			}
			switch {
			case stream != nil:
				req.Role = &configv1.CreateAppRequest_Stream{Stream: stream}
			case forward != nil:
				req.Role = &configv1.CreateAppRequest_ForwardProxy{ForwardProxy: forward}
			}
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.CreateApp, req), func(w io.Writer, res *configv1.CreateAppResponse) error {
				return clientx.Line(w, "%s", res.GetApp().GetId())
			})
		},
	}
	f.register(cmd.Flags())
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newAppListCmd(g *globals) *cobra.Command {
	return clientx.ListCommand(&cobra.Command{
		Use:   "list",
		Short: "List apps with the releases stable and staging nodes run, and pending changes",
		Args:  args(),
	}, func(cmd *cobra.Command, lf *clientx.ListFlags) error {
		return show(cmd, g, clientx.Pages(configv1connect.ConfigServiceClient.ListApps, &configv1.ListAppsRequest{}, lf), func(w io.Writer, res *configv1.ListAppsResponse) error {
			rows := [][]string{{"ID", "NAME", "ROLE", "DOMAINS", "STABLE", "STAGING", "PENDING", "VERSION"}}
			for _, a := range res.GetApps() {
				if a.GetDeleted() {
					continue
				}
				rows = append(rows, []string{
					a.GetId(), a.GetName(), clientx.OrDash(a.GetRole()), strings.Join(a.GetDomains(), ","),
					releaseNumber(a.GetStableRelease()), releaseNumber(a.GetStagingRelease()),
					strconv.FormatUint(uint64(a.GetPendingChanges()), 10),
					strconv.FormatUint(a.GetVersion(), 10),
				})
			}
			return clientx.Table(w, rows)
		})
	})
}

// releaseNumber prints a release number, "-" for none.
func releaseNumber(n uint64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatUint(n, 10)
}

func newAppGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get APP",
		Short: "Show an app's working copy (with pending changes)",
		Long:  "Show an app's working copy. With -o json the response also holds the released content (\"released\").",
		Args:  args("APP"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.GetApp, &configv1.GetAppRequest{AppId: a[0]}), func(w io.Writer, res *configv1.GetAppResponse) error { return describeApp(w, res) })
		},
	}
}

func newAppUpdateCmd(g *globals) *cobra.Command {
	var f appFlags
	var ev clientx.ExpectVersion
	cmd := &cobra.Command{
		Use:   "update APP [--name N] [--domain D ...] [--http-port P ...] [--https-port P ...] [--https-redirect[=false]] [--hsts-max-age S] [--partition P ...] [--label k=v ...]",
		Short: "Change an app's settings; each given list replaces the current one",
		Example: `  strata app update $APP --domain shop.example.com --domain shop.example.org
  strata app update $APP --https-port 443 --expect-version 12
  strata app update $APP --https-redirect                     # plain HTTP -> HTTPS, like nginx's return 301 https://$host$request_uri
  strata app update $APP --hsts-max-age 31536000 --hsts-include-subdomains
  strata app update $APP --https-redirect=false --hsts-max-age 0
  strata app update $APP --max-body 10MiB --max-header 16KiB --max-conns-per-ip 100 --tls-handshake-rate 20/s
  strata app update $APP --max-body 0                          # back to the node's limit
  strata app update echo --stream-listen tcp/9000 --stream-listen tcp/9001   # a stream app: its role flags
  strata app update egress --credential alice --credential bob:n3w          # alice keeps her password`,
		Args: args("APP"),
		RunE: func(cmd *cobra.Command, a []string) error {
			flags := cmd.Flags()
			if !slices.ContainsFunc(slices.Concat([]string{"name", "domain", "http-port", "https-port", "partition", "label", "https-redirect"}, hstsFlags, roleFlagNames(), limitFlagNames), flags.Changed) {
				return usagef("nothing to change: give at least one of --name, --domain, --http-port, --https-port, --partition, --label, --https-redirect, --hsts-max-age, --max-body, --max-header, --max-conns-per-ip, --tls-handshake-rate, or the flags of a stream or forward-proxy app")
			}
			httpPorts, httpsPorts, labels, err := f.parsed()
			if err != nil {
				return err
			}
			return show(cmd, g, func(ctx context.Context, c configv1connect.ConfigServiceClient) (*configv1.UpdateAppResponse, error) {
				cur, err := getApp(ctx, c, a[0])
				if err != nil {
					return nil, err
				}
				app := cur.GetApp()
				req := &configv1.UpdateAppRequest{
					AppId: a[0], ExpectedVersion: ev.OrRead(cmd, cur.GetVersion()),
					Name: app.GetName(), Domains: app.GetDomains(), HttpPorts: app.GetHttpPorts(),
					HttpsPorts: app.GetHttpsPorts(), Partitions: app.GetPartitionIds(), Labels: app.GetLabels(),
					HttpsRedirect: app.GetHttpsRedirect(), Hsts: f.hsts(flags, app.GetHsts()),
				}
				if flags.Changed("https-redirect") {
					req.HttpsRedirect = f.httpsRedirect
				}
				if flags.Changed("name") {
					req.Name = f.name
				}
				if flags.Changed("domain") {
					req.Domains = f.domains
				}
				if flags.Changed("http-port") {
					req.HttpPorts = httpPorts
				}
				if flags.Changed("https-port") {
					req.HttpsPorts = httpsPorts
				}
				if flags.Changed("partition") {
					req.Partitions = f.partitions
				}
				if flags.Changed("label") {
					req.Labels = labels
				}
				stream, forward, err := f.role.role(flags, appRole(app), app.GetStream(), app.GetForwardProxy())
				if err != nil {
					return nil, err
				}
				switch {
				case stream != nil:
					req.Role = &configv1.UpdateAppRequest_Stream{Stream: stream}
				case forward != nil:
					req.Role = &configv1.UpdateAppRequest_ForwardProxy{ForwardProxy: forward}
				default:
					if req.Limits, err = f.limits.limits(flags, f.role.maxConnsPerIP, app.GetLimits()); err != nil {
						return nil, err
					}
				}
				if req.Role != nil && anyChanged(flags, limitFlagNames) {
					return nil, usagef("--max-body, --max-header and --tls-handshake-rate are for HTTP apps")
				}
				return c.UpdateApp(ctx, req)
			}, func(w io.Writer, res *configv1.UpdateAppResponse) error {
				return clientx.Line(w, "updated app %s (version %d)", res.GetApp().GetId(), res.GetVersion())
			})
		},
	}
	f.register(cmd.Flags())
	ev.Register(cmd.Flags(), "app")
	return cmd
}

func newAppDeleteCmd(g *globals) *cobra.Command {
	var ev clientx.ExpectVersion
	cmd := &cobra.Command{
		Use:   "delete APP",
		Short: "Delete an app (takes effect with the next release)",
		Args:  args("APP"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.DeleteApp, &configv1.DeleteAppRequest{AppId: a[0], ExpectedVersion: ev.Get(cmd)}), func(w io.Writer, res *configv1.DeleteAppResponse) error {
				return clientx.Line(w, "deleted app %s (version %d)", a[0], res.GetVersion())
			})
		},
	}
	ev.Register(cmd.Flags(), "app")
	return cmd
}

func newAppDiffCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "diff APP",
		Short: "Show what the next release would change, and the pending changes",
		Args:  args("APP"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return show(cmd, g, clientx.RPC(configv1connect.ConfigServiceClient.DiffApp, &configv1.DiffAppRequest{AppId: a[0]}), func(w io.Writer, res *configv1.DiffAppResponse) error {
				if len(res.GetChanges()) == 0 && strings.TrimSpace(res.GetText()) == "" {
					return clientx.Line(w, "no pending changes")
				}
				text := res.GetText()
				if text != "" && !strings.HasSuffix(text, "\n") {
					text += "\n"
				}
				fmt.Fprint(w, text)
				fmt.Fprintf(w, "\n%d pending change(s):\n", len(res.GetChanges()))
				rows := make([][]string, 0, len(res.GetChanges()))
				for _, ch := range res.GetChanges() {
					rows = append(rows, []string{"  #" + strconv.FormatUint(ch.GetPosition(), 10), clientx.FmtTime(ch.GetTime()), clientx.OrDash(ch.GetActor()), ch.GetType(), ch.GetSummary()})
				}
				return clientx.Table(w, rows)
			})
		},
	}
}

// describeApp prints an app for a human.
func describeApp(w io.Writer, res *configv1.GetAppResponse) error {
	app := res.GetApp()
	released := "never released"
	if res.GetLatestRelease() > 0 {
		released = fmt.Sprintf("release %d", res.GetLatestRelease())
	}
	rows := [][]string{
		{"id:", app.GetId()},
		{"name:", app.GetName()},
		{"role:", appRole(app)},
		{"domains:", strings.Join(app.GetDomains(), ", ")},
	}
	if appRole(app) == "http" {
		rows = append(rows, [][]string{
			{"http ports:", joinUints(app.GetHttpPorts())},
			{"https ports:", joinUints(app.GetHttpsPorts())},
		}...)
	}
	rows = append(rows, [][]string{
		{"partitions:", strings.Join(app.GetPartitionIds(), ", ")},
		{"labels:", joinLabels(app.GetLabels())},
	}...)
	if appRole(app) == "http" {
		rows = append(rows, [][]string{
			{"https redirect:", clientx.YesNo(app.GetHttpsRedirect())},
			{"hsts:", hstsText(app.GetHsts())},
		}...)
	}
	rows = append(rows, roleRows(app)...)
	rows = append(rows, [][]string{
		{"version:", strconv.FormatUint(res.GetVersion(), 10)},
		{"released:", fmt.Sprintf("%s, %d pending change(s)", released, res.GetPendingChanges())},
	}...)
	for i := range rows {
		rows[i][1] = clientx.OrDash(rows[i][1])
	}
	if err := clientx.Table(w, rows); err != nil {
		return err
	}
	if appRole(app) == "forward" {
		return nil // no upstreams, no rules
	}
	fmt.Fprintf(w, "upstreams (%d):\n", len(app.GetUpstreams()))
	for _, u := range app.GetUpstreams() {
		fmt.Fprintf(w, "  %s\n", describeUpstream(u))
	}
	if appRole(app) != "http" {
		return nil
	}
	fmt.Fprintf(w, "rules (%d):\n", len(app.GetRules()))
	for i, r := range app.GetRules() {
		fmt.Fprintf(w, "  %d. %s\n", i, describeRule(r))
	}
	return nil
}

func hstsText(h *configv1.Hsts) string {
	if h == nil {
		return "-"
	}
	v := fmt.Sprintf("max-age=%d", h.GetMaxAgeSeconds())
	if h.GetIncludeSubdomains() {
		v += "; includeSubDomains"
	}
	if h.GetPreload() {
		v += "; preload"
	}
	return v
}

func joinUints(v []uint32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatUint(uint64(x), 10)
	}
	return strings.Join(s, ", ")
}

func joinLabels(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = k + "=" + m[k]
	}
	return strings.Join(s, ", ")
}
